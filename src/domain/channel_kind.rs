//! The kinds of channel a thread or conversation runs on (WhatsApp, SMS,
//! email, …), stored by their lower-case names; an unknown stored name is an
//! error when read.

crate::text_enum! {
    /// A messaging channel kind: Recrubo's thread channel, Monica's contact
    /// field type. Stored as its lower-case name.
    pub enum ChannelKind {
        Whatsapp = "whatsapp",
        Sms = "sms",
        Phone = "phone",
        Email = "email",
        Messenger = "messenger",
        Instagram = "instagram",
        Telegram = "telegram",
        Facebook = "facebook",
        Twitter = "twitter",
        Linkedin = "linkedin",
        Webchat = "webchat",
        Other = "other",
    }
}

impl ChannelKind {
    /// Whether identifiers on this channel are phone numbers (E.164).
    pub fn uses_phone_numbers(self) -> bool {
        matches!(
            self,
            ChannelKind::Whatsapp | ChannelKind::Sms | ChannelKind::Phone
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for &kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChannelKind::parse("pigeon"), None);
    }
}

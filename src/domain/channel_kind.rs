//! The kinds of channel a thread or conversation runs on (WhatsApp, SMS,
//! email, …), stored by their lower-case names.

/// A messaging channel kind: Recrubo's thread channel, Monica's contact
/// field type. Stored as its lower-case name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    Whatsapp,
    Sms,
    Phone,
    Email,
    Messenger,
    Instagram,
    Telegram,
    Facebook,
    Twitter,
    Linkedin,
    Webchat,
    Other,
}

impl ChannelKind {
    const ALL: [ChannelKind; 12] = [
        ChannelKind::Whatsapp,
        ChannelKind::Sms,
        ChannelKind::Phone,
        ChannelKind::Email,
        ChannelKind::Messenger,
        ChannelKind::Instagram,
        ChannelKind::Telegram,
        ChannelKind::Facebook,
        ChannelKind::Twitter,
        ChannelKind::Linkedin,
        ChannelKind::Webchat,
        ChannelKind::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Whatsapp => "whatsapp",
            ChannelKind::Sms => "sms",
            ChannelKind::Phone => "phone",
            ChannelKind::Email => "email",
            ChannelKind::Messenger => "messenger",
            ChannelKind::Instagram => "instagram",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Facebook => "facebook",
            ChannelKind::Twitter => "twitter",
            ChannelKind::Linkedin => "linkedin",
            ChannelKind::Webchat => "webchat",
            ChannelKind::Other => "other",
        }
    }

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<ChannelKind> {
        ChannelKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }

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
        for kind in ChannelKind::ALL {
            assert_eq!(ChannelKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ChannelKind::parse("pigeon"), None);
    }
}

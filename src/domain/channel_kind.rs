//! The kinds of channel a thread or conversation runs on (WhatsApp, SMS,
//! email, …), stored by their lower-case names; an unknown stored name is an
//! error when read.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// A messaging channel kind: Recrubo's thread channel, Monica's contact
/// field type. Stored as its lower-case name.
#[derive(
    AsExpression, FromSqlRow, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
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

impl ToSql<Text, Pg> for ChannelKind {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for ChannelKind {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let name = <String as FromSql<Text, Pg>>::from_sql(value)?;
        ChannelKind::parse(&name).ok_or_else(|| format!("unknown channel kind {name:?}").into())
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

//! The kinds of message, stored by name in `messages.kind`. An unknown stored
//! name is an error when read, never silently taken for another kind.

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Text;
use serde::{Deserialize, Serialize};

/// What a message is.
#[derive(
    AsExpression,
    FromSqlRow,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
)]
#[diesel(sql_type = Text)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// Written by a person.
    #[default]
    Text,
    /// Written by the system, e.g. when a subscriber joins or leaves.
    Meta,
    /// A shipment's tracking changed.
    TrackingUpdate,
    /// A reminder of a pickup.
    PickupReminder,
}

impl MessageKind {
    const ALL: [MessageKind; 4] = [
        MessageKind::Text,
        MessageKind::Meta,
        MessageKind::TrackingUpdate,
        MessageKind::PickupReminder,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Meta => "meta",
            MessageKind::TrackingUpdate => "tracking_update",
            MessageKind::PickupReminder => "pickup_reminder",
        }
    }

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<MessageKind> {
        MessageKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

impl ToSql<Text, Pg> for MessageKind {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        <str as ToSql<Text, Pg>>::to_sql(self.as_str(), out)
    }
}

impl FromSql<Text, Pg> for MessageKind {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let name = <String as FromSql<Text, Pg>>::from_sql(value)?;
        MessageKind::parse(&name).ok_or_else(|| format!("unknown message kind {name:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for kind in MessageKind::ALL {
            assert_eq!(MessageKind::parse(kind.as_str()), Some(kind));
            let json = serde_json::to_string(&kind).expect("serialises");
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(MessageKind::parse("carrier_pigeon"), None);
        assert!(serde_json::from_str::<MessageKind>("\"carrier_pigeon\"").is_err());
    }
}

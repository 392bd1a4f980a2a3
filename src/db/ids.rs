//! Ids: the typed bigint keys rows join on (`ThreadId`, …), and the public
//! ids the API shows, opaque type-prefixed strings such as `ctc_4f9Qk2...`.
//!
//! It is unique within an organization, which lets a thread about a resource
//! take the predictable id `thrd_<resource id>`.

use std::fmt;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::BigInt;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};

/// Declares bigint key newtypes: stored and serialised as the bare number,
/// but a `ThreadId` cannot be passed where a `ContactId` is wanted.
macro_rules! typed_ids {
    ($($(#[$meta:meta])* $name:ident;)*) => {$(
        $(#[$meta])*
        #[derive(
            AsExpression, FromSqlRow, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq,
            PartialOrd, Ord, Hash,
        )]
        #[diesel(sql_type = BigInt)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl ToSql<BigInt, Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
                <i64 as ToSql<BigInt, Pg>>::to_sql(&self.0, out)
            }
        }

        impl FromSql<BigInt, Pg> for $name {
            fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
                <i64 as FromSql<BigInt, Pg>>::from_sql(value).map($name)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

typed_ids! {
    /// The key of an organization (a tenant).
    OrganizationId;
    /// The key of a user.
    UserId;
    /// The key of an api key.
    ApiKeyId;
    /// The key of a contact.
    ContactId;
    /// The key of a thread.
    ThreadId;
    /// The key of a thread subscriber.
    SubscriberId;
    /// The key of a message (of a thread or a conversation).
    MessageId;
    /// The key of a conversation.
    ConversationId;
    /// The key of a channel.
    ChannelId;
    /// The key of a webhook.
    WebhookId;
    /// The key of a webhook delivery.
    WebhookDeliveryId;
}

/// Length of the random part of a generated id (about 95 bits).
const RANDOM_LEN: usize = 16;

/// The kinds of object that have a public id, by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Organization,
    User,
    ApiKey,
    Contact,
    Thread,
    Subscriber,
    Message,
    Conversation,
    Channel,
    /// A webhook endpoint.
    Webhook,
    /// One delivery of an event to a webhook.
    WebhookDelivery,
    /// The reactions with one emoji on a message. Its ids are derived from
    /// the message id and the emoji (see `messages::ReactionGroup`), not
    /// generated.
    ReactionGroup,
}

impl IdKind {
    const ALL: [IdKind; 12] = [
        IdKind::Organization,
        IdKind::User,
        IdKind::ApiKey,
        IdKind::Contact,
        IdKind::Thread,
        IdKind::Subscriber,
        IdKind::Message,
        IdKind::Conversation,
        IdKind::Channel,
        IdKind::Webhook,
        IdKind::WebhookDelivery,
        IdKind::ReactionGroup,
    ];

    /// The prefix before the underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            IdKind::Organization => "org",
            IdKind::User => "usr",
            IdKind::ApiKey => "key",
            IdKind::Contact => "ctc",
            IdKind::Thread => "thrd",
            IdKind::Subscriber => "sub",
            IdKind::Message => "msg",
            IdKind::Conversation => "conv",
            IdKind::Channel => "chan",
            IdKind::Webhook => "whk",
            IdKind::WebhookDelivery => "whd",
            IdKind::ReactionGroup => "rxn",
        }
    }

    /// A new random id of this kind.
    pub fn generate(self) -> String {
        let random: String = rand::rng()
            .sample_iter(&Alphanumeric)
            .take(RANDOM_LEN)
            .map(char::from)
            .collect();
        format!("{}_{random}", self.prefix())
    }

    /// The kind an id claims by its prefix, if it is one of ours.
    pub fn of(id: &str) -> Option<IdKind> {
        let (prefix, rest) = id.split_once('_')?;
        if rest.is_empty() {
            return None;
        }
        IdKind::ALL.into_iter().find(|kind| kind.prefix() == prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_round_trip_their_kind() {
        for kind in IdKind::ALL {
            let id = kind.generate();
            assert_eq!(IdKind::of(&id), Some(kind));
            assert_eq!(id.len(), kind.prefix().len() + 1 + RANDOM_LEN);
        }
    }

    #[test]
    fn foreign_ids_have_no_kind() {
        assert_eq!(IdKind::of("ctc_"), None);
        assert_eq!(IdKind::of("nope_123"), None);
        assert_eq!(IdKind::of("123"), None);
    }
}

//! What stored and ephemeral events carry: versioned snapshots of the objects
//! they are about, decoupled from the diesel rows so the tables can change.
//!
//! A snapshot keeps the row's field names (payloads written before snapshots
//! existed decode as version 1), every field that may be added later has a
//! default, and a payload that fails to decode is an error the caller logs.

use crate::db::ids::{
    ApiKeyId, ChannelId, ContactId, ConversationId, MessageId, OrganizationId, SubscriberId,
    ThreadId, UserId,
};
use crate::domain::channel_kind::ChannelKind;
use crate::domain::messages::kind::MessageKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::conversations::Conversation;
use crate::domain::messages::Message;
use crate::domain::threads::{Subscriber, Thread};

/// Declares a snapshot type with these fields (the row's names; give every
/// field that may be added later a `#[serde(default)]`) and the field-by-field
/// conversions between it and the row it mirrors. A field the row gains is a
/// compile error here until the snapshot decides what to do with it.
macro_rules! snapshot {
    ($(#[$meta:meta])* $name:ident <=> $row:ident { $($(#[$attr:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
        pub struct $name {
            $($(#[$attr])* pub $field: $ty,)*
        }

        impl From<$row> for $name {
            fn from(row: $row) -> Self {
                $name { $($field: row.$field,)* }
            }
        }

        impl From<&$row> for $name {
            fn from(row: &$row) -> Self {
                row.clone().into()
            }
        }

        impl From<$name> for $row {
            fn from(snapshot: $name) -> Self {
                $row { $($field: snapshot.$field,)* }
            }
        }
    };
}

/// Declares `EventPayload` constructors that carry one snapshot.
macro_rules! carrying {
    ($($(#[$meta:meta])* $fn:ident($row:ident) => $field:ident;)*) => {
        $(
            $(#[$meta])*
            pub fn $fn(row: &$row) -> Self {
                EventPayload { $field: Some(row.into()), ..EventPayload::default() }
            }
        )*
    };
}

/// The payload version written today. Payloads stored without one are version 1.
pub const PAYLOAD_VERSION: u32 = 1;

fn legacy_version() -> u32 {
    1
}

/// What an event carries: public ids, and snapshots of the objects it is
/// about as they were when it happened, so subscribers need no lookups.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct EventPayload {
    /// The payload's shape; see `PAYLOAD_VERSION`.
    #[serde(default = "legacy_version")]
    pub version: u32,
    /// The thread the event is about.
    #[serde(default)]
    pub thread_public_id: Option<String>,
    /// The conversation the event is about.
    #[serde(default)]
    pub conversation_public_id: Option<String>,
    /// The channel a message was published to.
    #[serde(default)]
    pub channel_public_id: Option<String>,
    /// The message concerned when no snapshot is carried (deletions).
    #[serde(default)]
    pub message_public_id: Option<String>,
    /// The thread after a thread change.
    #[serde(default)]
    pub thread: Option<ThreadSnapshot>,
    /// The conversation after a conversation change.
    #[serde(default)]
    pub conversation: Option<ConversationSnapshot>,
    /// The message after a message change.
    #[serde(default)]
    pub message: Option<MessageSnapshot>,
    /// Who joined, left, read, reacted or is typing.
    #[serde(default)]
    pub subscriber: Option<SubscriberSnapshot>,
    /// The emoji of a reaction.
    #[serde(default)]
    pub emoji: Option<String>,
    /// Whether typing started or stopped.
    #[serde(default)]
    pub is_typing: Option<bool>,
}

impl Default for EventPayload {
    fn default() -> Self {
        EventPayload {
            version: PAYLOAD_VERSION,
            thread_public_id: None,
            conversation_public_id: None,
            channel_public_id: None,
            message_public_id: None,
            thread: None,
            conversation: None,
            message: None,
            subscriber: None,
            emoji: None,
            is_typing: None,
        }
    }
}

impl EventPayload {
    /// Decodes a stored payload.
    pub fn decode(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        serde_json::from_value(value)
    }

    /// The payload as stored.
    pub fn encode(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::to_value(self)
    }

    carrying! {
        /// A payload carrying a thread as it is now.
        with_thread(Thread) => thread;
        /// A payload carrying a message as it is now.
        with_message(Message) => message;
        /// A payload carrying a subscriber as it is now.
        with_subscriber(Subscriber) => subscriber;
        /// A payload carrying a conversation as it is now.
        with_conversation(Conversation) => conversation;
    }
}

snapshot! {
    /// A thread as an event saw it.
    ThreadSnapshot <=> Thread {
        id: ThreadId,
        organization_id: OrganizationId,
        public_id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        subject: Option<String>,
        #[serde(default)]
        original_sender: Option<String>,
        #[serde(default)]
        channel: Option<ChannelKind>,
        #[serde(default)]
        identifier: Option<String>,
        #[serde(default)]
        chatbot_paused: bool,
        #[serde(default)]
        is_resolved: bool,
        #[serde(default)]
        resource_id: Option<String>,
        #[serde(default)]
        location_id: Option<String>,
        #[serde(default)]
        contact_id: Option<ContactId>,
        #[serde(default)]
        last_message_at: Option<DateTime<Utc>>,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

snapshot! {
    /// A subscriber (a member of a thread, with its read state) as an event saw it.
    SubscriberSnapshot <=> Subscriber {
        id: SubscriberId,
        organization_id: OrganizationId,
        public_id: String,
        thread_id: ThreadId,
        #[serde(default)]
        user_id: Option<UserId>,
        #[serde(default)]
        api_key_id: Option<ApiKeyId>,
        #[serde(default)]
        contact_id: Option<ContactId>,
        #[serde(default)]
        viewed_at: Option<DateTime<Utc>>,
        #[serde(default)]
        unread_count: i32,
        #[serde(default)]
        is_archived: bool,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

snapshot! {
    /// A message (of a thread or a conversation) as an event saw it.
    MessageSnapshot <=> Message {
        id: MessageId,
        organization_id: OrganizationId,
        public_id: String,
        #[serde(default)]
        thread_id: Option<ThreadId>,
        #[serde(default)]
        conversation_id: Option<ConversationId>,
        kind: MessageKind,
        #[serde(default)]
        body: String,
        #[serde(default)]
        event: Option<String>,
        #[serde(default)]
        author_subscriber_id: Option<SubscriberId>,
        #[serde(default)]
        media_urls: Vec<Option<String>>,
        #[serde(default)]
        resource_id: Option<String>,
        #[serde(default)]
        client_message_id: Option<String>,
        #[serde(default)]
        written_at: Option<DateTime<Utc>>,
        #[serde(default)]
        written_by_me: Option<bool>,
        created_at: DateTime<Utc>,
        #[serde(default)]
        edited_at: Option<DateTime<Utc>>,
        #[serde(default)]
        channel_id: Option<ChannelId>,
        #[serde(default)]
        publish_to_channel_at: Option<DateTime<Utc>>,
        #[serde(default)]
        published_at: Option<DateTime<Utc>>,
        #[serde(default)]
        channel_position: Option<i64>,
    }
}

snapshot! {
    /// A conversation as an event saw it.
    ConversationSnapshot <=> Conversation {
        id: ConversationId,
        organization_id: OrganizationId,
        public_id: String,
        contact_id: ContactId,
        channel: ChannelKind,
        happened_at: NaiveDate,
        created_at: DateTime<Utc>,
        updated_at: DateTime<Utc>,
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

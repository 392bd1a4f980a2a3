//! What stored and ephemeral events carry: versioned snapshots of the objects
//! they are about, decoupled from the diesel rows so the tables can change.
//!
//! A snapshot keeps the row's field names (payloads written before snapshots
//! existed decode as version 1), every field that may be added later has a
//! default, and a payload that fails to decode is an error the caller logs.

use crate::domain::channel_kind::ChannelKind;
use crate::domain::messages::kind::MessageKind;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::conversations::Conversation;
use crate::domain::messages::Message;
use crate::domain::threads::{Subscriber, Thread};

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

    /// A payload carrying a thread as it is now.
    pub fn with_thread(thread: &Thread) -> Self {
        EventPayload {
            thread: Some(thread.into()),
            ..EventPayload::default()
        }
    }

    /// A payload carrying a message as it is now.
    pub fn with_message(message: &Message) -> Self {
        EventPayload {
            message: Some(message.into()),
            ..EventPayload::default()
        }
    }

    /// A payload carrying a subscriber as it is now.
    pub fn with_subscriber(subscriber: &Subscriber) -> Self {
        EventPayload {
            subscriber: Some(subscriber.into()),
            ..EventPayload::default()
        }
    }

    /// A payload carrying a conversation as it is now.
    pub fn with_conversation(conversation: &Conversation) -> Self {
        EventPayload {
            conversation: Some(conversation.into()),
            ..EventPayload::default()
        }
    }
}

/// A thread as an event saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ThreadSnapshot {
    pub id: i64,
    pub organization_id: i64,
    pub public_id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub original_sender: Option<String>,
    #[serde(default)]
    pub channel: Option<ChannelKind>,
    #[serde(default)]
    pub identifier: Option<String>,
    #[serde(default)]
    pub chatbot_paused: bool,
    #[serde(default)]
    pub is_resolved: bool,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub location_id: Option<String>,
    #[serde(default)]
    pub contact_id: Option<i64>,
    #[serde(default)]
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Thread> for ThreadSnapshot {
    fn from(t: &Thread) -> Self {
        ThreadSnapshot {
            id: t.id,
            organization_id: t.organization_id,
            public_id: t.public_id.clone(),
            name: t.name.clone(),
            subject: t.subject.clone(),
            original_sender: t.original_sender.clone(),
            channel: t.channel,
            identifier: t.identifier.clone(),
            chatbot_paused: t.chatbot_paused,
            is_resolved: t.is_resolved,
            resource_id: t.resource_id.clone(),
            location_id: t.location_id.clone(),
            contact_id: t.contact_id,
            last_message_at: t.last_message_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

impl From<ThreadSnapshot> for Thread {
    fn from(t: ThreadSnapshot) -> Self {
        Thread {
            id: t.id,
            organization_id: t.organization_id,
            public_id: t.public_id,
            name: t.name,
            subject: t.subject,
            original_sender: t.original_sender,
            channel: t.channel,
            identifier: t.identifier,
            chatbot_paused: t.chatbot_paused,
            is_resolved: t.is_resolved,
            resource_id: t.resource_id,
            location_id: t.location_id,
            contact_id: t.contact_id,
            last_message_at: t.last_message_at,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// A subscriber (a member of a thread, with its read state) as an event saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct SubscriberSnapshot {
    pub id: i64,
    pub organization_id: i64,
    pub public_id: String,
    pub thread_id: i64,
    #[serde(default)]
    pub user_id: Option<i64>,
    #[serde(default)]
    pub api_key_id: Option<i64>,
    #[serde(default)]
    pub contact_id: Option<i64>,
    #[serde(default)]
    pub viewed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub unread_count: i32,
    #[serde(default)]
    pub is_archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Subscriber> for SubscriberSnapshot {
    fn from(s: &Subscriber) -> Self {
        SubscriberSnapshot {
            id: s.id,
            organization_id: s.organization_id,
            public_id: s.public_id.clone(),
            thread_id: s.thread_id,
            user_id: s.user_id,
            api_key_id: s.api_key_id,
            contact_id: s.contact_id,
            viewed_at: s.viewed_at,
            unread_count: s.unread_count,
            is_archived: s.is_archived,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

impl From<SubscriberSnapshot> for Subscriber {
    fn from(s: SubscriberSnapshot) -> Self {
        Subscriber {
            id: s.id,
            organization_id: s.organization_id,
            public_id: s.public_id,
            thread_id: s.thread_id,
            user_id: s.user_id,
            api_key_id: s.api_key_id,
            contact_id: s.contact_id,
            viewed_at: s.viewed_at,
            unread_count: s.unread_count,
            is_archived: s.is_archived,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// A message (of a thread or a conversation) as an event saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct MessageSnapshot {
    pub id: i64,
    pub organization_id: i64,
    pub public_id: String,
    #[serde(default)]
    pub thread_id: Option<i64>,
    #[serde(default)]
    pub conversation_id: Option<i64>,
    pub kind: MessageKind,
    #[serde(default)]
    pub body: String,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub author_subscriber_id: Option<i64>,
    #[serde(default)]
    pub media_urls: Vec<Option<String>>,
    #[serde(default)]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub client_message_id: Option<String>,
    #[serde(default)]
    pub written_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub written_by_me: Option<bool>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub channel_id: Option<i64>,
    #[serde(default)]
    pub publish_to_channel_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub published_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub channel_position: Option<i64>,
}

impl From<&Message> for MessageSnapshot {
    fn from(m: &Message) -> Self {
        MessageSnapshot {
            id: m.id,
            organization_id: m.organization_id,
            public_id: m.public_id.clone(),
            thread_id: m.thread_id,
            conversation_id: m.conversation_id,
            kind: m.kind,
            body: m.body.clone(),
            event: m.event.clone(),
            author_subscriber_id: m.author_subscriber_id,
            media_urls: m.media_urls.clone(),
            resource_id: m.resource_id.clone(),
            client_message_id: m.client_message_id.clone(),
            written_at: m.written_at,
            written_by_me: m.written_by_me,
            created_at: m.created_at,
            edited_at: m.edited_at,
            channel_id: m.channel_id,
            publish_to_channel_at: m.publish_to_channel_at,
            published_at: m.published_at,
            channel_position: m.channel_position,
        }
    }
}

impl From<MessageSnapshot> for Message {
    fn from(m: MessageSnapshot) -> Self {
        Message {
            id: m.id,
            organization_id: m.organization_id,
            public_id: m.public_id,
            thread_id: m.thread_id,
            conversation_id: m.conversation_id,
            kind: m.kind,
            body: m.body,
            event: m.event,
            author_subscriber_id: m.author_subscriber_id,
            media_urls: m.media_urls,
            resource_id: m.resource_id,
            client_message_id: m.client_message_id,
            written_at: m.written_at,
            written_by_me: m.written_by_me,
            created_at: m.created_at,
            edited_at: m.edited_at,
            channel_id: m.channel_id,
            publish_to_channel_at: m.publish_to_channel_at,
            published_at: m.published_at,
            channel_position: m.channel_position,
        }
    }
}

/// A conversation as an event saw it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ConversationSnapshot {
    pub id: i64,
    pub organization_id: i64,
    pub public_id: String,
    pub contact_id: i64,
    pub channel: ChannelKind,
    pub happened_at: NaiveDate,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Conversation> for ConversationSnapshot {
    fn from(c: &Conversation) -> Self {
        ConversationSnapshot {
            id: c.id,
            organization_id: c.organization_id,
            public_id: c.public_id.clone(),
            contact_id: c.contact_id,
            channel: c.channel,
            happened_at: c.happened_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

impl From<ConversationSnapshot> for Conversation {
    fn from(c: ConversationSnapshot) -> Self {
        Conversation {
            id: c.id,
            organization_id: c.organization_id,
            public_id: c.public_id,
            contact_id: c.contact_id,
            channel: c.channel,
            happened_at: c.happened_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[cfg(test)]
#[path = "payload_tests.rs"]
mod tests;

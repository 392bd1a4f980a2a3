//! The GraphQL faces of domain enums. The domain keeps its enums free of
//! GraphQL; each is mirrored here (`remote`), with conversions both ways.

use async_graphql::Enum;

use crate::domain;

/// A messaging channel kind: Recrubo's thread channel, Monica's contact
/// field type. Stored as its lower-case name.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[graphql(remote = "domain::channel_kind::ChannelKind")]
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

/// What happened.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::events::model::EventKind")]
pub enum EventKind {
    MessageAdded,
    MessageEdited,
    MessageDeleted,
    ReactionAdded,
    ReactionRemoved,
    ThreadCreated,
    ThreadUpdated,
    ThreadDeleted,
    SubscriberJoined,
    SubscriberLeft,
    /// A subscriber marked the thread read or unread.
    ReadReceipt,
    /// Ephemeral: someone started or stopped typing.
    Typing,
    ConversationCreated,
    ConversationUpdated,
    ConversationDeleted,
    /// A thread message went out to its channel (now, or at its scheduled time).
    MessagePublished,
}

impl ChannelKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        domain::channel_kind::ChannelKind::from(self).as_str()
    }

    /// The kind with this stored name.
    pub fn parse(name: &str) -> Option<ChannelKind> {
        domain::channel_kind::ChannelKind::parse(name).map(ChannelKind::from)
    }

    /// Whether identifiers on this channel are phone numbers (E.164).
    pub fn uses_phone_numbers(self) -> bool {
        domain::channel_kind::ChannelKind::from(self).uses_phone_numbers()
    }
}

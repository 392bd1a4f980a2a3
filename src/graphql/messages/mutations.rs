//! The message mutations: send (idempotent by clientMessageId), edit (the
//! author only), delete, reactions. Each is one transaction.

use super::*;

/// Input of `sendMessage`.
#[derive(InputObject)]
pub struct SendMessageInput {
    pub thread_id: ID,
    #[graphql(default)]
    pub text: String,
    #[graphql(name = "type", default_with = "MessageType::Text")]
    pub kind: MessageType,
    pub event: Option<String>,
    #[graphql(default)]
    pub media_urls: Vec<String>,
    pub resource_id: Option<String>,
    /// Idempotency key: sending the same one again in the thread returns the
    /// first message instead of a duplicate.
    pub client_message_id: Option<String>,
    /// Also publish the message to the channel of the thread's subscribers.
    #[graphql(default)]
    pub publish_to_channel: bool,
    /// Publish it then instead of now (implies `publishToChannel`).
    pub publish_to_channel_at: Option<DateTime<Utc>>,
}

/// Input of `editMessage`.
#[derive(InputObject)]
pub struct EditMessageInput {
    pub id: ID,
    pub text: Option<String>,
    pub media_urls: Option<Vec<String>>,
}

/// Input of `deleteMessage`.
#[derive(InputObject)]
pub struct DeleteMessageInput {
    pub id: ID,
}

/// Input of `addReaction` and `removeReaction`.
#[derive(InputObject)]
pub struct ReactionInput {
    pub message_id: ID,
    pub emoji: String,
}

payload! {
    /// Result of the message mutations.
    MessagePayload {
        message: Message
    }
}

payload! {
    /// Result of `sendMessage`.
    SendMessagePayload {
        message: Message,
        /// The thread after the send (its `updatedAt` and unread state moved).
        thread: Thread,
    }
}

payload! {
    /// Result of `deleteMessage`.
    DeleteMessagePayload {
        deleted_message_id: ID
    }
}

impl From<SendMessageInput> for service::SendMessage {
    fn from(input: SendMessageInput) -> Self {
        service::SendMessage {
            thread_id: input.thread_id.0,
            text: input.text,
            kind: input.kind.into(),
            event: input.event,
            media_urls: input.media_urls,
            resource_id: input.resource_id,
            client_message_id: input.client_message_id,
            publish_to_channel: input.publish_to_channel,
            publish_to_channel_at: input.publish_to_channel_at,
        }
    }
}

impl From<EditMessageInput> for service::EditMessage {
    fn from(input: EditMessageInput) -> Self {
        service::EditMessage {
            id: input.id.0,
            text: input.text,
            media_urls: input.media_urls,
        }
    }
}

mutations! {
    /// `Mutation.sendMessage` and the other message mutations.
    MessagesMutation as viewer, |tx, viewer| {
        /// Sends a message to a thread as the caller (subscribing it if needed).
        /// Updates the thread's `updatedAt` and every other subscriber's unread state.
        fn send_message(input: SendMessageInput) -> SendMessagePayload {
            service::send_message(tx, &viewer, input.into()).await?
        }

        /// Edits a thread message's text or media. Only its author may.
        fn edit_message(input: EditMessageInput) -> MessagePayload {
            service::edit_message(tx, &viewer, input.into()).await?
        }

        /// Deletes a thread message; returns its id. Its author may, and so may
        /// api keys (they act for the organization).
        fn delete_message(input: DeleteMessageInput) -> DeleteMessagePayload {
            service::delete_message(tx, &viewer, &input.id).await?;
            input.id.clone()
        }

        /// Adds the caller's reaction (an active subscriber of the thread).
        fn add_reaction(input: ReactionInput) -> MessagePayload {
            service::react(tx, &viewer, &input.message_id, &input.emoji, true).await?
        }

        /// Removes the caller's reaction.
        fn remove_reaction(input: ReactionInput) -> MessagePayload {
            service::react(tx, &viewer, &input.message_id, &input.emoji, false).await?
        }
    }
}

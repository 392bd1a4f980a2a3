//! `publishMessage` and `cancelPublish`: publishing a thread message to a
//! channel now or later, and taking it back while it is pending.

use super::*;

/// Input of `publishMessage`.
#[derive(InputObject)]
pub struct PublishMessageInput {
    /// A thread message.
    pub message_id: ID,
    /// When to publish; omitted means now. A pending message can be rescheduled.
    pub publish_to_channel_at: Option<DateTime<Utc>>,
    /// Publish into this channel ...
    pub channel_id: Option<ID>,
    /// ... or into the channel of exactly these members (`usr_…`, `key_…`,
    /// `ctc_…`). With neither, the channel of the thread's subscribers.
    pub member_ids: Option<Vec<ID>>,
}

/// Input of `cancelPublish`.
#[derive(InputObject)]
pub struct CancelPublishInput {
    pub message_id: ID,
}

payload! {
    /// Result of `publishMessage` and `cancelPublish`.
    PublishPayload {
        message: Message,
        channel: Option<Channel> = None,
    }
}

impl From<PublishMessageInput> for service::PublishMessage {
    fn from(input: PublishMessageInput) -> Self {
        service::PublishMessage {
            message_id: input.message_id.0,
            at: input.publish_to_channel_at,
            channel_id: input.channel_id.map(|id| id.0),
            member_ids: input
                .member_ids
                .map(|ids| ids.into_iter().map(|id| id.0).collect()),
        }
    }
}

mutations! {
    /// `Mutation.publishMessage` and `Mutation.cancelPublish`.
    ChannelsMutation as staff_viewer, |tx, viewer| {
        /// Publishes a thread message to a channel now, or schedules it.
        fn publish_message(input: PublishMessageInput) -> PublishPayload {
            service::publish(tx, &viewer, input.into()).await?
        }

        /// Takes a scheduled message off its channel before it goes out.
        fn cancel_publish(input: CancelPublishInput) -> PublishPayload {
            let message = service::cancel_publish(tx, &viewer, &input.message_id).await?;
            (message, None)
        }
    }
}

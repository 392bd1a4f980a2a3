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

/// Result of `publishMessage` and `cancelPublish`.
#[derive(SimpleObject)]
pub struct PublishPayload {
    pub message: Option<Message>,
    pub channel: Option<Channel>,
    pub user_errors: Vec<UserError>,
}

impl Payload<(Message, Option<Channel>)> for PublishPayload {
    fn done((message, channel): (Message, Option<Channel>)) -> Self {
        PublishPayload {
            message: Some(message),
            channel,
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        PublishPayload {
            message: None,
            channel: None,
            user_errors,
        }
    }
}

/// `Mutation.publishMessage` and `Mutation.cancelPublish`.
#[derive(Default)]
pub struct ChannelsMutation;

#[Object]
impl ChannelsMutation {
    /// Publishes a thread message to a channel now, or schedules it.
    async fn publish_message(
        &self,
        ctx: &Context<'_>,
        input: PublishMessageInput,
    ) -> Result<PublishPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let target = match (input.channel_id.clone(), input.member_ids.clone()) {
                (Some(_), Some(_)) => {
                    return Err(MutationError::on_input(
                        "channelId",
                        UserErrorCode::InvalidValue,
                        "give channelId or memberIds, not both",
                    ));
                }
                (Some(channel), None) => Target::Channel(channel.0),
                (None, Some(members)) => {
                    Target::Members(members.into_iter().map(|id| id.0).collect())
                }
                (None, None) => Target::ThreadSubscribers,
            };
            let (message, thread) = crate::graphql::messages::find_visible_thread_message(
                tx,
                &viewer,
                &input.message_id,
            )
            .await?
            .ok_or_else(|| MutationError::not_found("messageId", &input.message_id))?;
            threads::model::lock(tx, thread.id).await?;
            let message = publish_message(
                tx,
                &viewer,
                &message,
                &thread,
                target,
                input.publish_to_channel_at,
            )
            .await?;
            let channel = match message.channel_id {
                Some(id) => model::by_ids(tx, viewer.organization_id, &[id])
                    .await?
                    .pop(),
                None => None,
            };
            Ok((message, channel))
        })
        .await
    }

    /// Takes a scheduled message off its channel before it goes out.
    async fn cancel_publish(
        &self,
        ctx: &Context<'_>,
        input: CancelPublishInput,
    ) -> Result<PublishPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let (message, thread) = crate::graphql::messages::find_visible_thread_message(
                tx,
                &viewer,
                &input.message_id,
            )
            .await?
            .ok_or_else(|| MutationError::not_found("messageId", &input.message_id))?;
            threads::model::lock(tx, thread.id).await?;
            // Locked by the scheduler means it is going out right now.
            if !messages::unschedule(tx, message.id).await? {
                return Err(MutationError::on_input(
                    "messageId",
                    UserErrorCode::NotPending,
                    "the message is not waiting to be published",
                ));
            }
            let message = messages::by_ids(tx, viewer.organization_id, &[message.id])
                .await?
                .pop()
                .ok_or(MutationError::Api(ApiError::Internal))?;
            Ok((message, None))
        })
        .await
    }
}

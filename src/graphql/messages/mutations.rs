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

/// Result of `sendMessage`.
#[derive(SimpleObject)]
pub struct SendMessagePayload {
    pub message: Option<Message>,
    /// The thread after the send (its `updatedAt` and unread state moved).
    pub thread: Option<Thread>,
    pub user_errors: Vec<UserError>,
}

impl Payload<(Message, Thread)> for SendMessagePayload {
    fn done((message, thread): (Message, Thread)) -> Self {
        SendMessagePayload {
            message: Some(message),
            thread: Some(thread),
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        SendMessagePayload {
            message: None,
            thread: None,
            user_errors,
        }
    }
}

payload! {
    /// Result of `deleteMessage`.
    DeleteMessagePayload {
        deleted_message_id: ID
    }
}

/// Validates a message text: required unless media is attached.
pub fn check_text(errors: &mut InputErrors, field: &str, text: &str, has_media: bool) -> String {
    if text.trim().is_empty() && !has_media {
        errors.push(
            field,
            UserErrorCode::Required,
            format!("{field} is required"),
        );
    } else if text.chars().count() > MAX_TEXT {
        errors.push(
            field,
            UserErrorCode::TooLong,
            format!("{field} must be at most {MAX_TEXT} characters"),
        );
    }
    text.to_string()
}

fn check_emoji(errors: &mut InputErrors, emoji: &str) -> String {
    let emoji = emoji.trim();
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || emoji.chars().any(char::is_whitespace) {
        errors.push(
            "emoji",
            UserErrorCode::InvalidValue,
            "emoji must be one emoji (or a short code without spaces)",
        );
    }
    emoji.to_string()
}

/// `Mutation.sendMessage` and the other message mutations.
#[derive(Default)]
pub struct MessagesMutation;

#[Object]
impl MessagesMutation {
    /// Sends a message to a thread as the caller (subscribing it if needed).
    /// Updates the thread's `updatedAt` and every other subscriber's unread state.
    async fn send_message(
        &self,
        ctx: &Context<'_>,
        input: SendMessageInput,
    ) -> Result<SendMessagePayload, ApiError> {
        let viewer = viewer(ctx)?;
        mutate(ctx, async |tx| {
            let mut errors = InputErrors::default();
            if input.kind == MessageType::Meta {
                errors.push(
                    "type",
                    UserErrorCode::InvalidValue,
                    "META messages are written by the system only",
                );
            }
            let media_urls = errors.url_list("mediaUrls", &input.media_urls, MAX_MEDIA_URLS);
            let text = check_text(
                &mut errors,
                "text",
                &input.text,
                !input.media_urls.is_empty(),
            );
            let event = errors.optional_text("event", input.event.as_deref(), MAX_SHORT_TEXT);
            let resource_id =
                errors.optional_text("resourceId", input.resource_id.as_deref(), MAX_SHORT_TEXT);
            let client_message_id = errors.optional_text(
                "clientMessageId",
                input.client_message_id.as_deref(),
                MAX_SHORT_TEXT,
            );
            let thread =
                threads::model::find_for_update(tx, ThreadScope::of(&viewer), &input.thread_id)
                    .await?
                    .ok_or_else(|| MutationError::not_found("threadId", &input.thread_id))?;
            errors.finish()?;

            if let Some(client_id) = &client_message_id
                && let Some(existing) = model::find_by_client_id(tx, thread.id, client_id).await?
            {
                return Ok((existing, thread));
            }
            let name = crate::domain::threads::members::member_name(
                tx,
                viewer.organization_id,
                viewer.actor,
            )
            .await?;
            let author =
                crate::domain::threads::members::join_thread(tx, &thread, viewer.actor, &name)
                    .await?;
            let mut new = NewMessage::new(
                viewer.organization_id,
                Owner::Thread(thread.id),
                input.kind.into(),
                text,
            );
            new.author_subscriber_id = Some(author.id);
            new.event = event;
            new.media_urls = media_urls.into_iter().map(Some).collect();
            new.resource_id = resource_id;
            new.client_message_id = client_message_id;
            let message = model::insert(tx, &new).await?;
            subscribers::record_message(tx, thread.id, Some(author.id)).await?;
            let thread = threads::model::touch(tx, thread.id, Some(message.created_at)).await?;
            let added = EventPayload {
                message: Some((&message).into()),
                thread: Some((&thread).into()),
                ..EventPayload::default()
            };
            crate::domain::threads::members::record(tx, &thread, EventKind::MessageAdded, added);
            let message = if input.publish_to_channel || input.publish_to_channel_at.is_some() {
                let target = crate::graphql::channels::Target::ThreadSubscribers;
                crate::graphql::channels::publish_message(
                    tx,
                    &viewer,
                    &message,
                    &thread,
                    target,
                    input.publish_to_channel_at,
                )
                .await?
            } else {
                message
            };
            Ok((message, thread))
        })
        .await
    }

    /// Edits a thread message's text or media. Only its author may.
    async fn edit_message(
        &self,
        ctx: &Context<'_>,
        input: EditMessageInput,
    ) -> Result<MessagePayload, ApiError> {
        let viewer = viewer(ctx)?;
        mutate(ctx, async |tx| {
            let (message, thread) = find_visible_thread_message(tx, &viewer, &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            threads::model::lock(tx, thread.id).await?;
            require_author(tx, &viewer, &message, false).await?;
            let mut errors = InputErrors::default();
            let media_urls = input
                .media_urls
                .as_ref()
                .map(|urls| errors.url_list("mediaUrls", urls, MAX_MEDIA_URLS));
            let has_media = media_urls
                .as_ref()
                .map_or(!message.media_url_list().is_empty(), |urls| {
                    !urls.is_empty()
                });
            let body = input
                .text
                .as_ref()
                .map(|text| check_text(&mut errors, "text", text, has_media));
            errors.finish()?;
            let changes = MessageChanges {
                body,
                media_urls: media_urls.map(|urls| urls.into_iter().map(Some).collect()),
                edited_at: Some(Some(Utc::now())),
                ..MessageChanges::default()
            };
            let message = model::update(tx, message.id, &changes).await?;
            let thread = threads::model::touch(tx, thread.id, None).await?;
            let edited = EventPayload {
                message: Some((&message).into()),
                ..EventPayload::default()
            };
            crate::domain::threads::members::record(tx, &thread, EventKind::MessageEdited, edited);
            Ok(message)
        })
        .await
    }

    /// Deletes a thread message; returns its id. Its author may, and so may
    /// api keys (they act for the organization).
    async fn delete_message(
        &self,
        ctx: &Context<'_>,
        input: DeleteMessageInput,
    ) -> Result<DeleteMessagePayload, ApiError> {
        let viewer = viewer(ctx)?;
        mutate(ctx, async |tx| {
            let (message, thread) = find_visible_thread_message(tx, &viewer, &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            threads::model::lock(tx, thread.id).await?;
            require_author(tx, &viewer, &message, true).await?;
            model::delete(tx, message.id).await?;
            let thread = threads::model::touch(tx, thread.id, None).await?;
            let deleted = EventPayload {
                message_public_id: Some(message.public_id.clone()),
                ..EventPayload::default()
            };
            crate::domain::threads::members::record(
                tx,
                &thread,
                EventKind::MessageDeleted,
                deleted,
            );
            Ok(input.id.clone())
        })
        .await
    }

    /// Adds the caller's reaction (an active subscriber of the thread).
    async fn add_reaction(
        &self,
        ctx: &Context<'_>,
        input: ReactionInput,
    ) -> Result<MessagePayload, ApiError> {
        self.react(ctx, input, true).await
    }

    /// Removes the caller's reaction.
    async fn remove_reaction(
        &self,
        ctx: &Context<'_>,
        input: ReactionInput,
    ) -> Result<MessagePayload, ApiError> {
        self.react(ctx, input, false).await
    }
}

impl MessagesMutation {
    async fn react(
        &self,
        ctx: &Context<'_>,
        input: ReactionInput,
        add: bool,
    ) -> Result<MessagePayload, ApiError> {
        let viewer = viewer(ctx)?;
        mutate(ctx, async |tx| {
            let mut errors = InputErrors::default();
            let emoji = check_emoji(&mut errors, &input.emoji);
            let (message, thread) = find_visible_thread_message(tx, &viewer, &input.message_id)
                .await?
                .ok_or_else(|| MutationError::not_found("messageId", &input.message_id))?;
            errors.finish()?;
            threads::model::lock(tx, thread.id).await?;
            let subscriber = subscribers::find_member(tx, thread.id, viewer.actor)
                .await?
                .filter(|s| !s.is_archived)
                .ok_or_else(|| {
                    MutationError::on_input(
                        "messageId",
                        UserErrorCode::NotASubscriber,
                        "only subscribers of the thread may react",
                    )
                })?;
            let (changed, kind) = if add {
                let added = model::add_reaction(
                    tx,
                    viewer.organization_id,
                    message.id,
                    subscriber.id,
                    &emoji,
                )
                .await?;
                (added, EventKind::ReactionAdded)
            } else {
                let removed = model::remove_reaction(tx, message.id, subscriber.id, &emoji).await?;
                (removed, EventKind::ReactionRemoved)
            };
            if changed {
                let reaction = EventPayload {
                    message: Some((&message).into()),
                    subscriber: Some((&subscriber).into()),
                    emoji: Some(emoji),
                    ..EventPayload::default()
                };
                crate::domain::threads::members::record(tx, &thread, kind, reaction);
            }
            Ok(message)
        })
        .await
    }
}

/// Refuses unless the caller wrote the message (api keys pass too when
/// `api_keys_may`).
async fn require_author(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    message: &Message,
    api_keys_may: bool,
) -> Result<(), MutationError> {
    if api_keys_may && matches!(viewer.actor, Actor::ApiKey(_)) {
        return Ok(());
    }
    let author = match message.author_subscriber_id {
        Some(id) => subscribers::by_ids(conn, viewer.organization_id, &[id])
            .await?
            .pop(),
        None => None,
    };
    if author.and_then(|a| a.member()) == Some(viewer.actor) {
        Ok(())
    } else {
        Err(MutationError::on_input(
            "id",
            UserErrorCode::NotAuthor,
            "only the message's author may do this",
        ))
    }
}

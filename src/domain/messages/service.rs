//! The thread message operations: send (idempotent by client message id),
//! edit (the author only), delete, and reactions. Each runs in the caller's `Tx`.

use super::kind::MessageKind;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::model::{self, Message, MessageChanges, NewMessage, Owner};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::channels::service::{Target, publish_message};
use crate::domain::errors::{Code, DomainError, DomainResult, Violations};
use crate::domain::events::{EventKind, EventPayload};
use crate::domain::threads::members::{join_thread, record};
use crate::domain::threads::model::ThreadScope;
use crate::domain::threads::service::active_subscriber;
use crate::domain::threads::{self, Thread, subscribers};
use crate::domain::tx::Tx;
use crate::domain::validation::MAX_SHORT_TEXT;

/// Longest message text, in characters.
pub const MAX_TEXT: usize = 20_000;
/// Most media URLs on one message.
pub const MAX_MEDIA_URLS: usize = 20;
/// Longest emoji (a ZWJ sequence can be long), in bytes.
const MAX_EMOJI_BYTES: usize = 64;

/// What `send_message` is asked: ids are public ids.
#[derive(Debug, Default)]
pub struct SendMessage {
    /// The thread's public id.
    pub thread_id: String,
    /// The text; may be blank when media is attached.
    pub text: String,
    /// The kind of message (clients may not send `Meta`).
    pub kind: MessageKind,
    /// A free event name.
    pub event: Option<String>,
    /// Attached media, http(s) URLs.
    pub media_urls: Vec<String>,
    /// A free resource id.
    pub resource_id: Option<String>,
    /// Idempotency key within the thread.
    pub client_message_id: Option<String>,
    /// Also publish to the channel of the thread's subscribers.
    pub publish_to_channel: bool,
    /// Publish then instead of now (implies `publish_to_channel`).
    pub publish_to_channel_at: Option<DateTime<Utc>>,
}

/// What `edit_message` is asked: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct EditMessage {
    /// The message's public id.
    pub id: String,
    /// The new text.
    pub text: Option<String>,
    /// The new media URLs.
    pub media_urls: Option<Vec<String>>,
}

/// Validates a message text: required unless media is attached.
pub fn check_text(violations: &mut Violations, field: &str, text: &str, has_media: bool) -> String {
    if text.trim().is_empty() && !has_media {
        violations.push(field, Code::Required, format!("{field} is required"));
    } else if text.chars().count() > MAX_TEXT {
        violations.push(
            field,
            Code::TooLong,
            format!("{field} must be at most {MAX_TEXT} characters"),
        );
    }
    text.to_string()
}

fn check_emoji(violations: &mut Violations, emoji: &str) -> String {
    let emoji = emoji.trim();
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || emoji.chars().any(char::is_whitespace) {
        violations.push(
            "emoji",
            Code::InvalidValue,
            "emoji must be one emoji (or a short code without spaces)",
        );
    }
    emoji.to_string()
}

/// The thread message with this id, as the viewer may see it.
pub async fn find_visible_thread_message(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    public_id: &str,
) -> QueryResult<Option<(Message, Thread)>> {
    let Some(message) = model::find(conn, viewer.organization_id, public_id).await? else {
        return Ok(None);
    };
    let Some(thread_id) = message.thread_id else {
        return Ok(None);
    };
    let Some(thread) = threads::model::by_ids(conn, viewer.organization_id, &[thread_id])
        .await?
        .pop()
    else {
        return Ok(None);
    };
    let visible = match ThreadScope::of(viewer).only_contact {
        Some(contact) => {
            subscribers::is_active_member(conn, thread.id, Actor::Contact(contact)).await?
        }
        None => true,
    };
    Ok(visible.then_some((message, thread)))
}

/// The visible thread message and its thread, the thread locked, or
/// `NOT_FOUND` on `field`.
pub async fn locked_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    field: &str,
    id: &str,
) -> DomainResult<(Message, Thread)> {
    let (message, thread) = find_visible_thread_message(tx, viewer, id)
        .await?
        .ok_or_else(|| DomainError::not_found(field, id))?;
    threads::model::lock(tx, thread.id).await?;
    Ok((message, thread))
}

/// Sends a message to a thread as the caller (subscribing it if needed),
/// moving the thread's `updated_at` and the other subscribers' unread
/// state. A repeated client message id returns the first message.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %request.thread_id))]
pub async fn send_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: SendMessage,
) -> DomainResult<(Message, Thread)> {
    let mut violations = Violations::default();
    if request.kind == MessageKind::Meta {
        violations.push(
            "type",
            Code::InvalidValue,
            "META messages are written by the system only",
        );
    }
    let media_urls = violations.url_list("mediaUrls", &request.media_urls, MAX_MEDIA_URLS);
    let text = check_text(
        &mut violations,
        "text",
        &request.text,
        !request.media_urls.is_empty(),
    );
    let event = violations.optional_text("event", request.event.as_deref(), MAX_SHORT_TEXT);
    let resource_id =
        violations.optional_text("resourceId", request.resource_id.as_deref(), MAX_SHORT_TEXT);
    let client_message_id = violations.optional_text(
        "clientMessageId",
        request.client_message_id.as_deref(),
        MAX_SHORT_TEXT,
    );
    let thread = threads::model::find_for_update(tx, ThreadScope::of(viewer), &request.thread_id)
        .await?
        .ok_or_else(|| DomainError::not_found("threadId", &request.thread_id))?;
    violations.finish()?;

    if let Some(client_id) = &client_message_id
        && let Some(existing) = model::find_by_client_id(tx, thread.id, client_id).await?
    {
        return Ok((existing, thread));
    }
    let author = join_thread(tx, &thread, viewer.actor, None).await?;
    let mut new = NewMessage::new(
        viewer.organization_id,
        Owner::Thread(thread.id),
        request.kind,
        text,
    );
    new.author_subscriber_id = Some(author.id);
    new.event = event;
    new.media_urls = media_urls.into_iter().map(Some).collect();
    new.resource_id = resource_id;
    new.client_message_id = client_message_id;
    let message = model::insert(tx, &new).await?;
    let thread =
        threads::model::record_message(tx, thread.id, Some(author.id), message.created_at).await?;
    let added = EventPayload {
        message: Some((&message).into()),
        thread: Some((&thread).into()),
        ..EventPayload::default()
    };
    record(tx, &thread, EventKind::MessageAdded, added);
    let message = if request.publish_to_channel || request.publish_to_channel_at.is_some() {
        let target = Target::ThreadSubscribers;
        publish_message(
            tx,
            viewer,
            &message,
            &thread,
            target,
            request.publish_to_channel_at,
        )
        .await?
    } else {
        message
    };
    Ok((message, thread))
}

/// Edits a thread message's text or media. Only its author may.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %request.id))]
pub async fn edit_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: EditMessage,
) -> DomainResult<Message> {
    let (message, thread) = locked_message(tx, viewer, "id", &request.id).await?;
    require_author(tx, viewer, &message, false).await?;
    let mut violations = Violations::default();
    let media_urls = request
        .media_urls
        .as_ref()
        .map(|urls| violations.url_list("mediaUrls", urls, MAX_MEDIA_URLS));
    let has_media = media_urls
        .as_ref()
        .map_or(!message.media_url_list().is_empty(), |urls| {
            !urls.is_empty()
        });
    let body = request
        .text
        .as_ref()
        .map(|text| check_text(&mut violations, "text", text, has_media));
    violations.finish()?;
    let changes = MessageChanges {
        body,
        media_urls: media_urls.map(|urls| urls.into_iter().map(Some).collect()),
        edited_at: Some(Some(Utc::now())),
        ..MessageChanges::default()
    };
    let message = model::update(tx, message.id, &changes).await?;
    let thread = threads::model::touch(tx, thread.id, None).await?;
    let edited = EventPayload::with_message(&message);
    record(tx, &thread, EventKind::MessageEdited, edited);
    Ok(message)
}

/// Deletes a thread message; returns it as it was. Its author may, and so
/// may api keys (they act for the organization).
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %id))]
pub async fn delete_message(tx: &mut Tx<'_>, viewer: &Viewer, id: &str) -> DomainResult<Message> {
    let (message, thread) = locked_message(tx, viewer, "id", id).await?;
    require_author(tx, viewer, &message, true).await?;
    model::delete(tx, message.id).await?;
    let thread = threads::model::touch(tx, thread.id, None).await?;
    let deleted = EventPayload {
        message_public_id: Some(message.public_id.clone()),
        ..EventPayload::default()
    };
    record(tx, &thread, EventKind::MessageDeleted, deleted);
    Ok(message)
}

/// Adds (`add`) or removes the caller's reaction; the caller must be an
/// active subscriber of the thread. An event is recorded only on a change.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %message_id, add))]
pub async fn react(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    message_id: &str,
    emoji: &str,
    add: bool,
) -> DomainResult<Message> {
    let mut violations = Violations::default();
    let emoji = check_emoji(&mut violations, emoji);
    let (message, thread) = find_visible_thread_message(tx, viewer, message_id)
        .await?
        .ok_or_else(|| DomainError::not_found("messageId", message_id))?;
    violations.finish()?;
    threads::model::lock(tx, thread.id).await?;
    let not_subscribed = "only subscribers of the thread may react";
    let subscriber = active_subscriber(tx, &thread, viewer, "messageId", not_subscribed).await?;
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
        record(tx, &thread, kind, reaction);
    }
    Ok(message)
}

/// Refuses unless the caller wrote the message (api keys pass too when
/// `api_keys_may`).
async fn require_author(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    message: &Message,
    api_keys_may: bool,
) -> DomainResult<()> {
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
        Err(DomainError::on_input(
            "id",
            Code::NotAuthor,
            "only the message's author may do this",
        ))
    }
}

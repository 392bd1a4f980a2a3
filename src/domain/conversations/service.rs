//! The conversation operations: create, update and delete conversations, and
//! add, change and delete their messages. Each runs in the caller's `Tx`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::model::{self, Conversation, ConversationChanges, NewConversation};
use crate::db::ids::OrganizationId;
use crate::domain::auth::Viewer;
use crate::domain::channel_kind::ChannelKind;
use crate::domain::contacts;
use crate::domain::errors::{DomainError, DomainResult, Violations};
use crate::domain::events::{EventKind, EventPayload, NewEvent};
use crate::domain::messages::kind::MessageKind;
use crate::domain::messages::model::{
    self as messages, Message, MessageChanges, NewMessage, Owner,
};
use crate::domain::messages::service::check_text;
use crate::domain::tx::Tx;

/// What `create_conversation` is asked: ids are public ids.
#[derive(Debug)]
pub struct CreateConversation {
    /// The contact's public id.
    pub contact_id: String,
    pub channel: ChannelKind,
    pub happened_at: NaiveDate,
}

/// What `update_conversation` is asked: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UpdateConversation {
    /// The conversation's public id.
    pub id: String,
    pub happened_at: Option<NaiveDate>,
    pub channel: Option<ChannelKind>,
}

/// What `add_message` is asked.
#[derive(Debug)]
pub struct AddMessage {
    /// The conversation's public id.
    pub conversation_id: String,
    pub content: String,
    pub written_at: DateTime<Utc>,
    /// True when the organization wrote it, false when the contact did.
    pub written_by_me: bool,
}

/// What `update_message` is asked: `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UpdateMessage {
    /// The message's public id.
    pub id: String,
    pub content: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
}

/// Records an event about a conversation, appended when `tx` commits.
fn record(tx: &mut Tx<'_>, conversation: &Conversation, kind: EventKind, payload: EventPayload) {
    tx.record(
        conversation.organization_id,
        NewEvent::conversation(kind, conversation, payload),
    );
}

/// The organization's conversation with this id, or `NOT_FOUND` on `field`.
async fn find(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    field: &str,
    id: &str,
) -> DomainResult<Conversation> {
    model::find(tx, viewer.organization_id, id)
        .await?
        .ok_or_else(|| DomainError::not_found(field, id))
}

/// The organization's conversation message with this id, with its conversation.
pub async fn find_message(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    public_id: &str,
) -> QueryResult<Option<(Message, Conversation)>> {
    let Some(message) = messages::find(conn, organization_id, public_id).await? else {
        return Ok(None);
    };
    let Some(conversation_id) = message.conversation_id else {
        return Ok(None);
    };
    let conversation = model::by_ids(conn, organization_id, &[conversation_id])
        .await?
        .pop();
    Ok(conversation.map(|c| (message, c)))
}

/// The conversation message with this id and its conversation, or
/// `NOT_FOUND` on `id`.
async fn existing_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    id: &str,
) -> DomainResult<(Message, Conversation)> {
    find_message(tx, viewer.organization_id, id)
        .await?
        .ok_or_else(|| DomainError::not_found("id", id))
}

/// Logs a conversation with one of the organization's contacts.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, contact = %request.contact_id))]
pub async fn create_conversation(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: CreateConversation,
) -> DomainResult<Conversation> {
    let org = viewer.organization_id;
    let contact = contacts::model::find(tx, org, &request.contact_id)
        .await?
        .ok_or_else(|| DomainError::not_found("contactId", &request.contact_id))?;
    let new = NewConversation::new(org, contact.id, request.channel, request.happened_at);
    let conversation = model::insert(tx, &new).await?;
    let created = EventPayload::with_conversation(&conversation);
    record(tx, &conversation, EventKind::ConversationCreated, created);
    Ok(conversation)
}

/// Changes when (or on which channel) a conversation happened; a change to
/// nothing returns it as it is and records no event.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, conversation = %request.id))]
pub async fn update_conversation(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: UpdateConversation,
) -> DomainResult<Conversation> {
    let conversation = find(tx, viewer, "id", &request.id).await?;
    let changes = ConversationChanges {
        happened_at: request.happened_at,
        channel: request.channel,
    };
    if changes.happened_at.is_none() && changes.channel.is_none() {
        return Ok(conversation);
    }
    let conversation = model::update(tx, conversation.id, &changes).await?;
    let updated = EventPayload::with_conversation(&conversation);
    record(tx, &conversation, EventKind::ConversationUpdated, updated);
    Ok(conversation)
}

/// Deletes a conversation with its messages; returns it as it was.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, conversation = %id))]
pub async fn delete_conversation(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    id: &str,
) -> DomainResult<Conversation> {
    let conversation = find(tx, viewer, "id", id).await?;
    model::delete(tx, conversation.id).await?;
    let deleted = EventPayload::default();
    record(tx, &conversation, EventKind::ConversationDeleted, deleted);
    Ok(conversation)
}

/// Adds a message to a conversation, moving its `updated_at`.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, conversation = %request.conversation_id))]
pub async fn add_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: AddMessage,
) -> DomainResult<(Message, Conversation)> {
    let mut violations = Violations::default();
    let content = check_text(&mut violations, "content", &request.content, false);
    let conversation = find(tx, viewer, "conversationId", &request.conversation_id).await?;
    violations.finish()?;
    let mut new = NewMessage::new(
        viewer.organization_id,
        Owner::Conversation(conversation.id),
        MessageKind::Text,
        content,
    );
    new.written_at = Some(request.written_at);
    new.written_by_me = Some(request.written_by_me);
    let message = messages::insert(tx, &new).await?;
    let conversation = model::touch(tx, conversation.id).await?;
    let added = EventPayload::with_message(&message);
    record(tx, &conversation, EventKind::MessageAdded, added);
    Ok((message, conversation))
}

/// Changes a conversation message; a change to nothing returns it as it is
/// and records no event.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %request.id))]
pub async fn update_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: UpdateMessage,
) -> DomainResult<(Message, Conversation)> {
    let (message, conversation) = existing_message(tx, viewer, &request.id).await?;
    let mut violations = Violations::default();
    let body = request
        .content
        .as_ref()
        .map(|content| check_text(&mut violations, "content", content, false));
    violations.finish()?;
    let changes = MessageChanges {
        body,
        written_at: request.written_at.map(Some),
        written_by_me: request.written_by_me.map(Some),
        ..MessageChanges::default()
    };
    if changes.body.is_none() && changes.written_at.is_none() && changes.written_by_me.is_none() {
        return Ok((message, conversation));
    }
    let message = messages::update(tx, message.id, &changes).await?;
    let conversation = model::touch(tx, conversation.id).await?;
    let edited = EventPayload::with_message(&message);
    record(tx, &conversation, EventKind::MessageEdited, edited);
    Ok((message, conversation))
}

/// Deletes a conversation message; returns its conversation.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %id))]
pub async fn delete_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    id: &str,
) -> DomainResult<Conversation> {
    let (message, conversation) = existing_message(tx, viewer, id).await?;
    messages::delete(tx, message.id).await?;
    let conversation = model::touch(tx, conversation.id).await?;
    let deleted = EventPayload {
        message_public_id: Some(message.public_id),
        ..EventPayload::default()
    };
    record(tx, &conversation, EventKind::MessageDeleted, deleted);
    Ok(conversation)
}

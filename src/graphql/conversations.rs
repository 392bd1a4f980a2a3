//! GraphQL types, queries and mutations for conversations and their messages.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{ContactId, ConversationId, OrganizationId};
use crate::domain::contacts::{self, Contact};
use crate::domain::conversations::model::{
    self, Conversation, ConversationChanges, NewConversation,
};
use crate::domain::events::{EventKind, EventPayload, NewEvent};
use crate::domain::messages::model::{
    self as messages, Container, Message, MessageChanges, NewMessage, Owner,
};
use crate::domain::tx::Tx;
use crate::graphql::context::{db, loader, staff_viewer};
use crate::graphql::enums::ChannelKind;
use crate::graphql::errors::{ApiError, MutationError, Payload, UserError, payload};
use crate::graphql::input::InputErrors;
use crate::graphql::loaders::{ByIds, FetchPages, fetch_by_ids};
use crate::graphql::messages::check_text;
use crate::graphql::mutation::mutate;
use crate::graphql::pagination::{Cursor, PageRequest};

fetch_by_ids!(Conversation: ConversationId => model::by_ids);

impl FetchPages for Conversation {
    type Parent = ContactId;

    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        contact_ids: &[ContactId],
        page: &PageRequest,
    ) -> QueryResult<Vec<(ContactId, Self)>> {
        let conversations =
            model::page_per_contact(conn, organization_id, contact_ids, page).await?;
        Ok(conversations
            .into_iter()
            .map(|c| (c.contact_id, c))
            .collect())
    }
}

/// A logged conversation with one contact, on a channel kind, on a date.
#[Object]
impl Conversation {
    /// Opaque id (`conv_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        loader::<ByIds<Contact>>(ctx)?
            .load_one(self.contact_id)
            .await
    }
    /// The channel kind (Monica's contact field type).
    async fn channel(&self) -> Option<ChannelKind> {
        Some(self.channel.into())
    }
    /// The day it happened.
    async fn happened_at(&self) -> NaiveDate {
        self.happened_at
    }
    /// Its messages in the order they were added.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Message>, ApiError> {
        let page = PageRequest::new(first, after, last, before)?;
        crate::graphql::messages::message_page(ctx, Container::Conversation(self.id), page).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// Extra fields of `ConversationConnection`.
pub struct ConversationConnectionFields {
    organization_id: OrganizationId,
    contact_id: Option<ContactId>,
    /// False when the contact filter named no contact: nothing matches.
    any: bool,
}

impl ConversationConnectionFields {
    /// Fields of a connection over one contact's conversations.
    pub fn of_contact(organization_id: OrganizationId, contact_id: ContactId) -> Self {
        ConversationConnectionFields {
            organization_id,
            contact_id: Some(contact_id),
            any: true,
        }
    }
}

#[Object]
impl ConversationConnectionFields {
    /// How many conversations match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        if !self.any {
            return Ok(0);
        }
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.organization_id, self.contact_id).await?)
    }
}

/// `Query.conversations` and `Query.conversation`.
#[derive(Default)]
pub struct ConversationsQuery;

#[Object]
impl ConversationsQuery {
    /// All conversations, or one contact's, newest first.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        contact_id: Option<ID>,
    ) -> Result<Connection<Cursor, Conversation, ConversationConnectionFields>, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let mut conn = db(ctx).await?;
        let mut fields = ConversationConnectionFields {
            organization_id: viewer.organization_id,
            contact_id: None,
            any: true,
        };
        if let Some(contact_id) = contact_id {
            match contacts::model::find(&mut conn, viewer.organization_id, &contact_id).await? {
                Some(contact) => fields.contact_id = Some(contact.id),
                None => fields.any = false,
            }
        }
        let rows = if fields.any {
            model::page(&mut conn, viewer.organization_id, fields.contact_id, &page).await?
        } else {
            Vec::new()
        };
        Ok(page.into_connection(rows, |c| c.id, fields))
    }

    /// One conversation; null when none of the organization has this id.
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> Result<Option<Conversation>, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, viewer.organization_id, &id).await?)
    }
}

/// Input of `createConversation`.
#[derive(InputObject)]
pub struct CreateConversationInput {
    pub contact_id: ID,
    pub channel: ChannelKind,
    pub happened_at: NaiveDate,
}

/// Input of `updateConversation`.
#[derive(InputObject)]
pub struct UpdateConversationInput {
    pub id: ID,
    pub happened_at: Option<NaiveDate>,
    pub channel: Option<ChannelKind>,
}

/// Input of `deleteConversation`.
#[derive(InputObject)]
pub struct DeleteConversationInput {
    pub id: ID,
}

/// Input of `addConversationMessage`.
#[derive(InputObject)]
pub struct AddConversationMessageInput {
    pub conversation_id: ID,
    pub content: String,
    pub written_at: DateTime<Utc>,
    /// True when the organization wrote it, false when the contact did.
    pub written_by_me: bool,
}

/// Input of `updateConversationMessage`: omitted fields are left alone.
#[derive(InputObject)]
pub struct UpdateConversationMessageInput {
    pub id: ID,
    pub content: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
}

/// Input of `deleteConversationMessage`.
#[derive(InputObject)]
pub struct DeleteConversationMessageInput {
    pub id: ID,
}

payload! {
    /// Result of `createConversation` and `updateConversation`.
    ConversationPayload {
        conversation: Conversation
    }
}

payload! {
    /// Result of `deleteConversation`.
    DeleteConversationPayload {
        deleted_conversation_id: ID
    }
}

/// Result of `addConversationMessage` and `updateConversationMessage`.
#[derive(SimpleObject)]
pub struct ConversationMessagePayload {
    pub message: Option<Message>,
    pub conversation: Option<Conversation>,
    pub user_errors: Vec<UserError>,
}

impl Payload<(Message, Conversation)> for ConversationMessagePayload {
    fn done((message, conversation): (Message, Conversation)) -> Self {
        ConversationMessagePayload {
            message: Some(message),
            conversation: Some(conversation),
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        ConversationMessagePayload {
            message: None,
            conversation: None,
            user_errors,
        }
    }
}

/// Result of `deleteConversationMessage`.
#[derive(SimpleObject)]
pub struct DeleteConversationMessagePayload {
    pub deleted_message_id: Option<ID>,
    pub conversation: Option<Conversation>,
    pub user_errors: Vec<UserError>,
}

impl Payload<(ID, Conversation)> for DeleteConversationMessagePayload {
    fn done((id, conversation): (ID, Conversation)) -> Self {
        DeleteConversationMessagePayload {
            deleted_message_id: Some(id),
            conversation: Some(conversation),
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        DeleteConversationMessagePayload {
            deleted_message_id: None,
            conversation: None,
            user_errors,
        }
    }
}

/// The organization's conversation message with this id, with its conversation.
async fn find_conversation_message(
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

/// `Mutation.createConversation` and the other conversation mutations.
#[derive(Default)]
pub struct ConversationsMutation;

/// Records an event about a conversation, appended when `tx` commits.
fn record(tx: &mut Tx<'_>, conversation: &Conversation, kind: EventKind, payload: EventPayload) {
    tx.record(
        conversation.organization_id,
        NewEvent::conversation(kind, conversation, payload),
    );
}

fn snapshot(conversation: &Conversation) -> EventPayload {
    EventPayload {
        conversation: Some(conversation.into()),
        ..EventPayload::default()
    }
}

fn message_snapshot(message: Option<&Message>, public_id: Option<&str>) -> EventPayload {
    EventPayload {
        message: message.map(Into::into),
        message_public_id: public_id.map(str::to_string),
        ..EventPayload::default()
    }
}

#[Object]
impl ConversationsMutation {
    /// Logs a conversation with a contact.
    async fn create_conversation(
        &self,
        ctx: &Context<'_>,
        input: CreateConversationInput,
    ) -> Result<ConversationPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let org = viewer.organization_id;
        mutate(ctx, async |tx| {
            let contact = contacts::model::find(tx, org, &input.contact_id)
                .await?
                .ok_or_else(|| MutationError::not_found("contactId", &input.contact_id))?;
            let new =
                NewConversation::new(org, contact.id, input.channel.into(), input.happened_at);
            let conversation = model::insert(tx, &new).await?;
            record(
                tx,
                &conversation,
                EventKind::ConversationCreated,
                snapshot(&conversation),
            );
            Ok(conversation)
        })
        .await
    }

    /// Changes when (or on which channel) a conversation happened.
    async fn update_conversation(
        &self,
        ctx: &Context<'_>,
        input: UpdateConversationInput,
    ) -> Result<ConversationPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let conversation = model::find(tx, viewer.organization_id, &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            let changes = ConversationChanges {
                happened_at: input.happened_at,
                channel: input.channel.map(Into::into),
            };
            if changes.happened_at.is_none() && changes.channel.is_none() {
                return Ok(conversation);
            }
            let conversation = model::update(tx, conversation.id, &changes).await?;
            record(
                tx,
                &conversation,
                EventKind::ConversationUpdated,
                snapshot(&conversation),
            );
            Ok(conversation)
        })
        .await
    }

    /// Deletes a conversation with its messages; returns its id.
    async fn delete_conversation(
        &self,
        ctx: &Context<'_>,
        input: DeleteConversationInput,
    ) -> Result<DeleteConversationPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let conversation = model::find(tx, viewer.organization_id, &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            model::delete(tx, conversation.id).await?;
            record(
                tx,
                &conversation,
                EventKind::ConversationDeleted,
                EventPayload::default(),
            );
            Ok(input.id.clone())
        })
        .await
    }

    /// Adds a message to a conversation.
    async fn add_conversation_message(
        &self,
        ctx: &Context<'_>,
        input: AddConversationMessageInput,
    ) -> Result<ConversationMessagePayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let mut errors = InputErrors::default();
            let content = check_text(&mut errors, "content", &input.content, false);
            let conversation = model::find(tx, viewer.organization_id, &input.conversation_id)
                .await?
                .ok_or_else(|| {
                    MutationError::not_found("conversationId", &input.conversation_id)
                })?;
            errors.finish()?;
            let mut new = NewMessage::new(
                viewer.organization_id,
                Owner::Conversation(conversation.id),
                crate::domain::messages::kind::MessageKind::Text,
                content,
            );
            new.written_at = Some(input.written_at);
            new.written_by_me = Some(input.written_by_me);
            let message = messages::insert(tx, &new).await?;
            let conversation = model::touch(tx, conversation.id).await?;
            record(
                tx,
                &conversation,
                EventKind::MessageAdded,
                message_snapshot(Some(&message), None),
            );
            Ok((message, conversation))
        })
        .await
    }

    /// Changes a conversation message.
    async fn update_conversation_message(
        &self,
        ctx: &Context<'_>,
        input: UpdateConversationMessageInput,
    ) -> Result<ConversationMessagePayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let (message, conversation) =
                find_conversation_message(tx, viewer.organization_id, &input.id)
                    .await?
                    .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            let mut errors = InputErrors::default();
            let body = input
                .content
                .as_ref()
                .map(|c| check_text(&mut errors, "content", c, false));
            errors.finish()?;
            let changes = MessageChanges {
                body,
                written_at: input.written_at.map(Some),
                written_by_me: input.written_by_me.map(Some),
                ..MessageChanges::default()
            };
            if changes.body.is_none()
                && changes.written_at.is_none()
                && changes.written_by_me.is_none()
            {
                return Ok((message, conversation));
            }
            let message = messages::update(tx, message.id, &changes).await?;
            let conversation = model::touch(tx, conversation.id).await?;
            record(
                tx,
                &conversation,
                EventKind::MessageEdited,
                message_snapshot(Some(&message), None),
            );
            Ok((message, conversation))
        })
        .await
    }

    /// Deletes a conversation message; returns its id.
    async fn delete_conversation_message(
        &self,
        ctx: &Context<'_>,
        input: DeleteConversationMessageInput,
    ) -> Result<DeleteConversationMessagePayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let (message, conversation) =
                find_conversation_message(tx, viewer.organization_id, &input.id)
                    .await?
                    .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            messages::delete(tx, message.id).await?;
            let conversation = model::touch(tx, conversation.id).await?;
            record(
                tx,
                &conversation,
                EventKind::MessageDeleted,
                message_snapshot(None, Some(&message.public_id)),
            );
            Ok((input.id.clone(), conversation))
        })
        .await
    }
}

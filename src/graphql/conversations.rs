//! GraphQL types, queries and mutations for conversations and their messages.
//! Resolvers decode and map; the rules live in `domain::conversations`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{ContactId, ConversationId, OrganizationId};
use crate::domain::contacts::{self, Contact};
use crate::domain::conversations::model::{self, Conversation};
use crate::domain::conversations::service;
use crate::domain::messages::model::{Container, Message};
use crate::graphql::context::{db, loader, staff_viewer};
use crate::graphql::enums::ChannelKind;
use crate::graphql::errors::{ApiError, payload};
use crate::graphql::loaders::{ByIds, FetchPages, fetch_by_ids};
use crate::graphql::mutation::mutations;
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

payload! {
    /// Result of `addConversationMessage` and `updateConversationMessage`.
    ConversationMessagePayload {
        message: Message,
        conversation: Conversation,
    }
}

payload! {
    /// Result of `deleteConversationMessage`.
    DeleteConversationMessagePayload {
        deleted_message_id: ID,
        conversation: Conversation,
    }
}

impl From<CreateConversationInput> for service::CreateConversation {
    fn from(input: CreateConversationInput) -> Self {
        service::CreateConversation {
            contact_id: input.contact_id.0,
            channel: input.channel.into(),
            happened_at: input.happened_at,
        }
    }
}

impl From<UpdateConversationInput> for service::UpdateConversation {
    fn from(input: UpdateConversationInput) -> Self {
        service::UpdateConversation {
            id: input.id.0,
            happened_at: input.happened_at,
            channel: input.channel.map(Into::into),
        }
    }
}

impl From<AddConversationMessageInput> for service::AddMessage {
    fn from(input: AddConversationMessageInput) -> Self {
        service::AddMessage {
            conversation_id: input.conversation_id.0,
            content: input.content,
            written_at: input.written_at,
            written_by_me: input.written_by_me,
        }
    }
}

impl From<UpdateConversationMessageInput> for service::UpdateMessage {
    fn from(input: UpdateConversationMessageInput) -> Self {
        service::UpdateMessage {
            id: input.id.0,
            content: input.content,
            written_at: input.written_at,
            written_by_me: input.written_by_me,
        }
    }
}

mutations! {
    /// `Mutation.createConversation` and the other conversation mutations.
    ConversationsMutation as staff_viewer, |tx, viewer| {
        /// Logs a conversation with a contact.
        fn create_conversation(input: CreateConversationInput) -> ConversationPayload {
            service::create_conversation(tx, &viewer, input.into()).await?
        }

        /// Changes when (or on which channel) a conversation happened.
        fn update_conversation(input: UpdateConversationInput) -> ConversationPayload {
            service::update_conversation(tx, &viewer, input.into()).await?
        }

        /// Deletes a conversation with its messages; returns its id.
        fn delete_conversation(input: DeleteConversationInput) -> DeleteConversationPayload {
            service::delete_conversation(tx, &viewer, &input.id).await?;
            input.id.clone()
        }

        /// Adds a message to a conversation.
        fn add_conversation_message(
            input: AddConversationMessageInput,
        ) -> ConversationMessagePayload {
            service::add_message(tx, &viewer, input.into()).await?
        }

        /// Changes a conversation message.
        fn update_conversation_message(
            input: UpdateConversationMessageInput,
        ) -> ConversationMessagePayload {
            service::update_message(tx, &viewer, input.into()).await?
        }

        /// Deletes a conversation message; returns its id.
        fn delete_conversation_message(
            input: DeleteConversationMessageInput,
        ) -> DeleteConversationMessagePayload {
            let conversation = service::delete_message(tx, &viewer, &input.id).await?;
            (input.id.clone(), conversation)
        }
    }
}

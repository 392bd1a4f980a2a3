//! GraphQL types, queries and mutations for contacts.
//! Resolvers decode and map; the contact rules live in `domain::contacts`.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{ContactId, OrganizationId};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::contacts::model::{self, Contact};
use crate::domain::contacts::service;
use crate::domain::conversations::Conversation;
use crate::domain::threads::Thread;
use crate::domain::validation::non_blank;
use crate::graphql::context::{db, may_see_details, staff_viewer, viewer};
use crate::graphql::conversations::ConversationConnectionFields;
use crate::graphql::errors::{ApiError, payload};
use crate::graphql::loaders::{fetch_by_ids, page_of};
use crate::graphql::mutation::mutations;
use crate::graphql::pagination::{Cursor, PageRequest};
use crate::graphql::threads::ThreadConnectionFields;

fetch_by_ids!(Contact: ContactId => model::by_ids);

/// Contact tokens see only their own contact.
fn only_contact(viewer: &Viewer) -> Option<ContactId> {
    match viewer.actor {
        Actor::Contact(id) => Some(id),
        Actor::User(_) | Actor::ApiKey(_) => None,
    }
}

/// The contact with this public id, as the viewer may see it.
pub async fn find_visible(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    public_id: &str,
) -> QueryResult<Option<Contact>> {
    let contact = model::find(conn, viewer.organization_id, public_id).await?;
    Ok(contact.filter(|c| only_contact(viewer).is_none_or(|own| own == c.id)))
}

/// An external person the organization talks to: a candidate, guest or customer.
#[Object]
impl Contact {
    /// Opaque id (`ctc_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> Option<&str> {
        self.last_name.as_deref()
    }
    async fn nickname(&self) -> Option<&str> {
        self.nickname.as_deref()
    }
    /// First and last name.
    async fn complete_name(&self) -> String {
        self.display_name()
    }
    /// Upper-case initials of the first and last name, e.g. `AL`.
    async fn initials(&self) -> String {
        [Some(&self.first_name), self.last_name.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|name| name.chars().next())
            .flat_map(char::to_uppercase)
            .collect()
    }
    /// Null for contact tokens other than this contact's own.
    async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
        self.email
            .as_deref()
            .filter(|_| may_see_details(ctx, Actor::Contact(self.id)))
    }
    /// Phone number in E.164 form, e.g. `+14155550100`. Null for contact
    /// tokens other than this contact's own.
    async fn phone(&self, ctx: &Context<'_>) -> Option<&str> {
        self.phone
            .as_deref()
            .filter(|_| may_see_details(ctx, Actor::Contact(self.id)))
    }
    async fn avatar_url(&self) -> Option<&str> {
        self.avatar_url.as_deref()
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.updated_at
    }

    /// Threads linked to this contact, newest first.
    async fn threads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Thread, ThreadConnectionFields>, ApiError> {
        staff_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let fields = ThreadConnectionFields::of_contact(self.organization_id, self.id);
        page_of(ctx, self.id, page, |thread: &Thread| thread.id, fields).await
    }

    /// Conversations with this contact, newest first.
    async fn conversations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Conversation, ConversationConnectionFields>, ApiError> {
        staff_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let fields = ConversationConnectionFields::of_contact(self.organization_id, self.id);
        page_of(ctx, self.id, page, |c: &Conversation| c.id, fields).await
    }
}

impl Contact {
    /// First and last name.
    pub fn display_name(&self) -> String {
        match &self.last_name {
            Some(last) => format!("{} {last}", self.first_name),
            None => self.first_name.clone(),
        }
    }
}

/// Extra fields of `ContactConnection`.
pub struct ContactConnectionFields {
    organization_id: OrganizationId,
    search: Option<String>,
}

#[Object]
impl ContactConnectionFields {
    /// How many contacts match, over all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.organization_id, self.search.as_deref()).await?)
    }
}

/// `Query.contacts` and `Query.contact`.
#[derive(Default)]
pub struct ContactsQuery;

#[Object]
impl ContactsQuery {
    /// The organization's contacts, oldest first. `search` keeps those where
    /// every word appears in a name, the nickname, the email or the phone.
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<Cursor, Contact, ContactConnectionFields>, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let search = search.and_then(|s| non_blank(&s));
        let mut conn = db(ctx).await?;
        let rows = model::page(&mut conn, viewer.organization_id, search.as_deref(), &page).await?;
        let fields = ContactConnectionFields {
            organization_id: viewer.organization_id,
            search,
        };
        Ok(page.into_connection(rows, |contact| contact.id, fields))
    }

    /// One contact; null when no contact the caller may see has this id.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Contact>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(find_visible(&mut conn, &viewer, &id).await?)
    }
}

/// Input of `createContact`.
#[derive(InputObject)]
pub struct CreateContactInput {
    pub first_name: String,
    pub last_name: Option<String>,
    pub nickname: Option<String>,
    pub email: Option<String>,
    /// A valid phone number with its country code, stored in E.164:
    /// `+1 (415) 555-0100` and `14155550100` become `+14155550100`. A number
    /// starting with 0 has no country code and is refused.
    pub phone: Option<String>,
    /// An absolute http(s) URL.
    pub avatar_url: Option<String>,
}

/// Input of `updateContact`: an omitted field is left alone, null clears it.
#[derive(InputObject)]
pub struct UpdateContactInput {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: MaybeUndefined<String>,
    pub nickname: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    /// As in `createContact`.
    pub phone: MaybeUndefined<String>,
    pub avatar_url: MaybeUndefined<String>,
}

/// Input of `deleteContact` and `createContactToken`.
#[derive(InputObject)]
pub struct DeleteContactInput {
    pub id: ID,
}

/// Input of `createContactToken`.
#[derive(InputObject)]
pub struct CreateContactTokenInput {
    pub contact_id: ID,
}

payload! {
    /// Result of `createContact` and `updateContact`.
    ContactPayload {
        /// The contact, or null when there are user errors.
        contact: Contact
    }
}

payload! {
    /// Result of `deleteContact`.
    DeleteContactPayload {
        /// The id of the deleted contact, or null when there are user errors.
        deleted_contact_id: ID
    }
}

payload! {
    /// Result of `createContactToken`.
    ContactTokenPayload {
        /// A bearer token acting as the contact (`cfc_…`), shown only now. It
        /// sees only the threads the contact subscribes to.
        token: String,
        contact: Contact,
    }
}

impl From<CreateContactInput> for service::CreateContact {
    fn from(input: CreateContactInput) -> Self {
        service::CreateContact {
            first_name: input.first_name,
            last_name: input.last_name,
            nickname: input.nickname,
            email: input.email,
            phone: input.phone,
            avatar_url: input.avatar_url,
        }
    }
}

impl From<UpdateContactInput> for service::UpdateContact {
    fn from(input: UpdateContactInput) -> Self {
        service::UpdateContact {
            id: input.id.0,
            first_name: input.first_name,
            last_name: input.last_name.into(),
            nickname: input.nickname.into(),
            email: input.email.into(),
            phone: input.phone.into(),
            avatar_url: input.avatar_url.into(),
        }
    }
}

mutations! {
    /// `Mutation.createContact`, `updateContact`, `deleteContact`, `createContactToken`.
    ContactsMutation as staff_viewer, |tx, viewer| {
        /// Creates a contact.
        fn create_contact(input: CreateContactInput) -> ContactPayload {
            service::create_contact(tx, &viewer, input.into()).await?
        }

        /// Changes a contact's fields.
        fn update_contact(input: UpdateContactInput) -> ContactPayload {
            service::update_contact(tx, &viewer, input.into()).await?
        }

        /// Deletes a contact; returns its id. Its conversations go with it;
        /// threads linked to it keep their messages and lose the link.
        fn delete_contact(input: DeleteContactInput) -> DeleteContactPayload {
            service::delete_contact(tx, &viewer, &input.id).await?;
            input.id.clone()
        }

        /// Issues a bearer token that acts as the contact (for a chat widget).
        fn create_contact_token(input: CreateContactTokenInput) -> ContactTokenPayload {
            service::issue_token(tx, &viewer, &input.contact_id).await?
        }
    }
}

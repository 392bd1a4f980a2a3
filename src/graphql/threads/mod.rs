//! GraphQL types for threads and their subscribers; the queries and the
//! mutations are in their own files.

mod mutations;
mod queries;

pub use mutations::{
    CreateThreadInput, CreateThreadPayload, ReadStateMutation, ThreadInput, ThreadSubscribersInput,
    ThreadsMutation, UpdateThreadInput,
};
pub use queries::{
    DateTimeInterval, ThreadConnectionFields, ThreadsFilter, ThreadsQuery, check_interval,
};

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, Months, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{ContactId, OrganizationId, SubscriberId, ThreadId};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::contacts::{self, Contact};
use crate::domain::errors::Change;
use crate::domain::messages::model::{Container, Message};
use crate::domain::organizations::{ApiKey, User};
use crate::domain::threads::model::{self, Interval, Thread, ThreadFilter, ThreadScope};
use crate::domain::threads::service;
use crate::domain::threads::subscribers::{self, Subscriber};
use crate::graphql::context::{db, loader, may_see_details, viewer};
use crate::graphql::enums::ChannelKind;
use crate::graphql::errors::{ApiError, UserErrorCode, payload};
use crate::graphql::loaders::{
    ByIds, Children, FetchPages, fetch_by_ids, fetch_children, load_by_id,
};
use crate::graphql::messages::{message_page, recent_messages};
use crate::graphql::mutation::mutations;
use crate::graphql::pagination::{Cursor, PageRequest};

/// Most ids the `ids` filter takes.
const MAX_FILTER_IDS: usize = 1000;
/// Longest interval a date filter may span, in months.
const MAX_INTERVAL_MONTHS: u32 = 3;

fetch_by_ids!(Thread: ThreadId => model::by_ids, Subscriber: SubscriberId => subscribers::by_ids);

impl FetchPages for Thread {
    type Parent = ContactId;

    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        contact_ids: &[ContactId],
        page: &PageRequest,
    ) -> QueryResult<Vec<(ContactId, Self)>> {
        let threads = model::page_per_contact(conn, organization_id, contact_ids, page).await?;
        Ok(threads
            .into_iter()
            .filter_map(|t| Some((t.contact_id?, t)))
            .collect())
    }
}

fetch_children! {
    /// The threads' subscribers (archived too), by thread id.
    SubscribersByThread: ThreadId => Subscriber = subscribers::of_threads, |s| Some((s.thread_id, s));
}

async fn subscribers_of(
    ctx: &Context<'_>,
    thread_id: ThreadId,
) -> Result<Vec<Subscriber>, ApiError> {
    Ok(loader::<Children<SubscribersByThread>>(ctx)?
        .load_one(thread_id)
        .await?
        .unwrap_or_default())
}

/// The live message container.
#[Object]
impl Thread {
    /// Opaque id: `thrd_<resourceId>` for a thread about a resource, else `thrd_…`.
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    async fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }
    async fn original_sender(&self) -> Option<&str> {
        self.original_sender.as_deref()
    }
    /// The channel the thread runs on.
    async fn channel(&self) -> Option<ChannelKind> {
        self.channel.map(Into::into)
    }
    /// The address on the channel: E.164 phone for WhatsApp and SMS, email, profile id.
    async fn identifier(&self) -> Option<&str> {
        self.identifier.as_deref()
    }
    async fn chatbot_paused(&self) -> bool {
        self.chatbot_paused
    }
    async fn is_resolved(&self) -> bool {
        self.is_resolved
    }
    /// The resource the thread is about; its id is then `thrd_<resourceId>`.
    async fn resource_id(&self) -> Option<&str> {
        self.resource_id.as_deref()
    }
    /// Where the resource is; follows it when it moves.
    async fn location_id(&self) -> Option<&str> {
        self.location_id.as_deref()
    }
    /// The linked contact. Once set it cannot change.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        load_by_id(ctx, self.contact_id).await
    }
    /// Subscribers, oldest first; archived (removed) ones only when asked for.
    async fn subscribers(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_archived: bool,
    ) -> Result<Vec<Subscriber>, ApiError> {
        let mut all = subscribers_of(ctx, self.id).await?;
        all.retain(|s| include_archived || !s.is_archived);
        Ok(all)
    }
    /// Staff with unread messages: active user and api-key subscribers,
    /// oldest first. Contacts are never listed (an SMS or WhatsApp contact
    /// rarely marks anything read); their own read state stays on their
    /// `Subscriber` (`viewedAt`, `unreadCount`) and in `Thread.unreadCount`
    /// for a contact token.
    async fn unread_by(&self, ctx: &Context<'_>) -> Result<Vec<Subscriber>, ApiError> {
        let mut all = subscribers_of(ctx, self.id).await?;
        all.retain(|s| {
            !s.is_archived
                && s.unread_count > 0
                && matches!(s.member(), Some(Actor::User(_) | Actor::ApiKey(_)))
        });
        Ok(all)
    }
    /// Messages the caller has not read (0 when it does not subscribe).
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<i32, ApiError> {
        let viewer = viewer(ctx)?;
        let all = subscribers_of(ctx, self.id).await?;
        Ok(all
            .iter()
            .find(|s| !s.is_archived && s.member() == Some(viewer.actor))
            .map_or(0, |s| s.unread_count))
    }
    /// Messages, oldest first. `last: 50` gives the newest 50; page back with `before`.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Message>, ApiError> {
        let page = PageRequest::new(first, after, last, before)?;
        message_page(ctx, Container::Thread(self.id), page).await
    }
    /// The newest 150 messages, oldest first.
    async fn recent_messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>, ApiError> {
        Ok(recent_messages(ctx, Container::Thread(self.id)).await?.0)
    }
    /// Whether there are messages older than `recentMessages`.
    async fn has_more(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        Ok(recent_messages(ctx, Container::Thread(self.id)).await?.1)
    }
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.last_message_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// What kind of member a subscriber is.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriberKind {
    User,
    ApiKey,
    Contact,
}

/// A user, api key or contact in a thread, with its read state. Removing a
/// subscriber archives it, so its old messages keep their author.
#[Object]
impl Subscriber {
    /// Opaque id (`sub_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn kind(&self) -> Option<SubscriberKind> {
        Some(match self.member()? {
            Actor::User(_) => SubscriberKind::User,
            Actor::ApiKey(_) => SubscriberKind::ApiKey,
            Actor::Contact(_) => SubscriberKind::Contact,
        })
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, ApiError> {
        load_by_id(ctx, self.user_id).await
    }
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>, ApiError> {
        load_by_id(ctx, self.api_key_id).await
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        load_by_id(ctx, self.contact_id).await
    }
    /// The member's display name.
    async fn name(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self.details(ctx).await?.map(|d| d.name))
    }
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self.details(ctx).await?.and_then(|d| d.email))
    }
    /// E.164 phone (contacts only).
    async fn phone(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(self.details(ctx).await?.and_then(|d| d.phone))
    }
    /// When the subscriber last marked the thread read.
    async fn viewed_at(&self) -> Option<DateTime<Utc>> {
        self.viewed_at
    }
    async fn unread_count(&self) -> i32 {
        self.unread_count
    }
    async fn is_archived(&self) -> bool {
        self.is_archived
    }
    async fn joined_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn thread(&self, ctx: &Context<'_>) -> Result<Option<Thread>, ApiError> {
        loader::<ByIds<Thread>>(ctx)?.load_one(self.thread_id).await
    }
}

/// Name, email and phone of a member (user, api key or contact).
pub struct MemberDetails {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
}

impl From<User> for MemberDetails {
    fn from(user: User) -> Self {
        MemberDetails {
            name: user.name,
            email: Some(user.email),
            phone: None,
        }
    }
}

impl From<ApiKey> for MemberDetails {
    fn from(key: ApiKey) -> Self {
        MemberDetails {
            name: key.name,
            email: None,
            phone: None,
        }
    }
}

impl From<Contact> for MemberDetails {
    fn from(contact: Contact) -> Self {
        MemberDetails {
            name: contact.display_name(),
            email: contact.email,
            phone: contact.phone,
        }
    }
}

/// Looks up a member's details through the request's loaders.
pub async fn member_details(
    ctx: &Context<'_>,
    member: Option<Actor>,
) -> Result<Option<MemberDetails>, ApiError> {
    let details: Option<MemberDetails> = match member {
        Some(Actor::User(id)) => load_by_id::<User>(ctx, Some(id)).await?.map(Into::into),
        Some(Actor::ApiKey(id)) => load_by_id::<ApiKey>(ctx, Some(id)).await?.map(Into::into),
        Some(Actor::Contact(id)) => load_by_id::<Contact>(ctx, Some(id)).await?.map(Into::into),
        None => None,
    };
    Ok(details.map(|details| match member {
        Some(member) if may_see_details(ctx, member) => details,
        _ => MemberDetails {
            email: None,
            phone: None,
            ..details
        },
    }))
}

impl Subscriber {
    async fn details(&self, ctx: &Context<'_>) -> Result<Option<MemberDetails>, ApiError> {
        member_details(ctx, self.member()).await
    }
}

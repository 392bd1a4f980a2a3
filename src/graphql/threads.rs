//! GraphQL types, queries and mutations for threads and their subscribers.

use std::collections::HashMap;

use async_graphql::connection::Connection;
use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Months, Utc};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};

use crate::domain::threads::model::{self, Interval, NewThread, Thread, ThreadChanges, ThreadFilter, ThreadScope};
use crate::domain::threads::subscribers::{self, Subscriber};
use crate::domain::auth::{Actor, Viewer};
use crate::graphql::enums::ChannelKind;
use crate::domain::contacts::{self, Contact};
use crate::db::DbPool;
use crate::domain::events::{self, EventKind, EventPayload, NewEvent};
use crate::graphql::context::{db, loader, may_see_details, staff_viewer, viewer};
use crate::graphql::errors::{
    ApiError, MutationError, Payload, UserError, UserErrorCode, is_unique_violation, payload,
};
use crate::graphql::input::{InputErrors, changed};
use crate::graphql::loaders::{ByIds, FetchByIds, FetchPages, NewLoader};
use crate::graphql::pagination::{KeyCursor, PageRequest};
use crate::db::ids::IdKind;
use crate::domain::messages::model::{Container, Message, NewMessage, Owner};
use crate::graphql::messages::{message_page, recent_messages};
use crate::domain::organizations::{ApiKey, User};
use crate::domain::validation::MAX_SHORT_TEXT;

/// Most ids the `ids` filter takes.
const MAX_FILTER_IDS: usize = 1000;
/// Most subscribers added or removed at once.
const MAX_SUBSCRIBER_CHANGES: usize = 100;
/// Longest interval a date filter may span, in months.
const MAX_INTERVAL_MONTHS: u32 = 3;

impl FetchByIds for Thread {
    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: i64,
        ids: &[i64],
    ) -> QueryResult<Vec<Self>> {
        model::by_ids(conn, organization_id, ids).await
    }

    fn key(&self) -> i64 {
        self.id
    }
}

impl FetchPages for Thread {
    type Parent = i64;

    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: i64,
        contact_ids: &[i64],
        page: &PageRequest,
    ) -> QueryResult<Vec<(i64, Self)>> {
        let threads = model::page_per_contact(conn, organization_id, contact_ids, page).await?;
        Ok(threads
            .into_iter()
            .map(|t| (t.contact_id.unwrap_or_default(), t))
            .collect())
    }
}

impl FetchByIds for Subscriber {
    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: i64,
        ids: &[i64],
    ) -> QueryResult<Vec<Self>> {
        subscribers::by_ids(conn, organization_id, ids).await
    }

    fn key(&self) -> i64 {
        self.id
    }
}

/// Loads the threads' subscribers (archived too), by thread id.
pub struct SubscribersByThread {
    pub pool: DbPool,
    pub organization_id: i64,
}

impl NewLoader for SubscribersByThread {
    fn create(pool: DbPool, organization_id: i64) -> Self {
        SubscribersByThread {
            pool,
            organization_id,
        }
    }
}

impl Loader<i64> for SubscribersByThread {
    type Value = Vec<Subscriber>;
    type Error = ApiError;

    async fn load(&self, thread_ids: &[i64]) -> Result<HashMap<i64, Vec<Subscriber>>, ApiError> {
        let mut conn = self.pool.get().await?;
        let mut by_thread: HashMap<i64, Vec<Subscriber>> = HashMap::new();
        for subscriber in
            subscribers::of_threads(&mut conn, self.organization_id, thread_ids).await?
        {
            by_thread
                .entry(subscriber.thread_id)
                .or_default()
                .push(subscriber);
        }
        Ok(by_thread)
    }
}

async fn subscribers_of(ctx: &Context<'_>, thread_id: i64) -> Result<Vec<Subscriber>, ApiError> {
    Ok(loader::<SubscribersByThread>(ctx)?
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
        self.channel.as_deref().and_then(ChannelKind::parse)
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
        match self.contact_id {
            Some(id) => loader::<ByIds<Contact>>(ctx)?.load_one(id).await,
            None => Ok(None),
        }
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
    ) -> Result<Connection<KeyCursor, Message>, ApiError> {
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
        match self.user_id {
            Some(id) => loader::<ByIds<User>>(ctx)?.load_one(id).await,
            None => Ok(None),
        }
    }
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>, ApiError> {
        match self.api_key_id {
            Some(id) => loader::<ByIds<ApiKey>>(ctx)?.load_one(id).await,
            None => Ok(None),
        }
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        match self.contact_id {
            Some(id) => loader::<ByIds<Contact>>(ctx)?.load_one(id).await,
            None => Ok(None),
        }
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

/// Looks up a member's details through the request's loaders.
pub async fn member_details(
    ctx: &Context<'_>,
    member: Option<Actor>,
) -> Result<Option<MemberDetails>, ApiError> {
    Ok(match member {
        Some(Actor::User(id)) => {
            loader::<ByIds<User>>(ctx)?
                .load_one(id)
                .await?
                .map(|u| MemberDetails {
                    name: u.name,
                    email: Some(u.email),
                    phone: None,
                })
        }
        Some(Actor::ApiKey(id)) => {
            loader::<ByIds<ApiKey>>(ctx)?
                .load_one(id)
                .await?
                .map(|k| MemberDetails {
                    name: k.name,
                    email: None,
                    phone: None,
                })
        }
        Some(Actor::Contact(id)) => {
            loader::<ByIds<Contact>>(ctx)?
                .load_one(id)
                .await?
                .map(|c| MemberDetails {
                    name: c.display_name(),
                    email: c.email,
                    phone: c.phone,
                })
        }
        None => None,
    }
    .map(|details| match member {
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

/// A time interval, both ends included.
#[derive(InputObject, Clone, Copy)]
pub struct DateTimeInterval {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Filters of `threads`; all given ones must match.
#[derive(InputObject, Default)]
pub struct ThreadsFilter {
    /// Only these threads (at most 1000 ids).
    pub ids: Option<Vec<ID>>,
    /// Created within this interval (at most 3 months long).
    pub created_at: Option<DateTimeInterval>,
    /// Last changed within this interval (at most 3 months long).
    pub updated_at: Option<DateTimeInterval>,
    pub channel: Option<ChannelKind>,
    pub contact_id: Option<ID>,
    pub is_resolved: Option<bool>,
    /// Only threads where the caller has unread messages.
    #[graphql(default = false)]
    pub unread_only: bool,
}

fn check_interval(
    name: &str,
    interval: Option<DateTimeInterval>,
) -> Result<Option<Interval>, ApiError> {
    let Some(DateTimeInterval { start, end }) = interval else {
        return Ok(None);
    };
    if end < start {
        return Err(ApiError::bad_input(
            UserErrorCode::IntervalReversed,
            format!("`{name}` ends before it starts"),
        ));
    }
    let longest = start.checked_add_months(Months::new(MAX_INTERVAL_MONTHS));
    if longest.is_none_or(|longest| end > longest) {
        return Err(ApiError::bad_input(
            UserErrorCode::IntervalTooLong,
            format!("`{name}` may span at most {MAX_INTERVAL_MONTHS} months"),
        ));
    }
    Ok(Some((start, end)))
}

impl ThreadsFilter {
    async fn validate(
        self,
        conn: &mut AsyncPgConnection,
        viewer: &Viewer,
    ) -> Result<Option<ThreadFilter>, ApiError> {
        if let Some(ids) = &self.ids
            && ids.len() > MAX_FILTER_IDS
        {
            return Err(ApiError::bad_input(
                UserErrorCode::TooManyIds,
                format!(
                    "`ids` takes at most {MAX_FILTER_IDS} ids, got {}",
                    ids.len()
                ),
            ));
        }
        let mut filter = ThreadFilter {
            public_ids: self.ids.map(|ids| ids.into_iter().map(|id| id.0).collect()),
            created_between: check_interval("createdAt", self.created_at)?,
            updated_between: check_interval("updatedAt", self.updated_at)?,
            channel: self.channel.map(|c| c.as_str().to_string()),
            contact_id: None,
            is_resolved: self.is_resolved,
            unread_for: self.unread_only.then_some(viewer.actor),
        };
        if let Some(contact_id) = self.contact_id {
            match contacts::model::find(conn, viewer.organization_id, &contact_id).await? {
                Some(contact) => filter.contact_id = Some(contact.id),
                // No such contact: nothing can match.
                None => return Ok(None),
            }
        }
        Ok(Some(filter))
    }
}

/// Extra fields of `ThreadConnection`.
pub struct ThreadConnectionFields {
    scope: ThreadScope,
    /// `None` when the filter can match nothing.
    filter: Option<ThreadFilter>,
}

impl ThreadConnectionFields {
    /// Fields of a connection over the threads linked to a contact.
    pub fn of_contact(organization_id: i64, contact_id: i64) -> Self {
        ThreadConnectionFields {
            scope: ThreadScope {
                organization_id,
                only_contact: None,
            },
            filter: Some(ThreadFilter {
                contact_id: Some(contact_id),
                ..ThreadFilter::default()
            }),
        }
    }
}

#[Object]
impl ThreadConnectionFields {
    /// How many threads match, over all pages. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let Some(filter) = &self.filter else {
            return Ok(0);
        };
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.scope, filter).await?)
    }
}

/// `Query.thread`, `threadByChannel`, `threadByResource`, `threads`.
#[derive(Default)]
pub struct ThreadsQuery;

#[Object]
impl ThreadsQuery {
    /// One thread; null when the caller cannot see one with this id.
    async fn thread(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, ThreadScope::of(&viewer), &id).await?)
    }

    /// The thread on `channel` with `identifier` (phones in E.164).
    async fn thread_by_channel(
        &self,
        ctx: &Context<'_>,
        channel: ChannelKind,
        identifier: String,
    ) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut errors = InputErrors::default();
        let Some(identifier) = check_identifier(&mut errors, channel, &identifier) else {
            return Ok(None);
        };
        let mut conn = db(ctx).await?;
        Ok(model::find_by_channel(
            &mut conn,
            ThreadScope::of(&viewer),
            channel.as_str(),
            &identifier,
        )
        .await?)
    }

    /// The thread about `resourceId` (the same as `thread(id: "thrd_<resourceId>")`).
    async fn thread_by_resource(
        &self,
        ctx: &Context<'_>,
        resource_id: String,
    ) -> Result<Option<Thread>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find_by_resource(&mut conn, ThreadScope::of(&viewer), &resource_id).await?)
    }

    /// The threads the caller can see, newest first.
    async fn threads(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        filter: Option<ThreadsFilter>,
    ) -> Result<Connection<KeyCursor, Thread, ThreadConnectionFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let scope = ThreadScope::of(&viewer);
        let page = PageRequest::new(first, after, last, before)?;
        let mut conn = db(ctx).await?;
        let filter = filter
            .unwrap_or_default()
            .validate(&mut conn, &viewer)
            .await?;
        let rows = match &filter {
            Some(filter) => model::page(&mut conn, scope, filter, &page).await?,
            None => Vec::new(),
        };
        Ok(page.into_connection(rows, |t| t.id, ThreadConnectionFields { scope, filter }))
    }
}

/// Input of `createThread`.
#[derive(InputObject, Default)]
pub struct CreateThreadInput {
    /// Make the thread about this resource: its id becomes `thrd_<resourceId>`,
    /// and if that thread exists it is returned as it is.
    pub resource_id: Option<String>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub original_sender: Option<String>,
    pub channel: Option<ChannelKind>,
    /// The address on the channel. On WhatsApp and SMS a valid phone number
    /// with its country code, stored in E.164: `+31 6 12345678` and
    /// `31612345678` become `+31612345678`; `0612345678` has no country code
    /// and is refused.
    pub identifier: Option<String>,
    pub chatbot_paused: Option<bool>,
    pub is_resolved: Option<bool>,
    pub location_id: Option<String>,
    pub contact_id: Option<ID>,
    /// Users, api keys or contacts to subscribe (`usr_…`, `key_…`, `ctc_…`).
    pub member_ids: Option<Vec<ID>>,
}

/// Input of `updateThread`: an omitted field is left alone, null clears it.
#[derive(InputObject)]
pub struct UpdateThreadInput {
    pub id: ID,
    pub name: MaybeUndefined<String>,
    pub subject: MaybeUndefined<String>,
    pub channel: MaybeUndefined<ChannelKind>,
    pub identifier: MaybeUndefined<String>,
    pub chatbot_paused: Option<bool>,
    pub is_resolved: Option<bool>,
    pub location_id: MaybeUndefined<String>,
    /// Links a contact while the thread has none. Once set the link is
    /// immutable: another contact or null is `CONTACT_IMMUTABLE` (the same
    /// contact again changes nothing); null on a thread without a contact
    /// changes nothing either.
    pub contact_id: MaybeUndefined<ID>,
}

/// Input of `deleteThread`, `markThreadRead`, `markThreadUnread`.
#[derive(InputObject)]
pub struct ThreadInput {
    pub id: ID,
}

/// Input of `addThreadSubscribers` and `removeThreadSubscribers`.
#[derive(InputObject)]
pub struct ThreadSubscribersInput {
    pub thread_id: ID,
    /// Users, api keys or contacts (`usr_…`, `key_…`, `ctc_…`), at most 100.
    pub member_ids: Vec<ID>,
}

payload! {
    /// Result of the thread mutations.
    ThreadPayload {
        /// The thread, or null when there are user errors.
        thread: Thread
    }
}

/// Result of `createThread`.
#[derive(SimpleObject)]
pub struct CreateThreadPayload {
    pub thread: Option<Thread>,
    /// False when a thread about the resource existed and was returned.
    pub created: bool,
    pub user_errors: Vec<UserError>,
}

impl Payload<(Thread, bool)> for CreateThreadPayload {
    fn done((thread, created): (Thread, bool)) -> Self {
        CreateThreadPayload {
            thread: Some(thread),
            created,
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        CreateThreadPayload {
            thread: None,
            created: false,
            user_errors,
        }
    }
}

payload! {
    /// Result of `deleteThread`.
    DeleteThreadPayload {
        deleted_thread_id: ID
    }
}

/// Validates an identifier for a channel: E.164 on phone channels, an
/// email address on email, else any short text.
fn check_identifier(
    errors: &mut InputErrors,
    channel: ChannelKind,
    identifier: &str,
) -> Option<String> {
    if channel.uses_phone_numbers() {
        let phone = crate::domain::validation::normalize_e164(identifier);
        if phone.is_none() {
            errors.push(
                "identifier",
                UserErrorCode::InvalidPhone,
                format!(
                    "on {} the identifier must be a valid phone number with its country code (E.164), e.g. +14155550100; got {identifier:?}",
                    channel.as_str()
                ),
            );
        }
        phone
    } else if channel == ChannelKind::Email {
        errors.optional_email("identifier", Some(identifier))
    } else {
        errors.required_text("identifier", identifier, MAX_SHORT_TEXT)
    }
}

/// The channel/identifier pair a thread ends up with, validated.
fn check_channel_identifier(
    errors: &mut InputErrors,
    channel: Option<ChannelKind>,
    identifier: Option<&str>,
) -> Option<String> {
    let identifier = identifier.filter(|i| !i.trim().is_empty())?;
    match channel {
        Some(channel) => check_identifier(errors, channel, identifier),
        None => {
            errors.push(
                "channel",
                UserErrorCode::Required,
                "an identifier needs a channel",
            );
            None
        }
    }
}

/// The contact change `updateThread` makes: the link is set once and then
/// immutable, so clearing it or pointing it elsewhere is `CONTACT_IMMUTABLE`.
async fn check_contact_link(
    conn: &mut AsyncPgConnection,
    errors: &mut InputErrors,
    thread: &Thread,
    contact_id: &MaybeUndefined<ID>,
) -> QueryResult<Option<Option<i64>>> {
    let immutable = |errors: &mut InputErrors| {
        errors.push(
            "contactId",
            UserErrorCode::ContactImmutable,
            "the thread's contact is already set and cannot change or be cleared",
        );
    };
    match contact_id {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => {
            if thread.contact_id.is_some() {
                immutable(errors);
            }
            Ok(None)
        }
        MaybeUndefined::Value(contact_id) => {
            match contacts::model::find(conn, thread.organization_id, contact_id).await? {
                None => errors.push_error(UserError::not_found("contactId", contact_id)),
                Some(contact) if thread.contact_id.is_some_and(|linked| linked != contact.id) => {
                    immutable(errors)
                }
                Some(contact) => return Ok(Some(Some(contact.id))),
            }
            Ok(None)
        }
    }
}

fn duplicate_identifier() -> MutationError {
    MutationError::on_input(
        "identifier",
        UserErrorCode::Duplicate,
        "another thread of the organization has this channel and identifier",
    )
}

/// Maps the unique violations a thread write can hit to user errors.
fn thread_write_error(error: diesel::result::Error) -> MutationError {
    if is_unique_violation(&error, "threads_channel_identifier_unique") {
        duplicate_identifier()
    } else if is_unique_violation(&error, "threads_resource_unique") {
        MutationError::on_input(
            "resourceId",
            UserErrorCode::Duplicate,
            "a thread about this resource exists",
        )
    } else {
        error.into()
    }
}

/// A user, api key or contact of the organization, by public id, with its
/// display name.
pub async fn find_member(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    public_id: &str,
) -> QueryResult<Option<(Actor, String)>> {
    use crate::domain::organizations::model as orgs;
    Ok(match IdKind::of(public_id) {
        Some(IdKind::User) => orgs::find_user(conn, organization_id, public_id)
            .await?
            .map(|u| (Actor::User(u.id), u.name)),
        Some(IdKind::ApiKey) => orgs::find_api_key(conn, organization_id, public_id)
            .await?
            .map(|k| (Actor::ApiKey(k.id), k.name)),
        Some(IdKind::Contact) => contacts::model::find(conn, organization_id, public_id)
            .await?
            .map(|c| (Actor::Contact(c.id), c.display_name())),
        _ => None,
    })
}

/// A member's public id and display name, in the order given; members that
/// no longer exist are left out. At most one query per kind of member.
pub async fn describe_members(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    members: &[Actor],
) -> QueryResult<Vec<(Actor, String, String)>> {
    use crate::domain::organizations::model as orgs;
    let ids = |kind: fn(Actor) -> Option<i64>| {
        members
            .iter()
            .filter_map(|m| kind(*m))
            .collect::<Vec<i64>>()
    };
    let users = ids(|m| {
        if let Actor::User(id) = m {
            Some(id)
        } else {
            None
        }
    });
    let keys = ids(|m| {
        if let Actor::ApiKey(id) = m {
            Some(id)
        } else {
            None
        }
    });
    let contacts = ids(|m| {
        if let Actor::Contact(id) = m {
            Some(id)
        } else {
            None
        }
    });
    let mut described = std::collections::HashMap::new();
    if !users.is_empty() {
        for u in orgs::users_by_ids(conn, organization_id, &users).await? {
            described.insert(Actor::User(u.id), (u.public_id, u.name));
        }
    }
    if !keys.is_empty() {
        for k in orgs::api_keys_by_ids(conn, organization_id, &keys).await? {
            described.insert(Actor::ApiKey(k.id), (k.public_id, k.name));
        }
    }
    if !contacts.is_empty() {
        for c in contacts::model::by_ids(conn, organization_id, &contacts).await? {
            let name = c.display_name();
            described.insert(Actor::Contact(c.id), (c.public_id, name));
        }
    }
    Ok(members
        .iter()
        .filter_map(|m| {
            described
                .remove(m)
                .map(|(public_id, name)| (*m, public_id, name))
        })
        .collect())
}

/// The display name of a member, for meta messages.
pub async fn member_name(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    member: Actor,
) -> QueryResult<String> {
    let described = describe_members(conn, organization_id, &[member]).await?;
    Ok(described
        .into_iter()
        .next()
        .map_or_else(|| "someone".to_string(), |(_, _, name)| name))
}

/// Resolves member ids, recording `NOT_FOUND` for each unknown one.
async fn find_members(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    field: &str,
    ids: &[ID],
    errors: &mut InputErrors,
) -> QueryResult<Vec<(Actor, String)>> {
    let mut members = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        match find_member(conn, organization_id, id).await? {
            Some(member) => members.push(member),
            None => errors.push_error(UserError {
                field: Some(vec![
                    "input".to_string(),
                    field.to_string(),
                    index.to_string(),
                ]),
                message: format!("no user, api key or contact with id {:?}", id.as_str()),
                code: UserErrorCode::NotFound,
            }),
        }
    }
    Ok(members)
}

/// Appends an event about a thread (in the caller's transaction).
pub async fn record(
    conn: &mut AsyncPgConnection,
    thread: &Thread,
    kind: EventKind,
    payload: EventPayload,
) -> QueryResult<i64> {
    events::append(
        conn,
        thread.organization_id,
        NewEvent::thread(kind, thread, payload),
    )
    .await
}

/// Records a join or a leave: the event, and a meta message (with its own event).
async fn record_membership(
    conn: &mut AsyncPgConnection,
    thread: &Thread,
    subscriber: &Subscriber,
    name: &str,
    kind: EventKind,
) -> QueryResult<Message> {
    let (verb, event) = match kind {
        EventKind::SubscriberJoined => ("joined", "subscriber_joined"),
        _ => ("left", "subscriber_left"),
    };
    let mut meta = NewMessage::new(
        thread.organization_id,
        Owner::Thread(thread.id),
        "meta",
        format!("{name} {verb}"),
    );
    meta.event = Some(event.to_string());
    let message = crate::domain::messages::model::insert(conn, &meta).await?;
    let membership = EventPayload {
        subscriber: Some(subscriber.clone()),
        ..EventPayload::default()
    };
    record(conn, thread, kind, membership).await?;
    let added = EventPayload {
        message: Some(message.clone()),
        ..EventPayload::default()
    };
    record(conn, thread, EventKind::MessageAdded, added).await?;
    Ok(message)
}

/// Subscribes a member to a locked thread, recording the join when it is new.
pub async fn join_thread(
    conn: &mut AsyncPgConnection,
    thread: &Thread,
    member: Actor,
    name: &str,
) -> QueryResult<Subscriber> {
    let (subscriber, joined) =
        subscribers::join(conn, thread.organization_id, thread.id, member).await?;
    if joined {
        record_membership(conn, thread, &subscriber, name, EventKind::SubscriberJoined).await?;
    }
    Ok(subscriber)
}

/// `Mutation.createThread` and the other thread mutations.
#[derive(Default)]
pub struct ThreadsMutation;

#[Object]
impl ThreadsMutation {
    /// Creates a thread, or returns the existing thread about `resourceId`.
    async fn create_thread(
        &self,
        ctx: &Context<'_>,
        input: CreateThreadInput,
    ) -> Result<CreateThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let org = viewer.organization_id;
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let mut errors = InputErrors::default();
                let resource_id = errors.optional_text(
                    "resourceId",
                    input.resource_id.as_deref(),
                    MAX_SHORT_TEXT,
                );
                let mut new = NewThread {
                    organization_id: org,
                    public_id: match &resource_id {
                        Some(resource) => format!("{}_{resource}", IdKind::Thread.prefix()),
                        None => IdKind::Thread.generate(),
                    },
                    name: errors.optional_text("name", input.name.as_deref(), MAX_SHORT_TEXT),
                    subject: errors.optional_text(
                        "subject",
                        input.subject.as_deref(),
                        MAX_SHORT_TEXT,
                    ),
                    original_sender: errors.optional_text(
                        "originalSender",
                        input.original_sender.as_deref(),
                        MAX_SHORT_TEXT,
                    ),
                    channel: input.channel.map(|c| c.as_str().to_string()),
                    identifier: check_channel_identifier(
                        &mut errors,
                        input.channel,
                        input.identifier.as_deref(),
                    ),
                    chatbot_paused: input.chatbot_paused.unwrap_or(false),
                    is_resolved: input.is_resolved.unwrap_or(false),
                    resource_id: resource_id.clone(),
                    location_id: errors.optional_text(
                        "locationId",
                        input.location_id.as_deref(),
                        MAX_SHORT_TEXT,
                    ),
                    contact_id: None,
                };
                if let Some(contact_id) = &input.contact_id {
                    match contacts::model::find(conn, org, contact_id).await? {
                        Some(contact) => new.contact_id = Some(contact.id),
                        None => errors.push_error(UserError::not_found("contactId", contact_id)),
                    }
                }
                let members = find_members(
                    conn,
                    org,
                    "memberIds",
                    input.member_ids.as_deref().unwrap_or_default(),
                    &mut errors,
                )
                .await?;
                errors.finish()?;

                let (thread, created) = if resource_id.is_some() {
                    model::insert_or_get(conn, &new)
                        .await
                        .map_err(thread_write_error)?
                } else {
                    (
                        model::insert(conn, &new)
                            .await
                            .map_err(thread_write_error)?,
                        true,
                    )
                };
                if !created {
                    if thread.resource_id != resource_id {
                        return Err(MutationError::on_input(
                            "resourceId",
                            UserErrorCode::Duplicate,
                            "another thread already has this id",
                        ));
                    }
                    return Ok((thread, false));
                }
                let created = EventPayload {
                    thread: Some(thread.clone()),
                    ..EventPayload::default()
                };
                record(conn, &thread, EventKind::ThreadCreated, created).await?;
                for (member, name) in members {
                    join_thread(conn, &thread, member, &name).await?;
                }
                Ok((thread, true))
            })
            .await;
        CreateThreadPayload::from_result(result)
    }

    /// Changes a thread. The contact can be set only while it is unset.
    async fn update_thread(
        &self,
        ctx: &Context<'_>,
        input: UpdateThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let scope = ThreadScope::of(&viewer);
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let thread = model::find_for_update(conn, scope, &input.id)
                    .await?
                    .ok_or_else(|| MutationError::not_found("id", &input.id))?;
                let mut errors = InputErrors::default();
                let mut changes = ThreadChanges {
                    name: changed(input.name.clone(), |v| {
                        errors.optional_text("name", Some(&v), MAX_SHORT_TEXT)
                    }),
                    subject: changed(input.subject.clone(), |v| {
                        errors.optional_text("subject", Some(&v), MAX_SHORT_TEXT)
                    }),
                    channel: changed(input.channel, |c| Some(c.as_str().to_string())),
                    identifier: None,
                    chatbot_paused: input.chatbot_paused,
                    is_resolved: input.is_resolved,
                    location_id: changed(input.location_id.clone(), |v| {
                        errors.optional_text("locationId", Some(&v), MAX_SHORT_TEXT)
                    }),
                    contact_id: None,
                };
                // Check the pair the thread ends up with, whichever half changed.
                if changes.channel.is_some() || !input.identifier.is_undefined() {
                    let channel = match &changes.channel {
                        Some(channel) => channel.as_deref(),
                        None => thread.channel.as_deref(),
                    }
                    .and_then(ChannelKind::parse);
                    let identifier = match &input.identifier {
                        MaybeUndefined::Undefined => thread.identifier.clone(),
                        MaybeUndefined::Null => None,
                        MaybeUndefined::Value(value) => Some(value.clone()),
                    };
                    changes.identifier = Some(check_channel_identifier(
                        &mut errors,
                        channel,
                        identifier.as_deref(),
                    ));
                }
                changes.contact_id =
                    check_contact_link(conn, &mut errors, &thread, &input.contact_id).await?;
                errors.finish()?;
                let thread = model::update(conn, thread.id, &changes)
                    .await
                    .map_err(thread_write_error)?;
                let updated = EventPayload {
                    thread: Some(thread.clone()),
                    ..EventPayload::default()
                };
                record(conn, &thread, EventKind::ThreadUpdated, updated).await?;
                Ok(thread)
            })
            .await;
        ThreadPayload::from_result(result)
    }

    /// Deletes a thread with its messages; returns its id.
    async fn delete_thread(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<DeleteThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let thread = model::find_for_update(conn, ThreadScope::of(&viewer), &input.id)
                    .await?
                    .ok_or_else(|| MutationError::not_found("id", &input.id))?;
                model::delete(conn, thread.id).await?;
                record(
                    conn,
                    &thread,
                    EventKind::ThreadDeleted,
                    EventPayload::default(),
                )
                .await?;
                Ok(input.id.clone())
            })
            .await;
        DeleteThreadPayload::from_result(result)
    }

    /// Subscribes users, api keys or contacts; a meta message records each join.
    async fn add_thread_subscribers(
        &self,
        ctx: &Context<'_>,
        input: ThreadSubscribersInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let thread = locked_thread(conn, &viewer, "threadId", &input.thread_id).await?;
                let members = checked_members(conn, &viewer, &input).await?;
                for (member, name) in members {
                    join_thread(conn, &thread, member, &name).await?;
                }
                Ok(model::touch(conn, thread.id, None).await?)
            })
            .await;
        ThreadPayload::from_result(result)
    }

    /// Removes subscribers by archiving them (their messages keep their
    /// author); a meta message records each leave.
    async fn remove_thread_subscribers(
        &self,
        ctx: &Context<'_>,
        input: ThreadSubscribersInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let thread = locked_thread(conn, &viewer, "threadId", &input.thread_id).await?;
                let members = checked_members(conn, &viewer, &input).await?;
                let mut errors = InputErrors::default();
                let mut leaving = Vec::new();
                for (index, (member, name)) in members.into_iter().enumerate() {
                    match subscribers::find_member(conn, thread.id, member).await? {
                        Some(subscriber) if !subscriber.is_archived => {
                            leaving.push((subscriber, name))
                        }
                        _ => errors.push_error(UserError {
                            field: Some(vec![
                                "input".into(),
                                "memberIds".into(),
                                index.to_string(),
                            ]),
                            message: format!("{name} does not subscribe to this thread"),
                            code: UserErrorCode::NotASubscriber,
                        }),
                    }
                }
                errors.finish()?;
                for (subscriber, name) in leaving {
                    let archived = subscribers::archive(conn, subscriber.id).await?;
                    record_membership(conn, &thread, &archived, &name, EventKind::SubscriberLeft)
                        .await?;
                }
                Ok(model::touch(conn, thread.id, None).await?)
            })
            .await;
        ThreadPayload::from_result(result)
    }

    /// Marks the thread read for the caller (sets its `viewedAt`).
    async fn mark_thread_read(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        self.set_read_state(ctx, input, true).await
    }

    /// Marks the thread unread for the caller.
    async fn mark_thread_unread(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        self.set_read_state(ctx, input, false).await
    }
}

impl ThreadsMutation {
    async fn set_read_state(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
        read: bool,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        let result = conn
            .transaction::<_, MutationError, _>(async |conn| {
                let thread = locked_thread(conn, &viewer, "id", &input.id).await?;
                let subscriber = subscribers::find_member(conn, thread.id, viewer.actor)
                    .await?
                    .filter(|s| !s.is_archived)
                    .ok_or_else(|| {
                        MutationError::on_input(
                            "id",
                            UserErrorCode::NotASubscriber,
                            "you do not subscribe to this thread",
                        )
                    })?;
                let subscriber = if read {
                    subscribers::mark_read(conn, subscriber.id).await?
                } else {
                    subscribers::mark_unread(conn, &subscriber).await?
                };
                let receipt = EventPayload {
                    subscriber: Some(subscriber),
                    ..EventPayload::default()
                };
                record(conn, &thread, EventKind::ReadReceipt, receipt).await?;
                Ok(thread)
            })
            .await;
        ThreadPayload::from_result(result)
    }
}

/// The visible thread, locked, or `NOT_FOUND` on `field`.
async fn locked_thread(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    field: &str,
    id: &str,
) -> Result<Thread, MutationError> {
    model::find_for_update(conn, ThreadScope::of(viewer), id)
        .await?
        .ok_or_else(|| MutationError::not_found(field, id))
}

async fn checked_members(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    input: &ThreadSubscribersInput,
) -> Result<Vec<(Actor, String)>, MutationError> {
    let mut errors = InputErrors::default();
    if input.member_ids.is_empty() || input.member_ids.len() > MAX_SUBSCRIBER_CHANGES {
        errors.push(
            "memberIds",
            UserErrorCode::TooManyIds,
            format!("give 1 to {MAX_SUBSCRIBER_CHANGES} member ids"),
        );
    }
    let members = find_members(
        conn,
        viewer.organization_id,
        "memberIds",
        &input.member_ids,
        &mut errors,
    )
    .await?;
    errors.finish()?;
    Ok(members)
}

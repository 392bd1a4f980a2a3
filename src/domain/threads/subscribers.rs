//! Database access for thread subscribers: membership and read state.
//! Who is in a thread, and how much of it each member has read.

use chrono::{DateTime, Utc};
use diesel::dsl::{exists, not};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{ApiKeyId, ContactId, IdKind, OrganizationId, SubscriberId, ThreadId, UserId};
use crate::db::schema::thread_subscribers;
use crate::domain::auth::Actor;

/// A user, api key or contact in a thread, with its read state.
#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = thread_subscribers)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub thread_id: ThreadId,
    pub user_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    pub contact_id: Option<ContactId>,
    pub viewed_at: Option<DateTime<Utc>>,
    pub unread_count: i32,
    pub is_archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Subscriber {
    /// Who this subscriber is.
    pub fn member(&self) -> Option<Actor> {
        Actor::from_columns(self.user_id, self.api_key_id, self.contact_id)
    }
}

#[derive(Insertable)]
#[diesel(table_name = thread_subscribers)]
struct NewSubscriber {
    organization_id: OrganizationId,
    public_id: String,
    thread_id: ThreadId,
    user_id: Option<UserId>,
    api_key_id: Option<ApiKeyId>,
    contact_id: Option<ContactId>,
}

type SubscriberFilter =
    Box<dyn BoxableExpression<thread_subscribers::table, Pg, SqlType = diesel::sql_types::Bool>>;

/// `thread_subscribers.<member column> = id` for a member.
fn is_member(member: Actor) -> SubscriberFilter {
    match member {
        Actor::User(id) => Box::new(thread_subscribers::user_id.eq(id).assume_not_null()),
        Actor::ApiKey(id) => Box::new(thread_subscribers::api_key_id.eq(id).assume_not_null()),
        Actor::Contact(id) => Box::new(thread_subscribers::contact_id.eq(id).assume_not_null()),
    }
}

/// Subquery: ids of the threads `member` actively subscribes to.
pub fn active_thread_ids_of(
    organization_id: OrganizationId,
    member: Actor,
) -> thread_subscribers::BoxedQuery<'static, Pg, diesel::sql_types::BigInt> {
    thread_subscribers::table
        .filter(thread_subscribers::organization_id.eq(organization_id))
        .filter(is_member(member))
        .filter(not(thread_subscribers::is_archived))
        .select(thread_subscribers::thread_id)
        .into_boxed()
}

/// Subquery: ids of the threads where `member` has unread messages.
pub fn unread_thread_ids_of(
    organization_id: OrganizationId,
    member: Actor,
) -> thread_subscribers::BoxedQuery<'static, Pg, diesel::sql_types::BigInt> {
    active_thread_ids_of(organization_id, member).filter(thread_subscribers::unread_count.gt(0))
}

/// Every subscriber (archived too) of these threads, oldest first.
pub async fn of_threads(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    thread_ids: &[ThreadId],
) -> QueryResult<Vec<Subscriber>> {
    thread_subscribers::table
        .filter(thread_subscribers::organization_id.eq(organization_id))
        .filter(thread_subscribers::thread_id.eq_any(thread_ids))
        .order(thread_subscribers::id.asc())
        .select(Subscriber::as_select())
        .load(conn)
        .await
}

crate::tenant_rows!(thread_subscribers => Subscriber, id SubscriberId { by_ids, find });

/// The member's subscription to the thread, archived or not.
pub async fn find_member(
    conn: &mut AsyncPgConnection,
    thread_id: ThreadId,
    member: Actor,
) -> QueryResult<Option<Subscriber>> {
    thread_subscribers::table
        .filter(thread_subscribers::thread_id.eq(thread_id))
        .filter(is_member(member))
        .select(Subscriber::as_select())
        .first(conn)
        .await
        .optional()
}

/// Whether `member` actively subscribes to the thread.
pub async fn is_active_member(
    conn: &mut AsyncPgConnection,
    thread_id: ThreadId,
    member: Actor,
) -> QueryResult<bool> {
    diesel::select(exists(
        thread_subscribers::table
            .filter(thread_subscribers::thread_id.eq(thread_id))
            .filter(is_member(member))
            .filter(not(thread_subscribers::is_archived)),
    ))
    .get_result(conn)
    .await
}

/// Subscribes a member (or brings an archived subscription back). Returns
/// the subscriber and whether it joined just now. Call with the thread locked.
pub async fn join(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    thread_id: ThreadId,
    member: Actor,
) -> QueryResult<(Subscriber, bool)> {
    if let Some(existing) = find_member(conn, thread_id, member).await? {
        if !existing.is_archived {
            return Ok((existing, false));
        }
        let revived = diesel::update(thread_subscribers::table.find(existing.id))
            .set((
                thread_subscribers::is_archived.eq(false),
                thread_subscribers::updated_at.eq(diesel::dsl::now),
            ))
            .returning(Subscriber::as_returning())
            .get_result(conn)
            .await?;
        return Ok((revived, true));
    }
    let (user_id, api_key_id, contact_id) = member.columns();
    let subscriber = diesel::insert_into(thread_subscribers::table)
        .values(NewSubscriber {
            organization_id,
            public_id: IdKind::Subscriber.generate(),
            thread_id,
            user_id,
            api_key_id,
            contact_id,
        })
        .returning(Subscriber::as_returning())
        .get_result(conn)
        .await?;
    Ok((subscriber, true))
}

/// Archives a subscription: the subscriber leaves but keeps authorship.
pub async fn archive(
    conn: &mut AsyncPgConnection,
    subscriber_id: SubscriberId,
) -> QueryResult<Subscriber> {
    diesel::update(thread_subscribers::table.find(subscriber_id))
        .set((
            thread_subscribers::is_archived.eq(true),
            thread_subscribers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Subscriber::as_returning())
        .get_result(conn)
        .await
}

/// Marks the thread read for a subscriber: `viewed_at` now, nothing unread.
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    subscriber_id: SubscriberId,
) -> QueryResult<Subscriber> {
    diesel::update(thread_subscribers::table.find(subscriber_id))
        .set((
            thread_subscribers::viewed_at.eq(diesel::dsl::now),
            thread_subscribers::unread_count.eq(0),
            thread_subscribers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Subscriber::as_returning())
        .get_result(conn)
        .await
}

/// Marks the thread unread for a subscriber (at least one unread message).
pub async fn mark_unread(
    conn: &mut AsyncPgConnection,
    subscriber: &Subscriber,
) -> QueryResult<Subscriber> {
    diesel::update(thread_subscribers::table.find(subscriber.id))
        .set((
            thread_subscribers::unread_count.eq(subscriber.unread_count.max(1)),
            thread_subscribers::updated_at.eq(diesel::dsl::now),
        ))
        .returning(Subscriber::as_returning())
        .get_result(conn)
        .await
}

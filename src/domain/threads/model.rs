//! Database access for threads.
//! Rows, the visibility scope and filtered pages; the rules live in `service.rs`.

use crate::db::cached::cached_sql;
use crate::db::ids::{ContactId, OrganizationId, SubscriberId, ThreadId};
use crate::domain::channel_kind::ChannelKind;
use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::subscribers;
use crate::db::lateral::{self, ChildTable};
use crate::db::page::{PageRequest, SortOrder, keyset};
use crate::db::schema::threads;
use crate::domain::auth::Actor;

/// Threads list newest first.
pub const ORDER: SortOrder = SortOrder::Descending;

/// The live message container.
#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = threads)]
pub struct Thread {
    pub id: ThreadId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub original_sender: Option<String>,
    pub channel: Option<ChannelKind>,
    pub identifier: Option<String>,
    pub chatbot_paused: bool,
    pub is_resolved: bool,
    pub resource_id: Option<String>,
    pub location_id: Option<String>,
    pub contact_id: Option<ContactId>,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A validated thread to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = threads)]
pub struct NewThread {
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub original_sender: Option<String>,
    pub channel: Option<ChannelKind>,
    pub identifier: Option<String>,
    pub chatbot_paused: bool,
    pub is_resolved: bool,
    pub resource_id: Option<String>,
    pub location_id: Option<String>,
    pub contact_id: Option<ContactId>,
}

/// Validated changes: `None` leaves a column alone, `Some(None)` clears it.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = threads)]
pub struct ThreadChanges {
    pub name: Option<Option<String>>,
    pub subject: Option<Option<String>>,
    pub channel: Option<Option<ChannelKind>>,
    pub identifier: Option<Option<String>>,
    pub chatbot_paused: Option<bool>,
    pub is_resolved: Option<bool>,
    pub location_id: Option<Option<String>>,
    pub contact_id: Option<Option<ContactId>>,
}

/// Which threads a caller may see: all of the organization's, or for a
/// contact only those it is an active subscriber of.
#[derive(Clone, Copy, Debug)]
pub struct ThreadScope {
    pub organization_id: OrganizationId,
    pub only_contact: Option<ContactId>,
}

impl ThreadScope {
    /// The scope of a caller.
    pub fn of(viewer: &crate::domain::auth::Viewer) -> Self {
        ThreadScope {
            organization_id: viewer.organization_id,
            only_contact: match viewer.actor {
                Actor::Contact(id) => Some(id),
                Actor::User(_) | Actor::ApiKey(_) => None,
            },
        }
    }

    /// The threads this scope may see (also a subquery of searches).
    pub fn visible(self) -> threads::BoxedQuery<'static, Pg> {
        let mut query = threads::table
            .filter(threads::organization_id.eq(self.organization_id))
            .into_boxed();
        if let Some(contact_id) = self.only_contact {
            query = query.filter(threads::id.eq_any(subscribers::active_thread_ids_of(
                self.organization_id,
                Actor::Contact(contact_id),
            )));
        }
        query
    }
}

/// A time interval, both ends included.
pub type Interval = (DateTime<Utc>, DateTime<Utc>);

/// Validated filters of the threads list.
#[derive(Clone, Debug, Default)]
pub struct ThreadFilter {
    pub public_ids: Option<Vec<String>>,
    pub created_between: Option<Interval>,
    pub updated_between: Option<Interval>,
    pub channel: Option<ChannelKind>,
    pub contact_id: Option<ContactId>,
    pub is_resolved: Option<bool>,
    /// Only threads where this member has unread messages.
    pub unread_for: Option<Actor>,
}

fn filtered(scope: ThreadScope, filter: &ThreadFilter) -> threads::BoxedQuery<'static, Pg> {
    let mut query = scope.visible();
    if let Some(ids) = &filter.public_ids {
        query = query.filter(threads::public_id.eq_any(ids.clone()));
    }
    if let Some((start, end)) = filter.created_between {
        query = query.filter(threads::created_at.between(start, end));
    }
    if let Some((start, end)) = filter.updated_between {
        query = query.filter(threads::updated_at.between(start, end));
    }
    if let Some(channel) = &filter.channel {
        query = query.filter(threads::channel.eq(*channel));
    }
    if let Some(contact_id) = filter.contact_id {
        query = query.filter(threads::contact_id.eq(contact_id));
    }
    if let Some(resolved) = filter.is_resolved {
        query = query.filter(threads::is_resolved.eq(resolved));
    }
    if let Some(member) = filter.unread_for {
        query = query.filter(threads::id.eq_any(subscribers::unread_thread_ids_of(
            scope.organization_id,
            member,
        )));
    }
    query
}

/// One page of the visible threads matching `filter`, newest first.
pub async fn page(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    filter: &ThreadFilter,
    page: &PageRequest,
) -> QueryResult<Vec<Thread>> {
    let query = filtered(scope, filter).select(Thread::as_select());
    keyset(query, threads::id, &page.scan(ORDER))
        .load(conn)
        .await
}

/// How many visible threads match `filter`.
pub async fn count(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    filter: &ThreadFilter,
) -> QueryResult<i64> {
    filtered(scope, filter).count().get_result(conn).await
}

/// For each contact, a page of the threads linked to it, newest first.
pub async fn page_per_contact(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    contact_ids: &[ContactId],
    page: &PageRequest,
) -> QueryResult<Vec<Thread>> {
    let child = ChildTable {
        table: "threads",
        columns: "*",
        parent_column: "contact_id",
        key_column: "id",
    };
    lateral::page_per_parent(conn, child, organization_id, contact_ids, page.scan(ORDER)).await
}

/// The visible thread with this public id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    public_id: &str,
) -> QueryResult<Option<Thread>> {
    scope
        .visible()
        .filter(threads::public_id.eq(public_id.to_string()))
        .select(Thread::as_select())
        .first(conn)
        .await
        .optional()
}

/// The visible thread with this public id, locked until the transaction ends.
/// Every change to a thread's subscribers or messages takes this lock first,
/// so such changes to one thread happen one at a time.
pub async fn find_for_update(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    public_id: &str,
) -> QueryResult<Option<Thread>> {
    let thread = threads::table
        .filter(threads::organization_id.eq(scope.organization_id))
        .filter(threads::public_id.eq(public_id))
        .for_update()
        .select(Thread::as_select())
        .first(conn)
        .await
        .optional()?;
    match (thread, scope.only_contact) {
        (Some(thread), Some(contact)) => {
            let visible =
                subscribers::is_active_member(conn, thread.id, Actor::Contact(contact)).await?;
            Ok(visible.then_some(thread))
        }
        (thread, _) => Ok(thread),
    }
}

/// Locks a thread by internal id until the transaction ends; returns it fresh.
pub async fn lock(conn: &mut AsyncPgConnection, id: ThreadId) -> QueryResult<Thread> {
    threads::table
        .find(id)
        .for_update()
        .select(Thread::as_select())
        .first(conn)
        .await
}

/// The visible thread on `channel` with `identifier`.
pub async fn find_by_channel(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    channel: ChannelKind,
    identifier: &str,
) -> QueryResult<Option<Thread>> {
    scope
        .visible()
        .filter(threads::channel.eq(channel))
        .filter(threads::identifier.eq(identifier.to_string()))
        .select(Thread::as_select())
        .first(conn)
        .await
        .optional()
}

/// The visible thread about `resource_id`.
pub async fn find_by_resource(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    resource_id: &str,
) -> QueryResult<Option<Thread>> {
    scope
        .visible()
        .filter(threads::resource_id.eq(resource_id.to_string()))
        .select(Thread::as_select())
        .first(conn)
        .await
        .optional()
}

crate::tenant_rows!(threads => Thread, id ThreadId { by_ids, insert(NewThread), update_stamped(ThreadChanges) as update, delete });

/// Inserts a thread unless one with its public id exists; returns the
/// thread and whether it was created. Safe under concurrent calls.
pub async fn insert_or_get(
    conn: &mut AsyncPgConnection,
    new: &NewThread,
) -> QueryResult<(Thread, bool)> {
    let inserted = diesel::insert_into(threads::table)
        .values(new)
        .on_conflict((threads::organization_id, threads::public_id))
        .do_nothing()
        .returning(Thread::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    match inserted {
        Some(thread) => Ok((thread, true)),
        None => threads::table
            .filter(threads::organization_id.eq(new.organization_id))
            .filter(threads::public_id.eq(&new.public_id))
            .select(Thread::as_select())
            .first(conn)
            .await
            .map(|thread| (thread, false)),
    }
}

/// Records activity: bumps `updated_at` (to the transaction's time, as
/// `created_at` of a message written in it), and `last_message_at` when a
/// message arrived.
pub async fn touch(
    conn: &mut AsyncPgConnection,
    id: ThreadId,
    message_at: Option<DateTime<Utc>>,
) -> QueryResult<Thread> {
    cached_sql(
        "UPDATE threads SET updated_at = now(), last_message_at = COALESCE($2, last_message_at)
         WHERE id = $1 RETURNING *",
    )
    .bind::<BigInt, _>(id)
    .bind::<Nullable<Timestamptz>, _>(message_at)
    .get_result(conn)
    .await
}

/// Records a message written at `at` by `author` (a subscriber of the
/// thread, or none for the system): every other active subscriber has one
/// more unread message, the author has read the thread, and the thread is
/// touched (see `touch`). One statement, the hottest of a send.
pub async fn record_message(
    conn: &mut AsyncPgConnection,
    id: ThreadId,
    author: Option<SubscriberId>,
    at: DateTime<Utc>,
) -> QueryResult<Thread> {
    cached_sql(
        "WITH read_state AS (
             UPDATE thread_subscribers SET
                 unread_count = CASE WHEN id = $2 THEN 0 ELSE unread_count + 1 END,
                 viewed_at = CASE WHEN id = $2 THEN now() ELSE viewed_at END,
                 updated_at = CASE WHEN id = $2 THEN now() ELSE updated_at END
             WHERE thread_id = $1 AND (id = $2 OR NOT is_archived)
         )
         UPDATE threads SET updated_at = now(), last_message_at = $3
         WHERE id = $1 RETURNING *",
    )
    .bind::<BigInt, _>(id)
    .bind::<Nullable<BigInt>, _>(author)
    .bind::<Timestamptz, _>(at)
    .get_result(conn)
    .await
}

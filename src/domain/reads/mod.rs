//! Reads answered by one SQL statement: a tree of what a query asks for,
//! which PostgreSQL answers as the JSON text of the response's `data`.
//!
//! The GraphQL floor compiles a query's selection into these types (see
//! `graphql::compiled`); anything they cannot say stays on the resolvers.
//! Every value is computed as the resolvers compute it, and the visibility
//! is `ThreadScope`'s, inside the statement.

mod sql;

use diesel::QueryResult;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::page::PageRequest;
use crate::domain::auth::Viewer;

/// Fields of one object, in the order asked: the key each is answered
/// under (an alias or the field's name) and what it holds.
pub type Fields<T> = Vec<(String, T)>;

/// A field of the query root.
#[derive(Clone, Debug, PartialEq)]
pub enum Root {
    /// A constant, such as `__typename`.
    Constant(String),
    /// The visible thread with this public id, or null.
    Thread {
        public_id: String,
        fields: Fields<ThreadField>,
    },
    /// One page of the visible threads, newest first.
    Threads {
        page: PageRequest,
        fields: Fields<ConnectionField<ThreadField>>,
    },
}

/// A field of a thread.
#[derive(Clone, Debug, PartialEq)]
pub enum ThreadField {
    Constant(String),
    Id,
    Name,
    Subject,
    CreatedAt,
    UpdatedAt,
    /// The reader's unread messages: those of its active subscription, else 0.
    UnreadCount,
    /// Its subscribers in joining order; archived ones only if asked.
    Subscribers {
        include_archived: bool,
        fields: Fields<SubscriberField>,
    },
    /// One page of its messages, oldest first.
    Messages {
        page: PageRequest,
        fields: Fields<ConnectionField<MessageField>>,
    },
}

/// A field of a page of nodes `N`.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectionField<N> {
    Constant(String),
    Edges(Fields<EdgeField<N>>),
    PageInfo(Fields<PageInfoField>),
}

/// A field of one node's edge.
#[derive(Clone, Debug, PartialEq)]
pub enum EdgeField<N> {
    Constant(String),
    /// The node's place, as `graphql::pagination::Cursor` encodes a key.
    Cursor,
    Node(Fields<N>),
}

/// A field of a page's `pageInfo`, as `PageRequest::into_connection` sets it.
#[derive(Clone, Debug, PartialEq)]
pub enum PageInfoField {
    Constant(String),
    HasPreviousPage,
    HasNextPage,
    StartCursor,
    EndCursor,
}

/// A field of a message.
#[derive(Clone, Debug, PartialEq)]
pub enum MessageField {
    Constant(String),
    Id,
    Text,
    CreatedAt,
    /// The subscriber who wrote it, or null.
    Author(Fields<SubscriberField>),
}

/// A field of a thread subscriber.
#[derive(Clone, Debug, PartialEq)]
pub enum SubscriberField {
    Constant(String),
    Id,
    /// The member's display name: a user's or api key's name, a contact's
    /// first and last name; null when the member is gone.
    Name,
    UnreadCount,
}

/// Most fields one object may ask for: `json_build_object` takes at most
/// 100 arguments, two per field.
pub const MAX_FIELDS: usize = 50;

#[derive(diesel::QueryableByName)]
struct Answer {
    #[diesel(sql_type = Text)]
    data: String,
}

/// The JSON text of `data` for these root fields, as `viewer` sees them:
/// one statement, whatever the selection.
pub async fn answer(
    conn: &mut AsyncPgConnection,
    viewer: Viewer,
    roots: &Fields<Root>,
) -> QueryResult<String> {
    let statement = sql::Statement::of(viewer, roots);
    let answer: Answer = statement.get_result(conn).await?;
    Ok(answer.data)
}

//! Database access for messages and reactions.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::lateral::{self, ChildTable};
use crate::db::schema::{message_reactions, messages};
use crate::graphql::pagination::{PageRequest, SortOrder};
use crate::ids::IdKind;

/// Messages list oldest first.
pub const ORDER: SortOrder = SortOrder::Ascending;

/// One message, in a thread or a conversation.
#[derive(
    Queryable,
    QueryableByName,
    Selectable,
    Identifiable,
    Clone,
    Debug,
    serde::Serialize,
    serde::Deserialize,
)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: i64,
    pub organization_id: i64,
    pub public_id: String,
    pub thread_id: Option<i64>,
    pub conversation_id: Option<i64>,
    pub kind: String,
    pub body: String,
    pub event: Option<String>,
    pub author_subscriber_id: Option<i64>,
    /// PostgreSQL arrays have nullable elements; ours never holds a null.
    pub media_urls: Vec<Option<String>>,
    pub resource_id: Option<String>,
    pub client_message_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
}

/// What a message belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Container {
    Thread(i64),
    Conversation(i64),
}

impl Container {
    fn child_table(self) -> ChildTable {
        ChildTable {
            table: "messages",
            parent_column: match self {
                Container::Thread(_) => "thread_id",
                Container::Conversation(_) => "conversation_id",
            },
        }
    }

    fn id(self) -> i64 {
        match self {
            Container::Thread(id) | Container::Conversation(id) => id,
        }
    }

    fn same_kind(self, other: Container) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

impl Message {
    /// The attached media URLs.
    pub fn media_url_list(&self) -> Vec<String> {
        self.media_urls.iter().flatten().cloned().collect()
    }

    /// The thread or conversation it belongs to.
    pub fn container(&self) -> Option<Container> {
        match (self.thread_id, self.conversation_id) {
            (Some(id), _) => Some(Container::Thread(id)),
            (_, Some(id)) => Some(Container::Conversation(id)),
            _ => None,
        }
    }
}

/// A validated message to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = messages)]
pub struct NewMessage {
    pub organization_id: i64,
    pub public_id: String,
    pub thread_id: Option<i64>,
    pub conversation_id: Option<i64>,
    pub kind: String,
    pub body: String,
    pub event: Option<String>,
    pub author_subscriber_id: Option<i64>,
    pub media_urls: Vec<Option<String>>,
    pub resource_id: Option<String>,
    pub client_message_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
}

impl NewMessage {
    /// A message of `kind` with `body` in `container`; other fields empty.
    pub fn new(organization_id: i64, container: Container, kind: &str, body: String) -> Self {
        let (thread_id, conversation_id) = match container {
            Container::Thread(id) => (Some(id), None),
            Container::Conversation(id) => (None, Some(id)),
        };
        NewMessage {
            organization_id,
            public_id: IdKind::Message.generate(),
            thread_id,
            conversation_id,
            kind: kind.to_string(),
            body,
            event: None,
            author_subscriber_id: None,
            media_urls: Vec::new(),
            resource_id: None,
            client_message_id: None,
            written_at: None,
            written_by_me: None,
        }
    }
}

/// Validated changes to a message.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = messages)]
pub struct MessageChanges {
    pub body: Option<String>,
    pub media_urls: Option<Vec<Option<String>>>,
    pub written_at: Option<Option<DateTime<Utc>>>,
    pub written_by_me: Option<Option<bool>>,
    pub edited_at: Option<Option<DateTime<Utc>>>,
}

/// Inserts a message.
pub async fn insert(conn: &mut AsyncPgConnection, new: &NewMessage) -> QueryResult<Message> {
    diesel::insert_into(messages::table)
        .values(new)
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}

/// The thread's message sent with this client message id, if any.
pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    thread_id: i64,
    client_message_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::thread_id.eq(thread_id))
        .filter(messages::client_message_id.eq(client_message_id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// The organization's message with this public id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    public_id: &str,
) -> QueryResult<Option<Message>> {
    messages::table
        .filter(messages::organization_id.eq(organization_id))
        .filter(messages::public_id.eq(public_id))
        .select(Message::as_select())
        .first(conn)
        .await
        .optional()
}

/// Messages of the organization by internal id.
pub async fn by_ids(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    ids: &[i64],
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::organization_id.eq(organization_id))
        .filter(messages::id.eq_any(ids))
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Applies changes to a message.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: i64,
    changes: &MessageChanges,
) -> QueryResult<Message> {
    diesel::update(messages::table.find(id))
        .set(changes)
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a message (its reactions go with it).
pub async fn delete(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<bool> {
    Ok(diesel::delete(messages::table.find(id))
        .execute(conn)
        .await?
        > 0)
}

/// For each container (all of one kind), one page of its messages.
pub async fn page_per_container(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    containers: &[Container],
    page: &PageRequest,
) -> QueryResult<Vec<Message>> {
    let Some(first) = containers.first() else {
        return Ok(Vec::new());
    };
    debug_assert!(containers.iter().all(|c| c.same_kind(*first)));
    let ids: Vec<i64> = containers.iter().map(|c| c.id()).collect();
    lateral::page_per_parent(
        conn,
        first.child_table(),
        organization_id,
        &ids,
        page.scan(ORDER),
    )
    .await
}

/// How many messages each container (all of one kind) has.
pub async fn count_per_container(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    containers: &[Container],
) -> QueryResult<Vec<(Container, i64)>> {
    let Some(first) = containers.first().copied() else {
        return Ok(Vec::new());
    };
    let ids: Vec<i64> = containers.iter().map(|c| c.id()).collect();
    let counts =
        lateral::count_per_parent(conn, first.child_table(), organization_id, &ids).await?;
    Ok(counts
        .into_iter()
        .map(|(id, count)| {
            let container = match first {
                Container::Thread(_) => Container::Thread(id),
                Container::Conversation(_) => Container::Conversation(id),
            };
            (container, count)
        })
        .collect())
}

/// Reactions on some messages, grouped: (message id, emoji, reacting
/// subscriber ids in reaction order), groups in order of first reaction.
pub async fn reaction_groups(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    message_ids: &[i64],
) -> QueryResult<Vec<(i64, String, Vec<i64>)>> {
    let rows: Vec<(i64, String, i64)> = message_reactions::table
        .filter(message_reactions::organization_id.eq(organization_id))
        .filter(message_reactions::message_id.eq_any(message_ids))
        .order(message_reactions::id.asc())
        .select((
            message_reactions::message_id,
            message_reactions::emoji,
            message_reactions::subscriber_id,
        ))
        .load(conn)
        .await?;
    let mut groups: Vec<(i64, String, Vec<i64>)> = Vec::new();
    for (message_id, emoji, subscriber_id) in rows {
        match groups
            .iter_mut()
            .find(|(m, e, _)| *m == message_id && *e == emoji)
        {
            Some((_, _, subscribers)) => subscribers.push(subscriber_id),
            None => groups.push((message_id, emoji, vec![subscriber_id])),
        }
    }
    Ok(groups)
}

#[derive(Insertable)]
#[diesel(table_name = message_reactions)]
struct NewReaction<'a> {
    organization_id: i64,
    message_id: i64,
    subscriber_id: i64,
    emoji: &'a str,
}

/// Adds a reaction; false when the subscriber had already reacted so.
pub async fn add_reaction(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    message_id: i64,
    subscriber_id: i64,
    emoji: &str,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(message_reactions::table)
        .values(NewReaction {
            organization_id,
            message_id,
            subscriber_id,
            emoji,
        })
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted > 0)
}

/// Removes a reaction; false when there was none.
pub async fn remove_reaction(
    conn: &mut AsyncPgConnection,
    message_id: i64,
    subscriber_id: i64,
    emoji: &str,
) -> QueryResult<bool> {
    let deleted = diesel::delete(message_reactions::table)
        .filter(message_reactions::message_id.eq(message_id))
        .filter(message_reactions::subscriber_id.eq(subscriber_id))
        .filter(message_reactions::emoji.eq(emoji))
        .execute(conn)
        .await?;
    Ok(deleted > 0)
}

//! Database access for messages and reactions.
//! Rows, pages per container and reaction groups; the rules live in `service.rs`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::kind::MessageKind;
use crate::db::ids::{
    ChannelId, ConversationId, IdKind, MessageId, OrganizationId, SubscriberId, ThreadId,
};
use crate::db::lateral::{self, ChildTable};
use crate::db::page::{PageRequest, SortOrder};
use crate::db::schema::{message_reactions, messages};

/// Messages list oldest first.
pub const ORDER: SortOrder = SortOrder::Ascending;

/// The columns of `Message`, as lists of messages fetch them in SQL: all
/// but the search columns (`search_vector` is about as large as the body).
pub const COLUMNS: &str = "id, organization_id, public_id, thread_id, conversation_id, kind, \
     body, event, author_subscriber_id, media_urls, resource_id, client_message_id, written_at, \
     written_by_me, created_at, edited_at, channel_id, publish_to_channel_at, published_at, \
     channel_position";

/// One message, in a thread or a conversation.
#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = messages)]
pub struct Message {
    pub id: MessageId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub thread_id: Option<ThreadId>,
    pub conversation_id: Option<ConversationId>,
    pub kind: MessageKind,
    pub body: String,
    pub event: Option<String>,
    pub author_subscriber_id: Option<SubscriberId>,
    /// PostgreSQL arrays have nullable elements; ours never holds a null.
    pub media_urls: Vec<Option<String>>,
    pub resource_id: Option<String>,
    pub client_message_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    /// The channel it is published (or scheduled) to.
    pub channel_id: Option<ChannelId>,
    /// When it is (or was) to be published to the channel.
    pub publish_to_channel_at: Option<DateTime<Utc>>,
    /// When it was published; null while pending.
    pub published_at: Option<DateTime<Utc>>,
    /// Its place in the channel, in publishing order.
    pub channel_position: Option<i64>,
}

/// Where messages are listed: a message belongs to one thread or one
/// conversation, and a thread message may also be published to a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Container {
    Thread(ThreadId),
    Conversation(ConversationId),
    /// The channel's published messages, in publishing order.
    Channel(ChannelId),
}

impl Container {
    fn child_table(self) -> ChildTable {
        let (parent_column, key_column) = match self {
            Container::Thread(_) => ("thread_id", "id"),
            Container::Conversation(_) => ("conversation_id", "id"),
            Container::Channel(_) => ("channel_id", "channel_position"),
        };
        ChildTable {
            table: "messages",
            columns: COLUMNS,
            parent_column,
            key_column,
        }
    }

    fn id(self) -> i64 {
        match self {
            Container::Thread(id) => id.into(),
            Container::Conversation(id) => id.into(),
            Container::Channel(id) => id.into(),
        }
    }

    /// The key a message has in this container's ordering.
    pub fn key_of(self, message: &Message) -> i64 {
        match self {
            Container::Channel(_) => message.channel_position.unwrap_or_default(),
            Container::Thread(_) | Container::Conversation(_) => message.id.into(),
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

    /// The container of `kind`'s variant this message is listed in, if any.
    pub fn container_of_kind(&self, kind: Container) -> Option<Container> {
        match kind {
            Container::Thread(_) => self.thread_id.map(Container::Thread),
            Container::Conversation(_) => self.conversation_id.map(Container::Conversation),
            Container::Channel(_) => self.channel_id.map(Container::Channel),
        }
    }
}

/// What a new message belongs to.
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    Thread(ThreadId),
    Conversation(ConversationId),
}

/// A validated message to insert.
///
/// `None` is inserted as NULL (each such column's default), not as
/// `DEFAULT`: diesel prepares a statement with `DEFAULT` anew on every call.
#[derive(Insertable, Debug)]
#[diesel(table_name = messages, treat_none_as_default_value = false)]
pub struct NewMessage {
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub thread_id: Option<ThreadId>,
    pub conversation_id: Option<ConversationId>,
    pub kind: MessageKind,
    pub body: String,
    pub event: Option<String>,
    pub author_subscriber_id: Option<SubscriberId>,
    pub media_urls: Vec<Option<String>>,
    pub resource_id: Option<String>,
    pub client_message_id: Option<String>,
    pub written_at: Option<DateTime<Utc>>,
    pub written_by_me: Option<bool>,
}

impl NewMessage {
    /// A message of `kind` with `body` in `container`; other fields empty.
    pub fn new(
        organization_id: OrganizationId,
        owner: Owner,
        kind: MessageKind,
        body: String,
    ) -> Self {
        let (thread_id, conversation_id) = match owner {
            Owner::Thread(id) => (Some(id), None),
            Owner::Conversation(id) => (None, Some(id)),
        };
        NewMessage {
            organization_id,
            public_id: IdKind::Message.generate(),
            thread_id,
            conversation_id,
            kind,
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

crate::tenant_rows!(messages => Message, id MessageId { insert(NewMessage), find, by_ids, update(MessageChanges), delete });

/// The thread's message sent with this client message id, if any.
pub async fn find_by_client_id(
    conn: &mut AsyncPgConnection,
    thread_id: ThreadId,
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

/// For each container (of any kinds), one page of its messages, each with
/// the container it was fetched for: one statement per kind of container.
pub async fn page_per_container(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    containers: &[Container],
    page: &PageRequest,
) -> QueryResult<Vec<(Container, Message)>> {
    let mut rows = Vec::new();
    let mut remaining = containers.to_vec();
    while let Some(&kind) = <[Container]>::first(&remaining) {
        let (same, rest): (Vec<Container>, Vec<Container>) =
            remaining.into_iter().partition(|c| c.same_kind(kind));
        remaining = rest;
        let ids: Vec<i64> = same.iter().map(|c| c.id()).collect();
        let scan = page.scan(ORDER);
        let messages: Vec<Message> =
            lateral::page_per_parent(conn, kind.child_table(), organization_id, &ids, scan).await?;
        rows.extend(
            messages
                .into_iter()
                .filter_map(|m| Some((m.container_of_kind(kind)?, m))),
        );
    }
    Ok(rows)
}

/// Reactions on some messages, grouped: (message id, emoji, reacting
/// subscriber ids in reaction order), groups in order of first reaction.
pub async fn reaction_groups(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    message_ids: &[MessageId],
) -> QueryResult<Vec<(MessageId, String, Vec<SubscriberId>)>> {
    let rows: Vec<(MessageId, String, SubscriberId)> = message_reactions::table
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
    let mut groups: Vec<(MessageId, String, Vec<SubscriberId>)> = Vec::new();
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
    organization_id: OrganizationId,
    message_id: MessageId,
    subscriber_id: SubscriberId,
    emoji: &'a str,
}

/// Adds a reaction; false when the subscriber had already reacted so.
pub async fn add_reaction(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    message_id: MessageId,
    subscriber_id: SubscriberId,
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
    message_id: MessageId,
    subscriber_id: SubscriberId,
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

/// Puts a message on its way to a channel: pending until `at`.
pub async fn schedule(
    conn: &mut AsyncPgConnection,
    id: MessageId,
    channel_id: ChannelId,
    at: DateTime<Utc>,
) -> QueryResult<Message> {
    diesel::update(messages::table.find(id))
        .set((
            messages::channel_id.eq(channel_id),
            messages::publish_to_channel_at.eq(at),
            messages::published_at.eq(None::<DateTime<Utc>>),
            messages::channel_position.eq(None::<i64>),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}

/// Publishes a pending message: it takes the channel's next position.
pub async fn mark_published(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<Message> {
    diesel::update(messages::table.find(id))
        .set((
            messages::published_at.eq(diesel::dsl::now),
            messages::channel_position.eq(diesel::dsl::sql::<
                diesel::sql_types::Nullable<diesel::sql_types::BigInt>,
            >("nextval('channel_message_positions')")),
        ))
        .returning(Message::as_returning())
        .get_result(conn)
        .await
}

/// Takes a pending message off its channel; false when it was not pending.
pub async fn unschedule(conn: &mut AsyncPgConnection, id: MessageId) -> QueryResult<bool> {
    let changed = diesel::update(messages::table.find(id))
        .filter(messages::published_at.is_null())
        .filter(messages::channel_id.is_not_null())
        .set((
            messages::channel_id.eq(None::<i64>),
            messages::publish_to_channel_at.eq(None::<DateTime<Utc>>),
        ))
        .execute(conn)
        .await?;
    Ok(changed > 0)
}

/// Pending messages whose time has come, across every organization, locked
/// for this transaction; rows another server has locked are skipped, so each
/// is published exactly once.
pub async fn lock_due(conn: &mut AsyncPgConnection, limit: i64) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::channel_id.is_not_null())
        .filter(messages::published_at.is_null())
        .filter(messages::publish_to_channel_at.le(diesel::dsl::now))
        .order(messages::publish_to_channel_at.asc())
        .limit(limit)
        .for_update()
        .skip_locked()
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Pending messages of these channels, earliest first.
pub async fn pending_in_channels(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    channel_ids: &[ChannelId],
) -> QueryResult<Vec<Message>> {
    messages::table
        .filter(messages::organization_id.eq(organization_id))
        .filter(messages::channel_id.eq_any(channel_ids))
        .filter(messages::published_at.is_null())
        .order((messages::publish_to_channel_at.asc(), messages::id.asc()))
        .select(Message::as_select())
        .load(conn)
        .await
}

/// Re-indexes the organization's messages in the text search configuration
/// `language` (their `search_vector` is generated from `search_config`).
pub async fn set_search_config(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    language: &str,
) -> QueryResult<usize> {
    diesel::sql_query(
        "UPDATE messages SET search_config = $1::regconfig \
         WHERE organization_id = $2 AND search_config <> $1::regconfig",
    )
    .bind::<diesel::sql_types::Text, _>(language)
    .bind::<diesel::sql_types::BigInt, _>(organization_id)
    .execute(conn)
    .await
}

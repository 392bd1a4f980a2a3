//! Database access for the event log.
//! Appending (at commit, through `Tx`), reading after a sequence, ephemeral NOTIFY and retention.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;

pub use super::payload::EventPayload;
use crate::db::ids::{ChannelId, ConversationId, OrganizationId, ThreadId};
use crate::db::schema::{event_sequences, events};
use crate::domain::conversations::Conversation;
use crate::domain::threads::Thread;

/// The NOTIFY channel that carries `<organization id>:<sequence>` after each commit.
pub const EVENTS_CHANNEL: &str = "confab_events";
/// The NOTIFY channel for ephemeral events (typing), never stored.
pub const EPHEMERAL_CHANNEL: &str = "confab_ephemeral";

crate::text_enum! {
    /// What happened.
    pub enum EventKind {
        MessageAdded = "message_added",
        MessageEdited = "message_edited",
        MessageDeleted = "message_deleted",
        ReactionAdded = "reaction_added",
        ReactionRemoved = "reaction_removed",
        ThreadCreated = "thread_created",
        ThreadUpdated = "thread_updated",
        ThreadDeleted = "thread_deleted",
        SubscriberJoined = "subscriber_joined",
        SubscriberLeft = "subscriber_left",
        /// A subscriber marked the thread read or unread.
        ReadReceipt = "read_receipt",
        /// Ephemeral: someone started or stopped typing.
        Typing = "typing",
        ConversationCreated = "conversation_created",
        ConversationUpdated = "conversation_updated",
        ConversationDeleted = "conversation_deleted",
        /// A thread message went out to its channel (now, or at its scheduled time).
        MessagePublished = "message_published",
    }
}

/// One event, stored or ephemeral.
#[derive(Clone, Debug)]
pub struct Event {
    pub organization_id: OrganizationId,
    /// `None` for ephemeral events.
    pub sequence: Option<i64>,
    pub kind: EventKind,
    pub thread_id: Option<ThreadId>,
    pub conversation_id: Option<ConversationId>,
    pub channel_id: Option<ChannelId>,
    pub payload: EventPayload,
    pub created_at: DateTime<Utc>,
}

/// An event to append, in the transaction of the change it records.
#[derive(Debug)]
pub struct NewEvent {
    pub kind: EventKind,
    pub thread_id: Option<ThreadId>,
    pub conversation_id: Option<ConversationId>,
    pub channel_id: Option<ChannelId>,
    pub payload: EventPayload,
}

impl NewEvent {
    /// An event about a thread.
    pub fn thread(kind: EventKind, thread: &Thread, payload: EventPayload) -> Self {
        NewEvent {
            kind,
            thread_id: Some(thread.id),
            conversation_id: None,
            channel_id: None,
            payload: EventPayload {
                thread_public_id: Some(thread.public_id.clone()),
                ..payload
            },
        }
    }

    /// An event about a conversation.
    pub fn conversation(
        kind: EventKind,
        conversation: &Conversation,
        payload: EventPayload,
    ) -> Self {
        NewEvent {
            kind,
            thread_id: None,
            conversation_id: Some(conversation.id),
            channel_id: None,
            payload: EventPayload {
                conversation_public_id: Some(conversation.public_id.clone()),
                ..payload
            },
        }
    }
}

#[derive(QueryableByName)]
struct Appended {
    #[diesel(sql_type = BigInt)]
    sequence: i64,
}

/// Appends an operation's events with the organization's next sequences
/// (in the order given) and queues the NOTIFY announcing each on commit, in
/// one statement. `Tx` calls it just before committing: the sequence row
/// stays locked until commit, which is what keeps sequences in commit order.
pub async fn append(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    batch: Vec<NewEvent>,
) -> QueryResult<Vec<i64>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let count = batch.len() as i64;
    let mut kinds = Vec::with_capacity(batch.len());
    let mut thread_ids = Vec::with_capacity(batch.len());
    let mut conversation_ids = Vec::with_capacity(batch.len());
    let mut channel_ids = Vec::with_capacity(batch.len());
    let mut payloads = Vec::with_capacity(batch.len());
    for event in batch {
        kinds.push(event.kind.as_str());
        thread_ids.push(event.thread_id);
        conversation_ids.push(event.conversation_id);
        channel_ids.push(event.channel_id);
        payloads.push(
            event
                .payload
                .encode()
                .map_err(|e| diesel::result::Error::SerializationError(Box::new(e)))?,
        );
    }
    let appended: Vec<Appended> = diesel::sql_query(
        "WITH batch AS (
             SELECT * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::jsonb[])
                 WITH ORDINALITY AS b(kind, thread_id, conversation_id, channel_id, payload, position)
         ), next AS (
             INSERT INTO event_sequences (organization_id, last_sequence) VALUES ($1, $7)
             ON CONFLICT (organization_id)
             DO UPDATE SET last_sequence = event_sequences.last_sequence + $7
             RETURNING last_sequence
         ), appended AS (
             INSERT INTO events (organization_id, sequence, kind, thread_id, conversation_id, channel_id, payload)
             SELECT $1, next.last_sequence - $7 + batch.position, batch.kind, batch.thread_id,
                    batch.conversation_id, batch.channel_id, batch.payload
             FROM next, batch ORDER BY batch.position
             RETURNING sequence
         )
         SELECT sequence, pg_notify($8, $1::text || ':' || sequence::text) AS notified
         FROM appended ORDER BY sequence",
    )
    .bind::<BigInt, _>(organization_id)
    .bind::<Array<Text>, _>(kinds)
    .bind::<Array<Nullable<BigInt>>, _>(thread_ids)
    .bind::<Array<Nullable<BigInt>>, _>(conversation_ids)
    .bind::<Array<Nullable<BigInt>>, _>(channel_ids)
    .bind::<Array<Jsonb>, _>(payloads)
    .bind::<BigInt, _>(count)
    .bind::<Text, _>(EVENTS_CHANNEL)
    .load(conn)
    .await?;
    Ok(appended.into_iter().map(|a| a.sequence).collect())
}

/// Sends an ephemeral event to every server instance; nothing is stored.
pub async fn publish_ephemeral(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    event: NewEvent,
) -> QueryResult<()> {
    let message = serde_json::json!({
        "organization_id": organization_id,
        "kind": event.kind,
        "thread_id": event.thread_id,
        "conversation_id": event.conversation_id,
        "channel_id": event.channel_id,
        "payload": event.payload,
    });
    diesel::sql_query("SELECT pg_notify($1, $2)")
        .bind::<Text, _>(EPHEMERAL_CHANNEL)
        .bind::<Text, _>(message.to_string())
        .execute(conn)
        .await?;
    Ok(())
}

/// Parses an ephemeral event sent by `publish_ephemeral`.
pub fn parse_ephemeral(payload: &str) -> Result<Event, serde_json::Error> {
    #[derive(Deserialize)]
    struct Wire {
        organization_id: OrganizationId,
        kind: EventKind,
        thread_id: Option<ThreadId>,
        conversation_id: Option<ConversationId>,
        channel_id: Option<ChannelId>,
        payload: EventPayload,
    }
    let wire: Wire = serde_json::from_str(payload)?;
    Ok(Event {
        organization_id: wire.organization_id,
        sequence: None,
        kind: wire.kind,
        thread_id: wire.thread_id,
        conversation_id: wire.conversation_id,
        channel_id: wire.channel_id,
        payload: wire.payload,
        created_at: Utc::now(),
    })
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    organization_id: OrganizationId,
    sequence: i64,
    kind: String,
    thread_id: Option<ThreadId>,
    conversation_id: Option<ConversationId>,
    payload: serde_json::Value,
    created_at: DateTime<Utc>,
    channel_id: Option<ChannelId>,
}

/// A stored event whose kind or payload this build cannot read.
#[derive(Debug)]
pub struct DecodeError {
    /// The event's organization.
    pub organization_id: OrganizationId,
    /// The event's sequence.
    pub sequence: i64,
    /// The event's kind, as stored.
    pub kind: String,
    /// What serde said.
    pub error: serde_json::Error,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} ({}) of organization {} does not decode: {}",
            self.sequence, self.kind, self.organization_id, self.error
        )
    }
}

impl std::error::Error for DecodeError {}

impl EventRow {
    /// The event, or why it cannot be read.
    fn into_event(self) -> Result<Event, DecodeError> {
        let failed = |error| DecodeError {
            organization_id: self.organization_id,
            sequence: self.sequence,
            kind: self.kind.clone(),
            error,
        };
        let kind =
            serde_json::from_value(serde_json::Value::String(self.kind.clone())).map_err(failed)?;
        let payload = EventPayload::decode(self.payload.clone()).map_err(failed)?;
        Ok(Event {
            organization_id: self.organization_id,
            sequence: Some(self.sequence),
            kind,
            thread_id: self.thread_id,
            conversation_id: self.conversation_id,
            channel_id: self.channel_id,
            payload,
            created_at: self.created_at,
        })
    }
}

/// Decodes a stored event from its columns (what `after` does per row).
#[cfg(test)]
pub(crate) fn decode_stored(
    organization_id: OrganizationId,
    sequence: i64,
    kind: &str,
    payload: serde_json::Value,
) -> Result<Event, DecodeError> {
    EventRow {
        organization_id,
        sequence,
        kind: kind.to_string(),
        thread_id: None,
        conversation_id: None,
        payload,
        created_at: Utc::now(),
        channel_id: None,
    }
    .into_event()
}

/// A page of stored events, oldest first.
#[derive(Debug, Default)]
pub struct EventBatch {
    /// The events that decoded.
    pub events: Vec<Event>,
    /// How many rows were read, undecodable ones included.
    pub rows: usize,
    /// The sequence of the last row read, undecodable or not.
    pub last_sequence: Option<i64>,
}

/// Which stored events a reader wants.
#[derive(Clone, Copy, Debug)]
pub enum EventFilter {
    /// Every event of the organization.
    All,
    /// Events of one thread.
    Thread(ThreadId),
    /// Events of one conversation.
    Conversation(ConversationId),
    /// Events of one channel.
    Channel(ChannelId),
}

/// Up to `limit` events after `after`, oldest first. An event that does not
/// decode is logged (with its sequence and kind) and left out of `events`,
/// but counted in `rows` and `last_sequence`, so readers move past it.
pub async fn after(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    after: i64,
    filter: EventFilter,
    limit: i64,
) -> QueryResult<EventBatch> {
    let mut query = events::table
        .filter(events::organization_id.eq(organization_id))
        .filter(events::sequence.gt(after))
        .order(events::sequence.asc())
        .limit(limit)
        .select(EventRow::as_select())
        .into_boxed();
    match filter {
        EventFilter::All => {}
        EventFilter::Thread(id) => query = query.filter(events::thread_id.eq(id)),
        EventFilter::Conversation(id) => query = query.filter(events::conversation_id.eq(id)),
        EventFilter::Channel(id) => query = query.filter(events::channel_id.eq(id)),
    }
    let rows: Vec<EventRow> = query.load(conn).await?;
    let mut batch = EventBatch {
        rows: rows.len(),
        last_sequence: rows.last().map(|row| row.sequence),
        ..EventBatch::default()
    };
    for row in rows {
        match row.into_event() {
            Ok(event) => batch.events.push(event),
            Err(error) => tracing::error!(
                organization_id = %error.organization_id,
                sequence = error.sequence,
                kind = %error.kind,
                error = %error.error,
                "stored event does not decode; skipped"
            ),
        }
    }
    Ok(batch)
}

/// The organization's latest sequence and the sequence retention pruned through.
pub async fn positions(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> QueryResult<(i64, i64)> {
    event_sequences::table
        .find(organization_id)
        .select((
            event_sequences::last_sequence,
            event_sequences::pruned_through,
        ))
        .first(conn)
        .await
        .optional()
        .map(Option::unwrap_or_default)
}

/// Deletes events older than `before`, remembering per organization how far
/// it pruned. Returns how many organizations had events pruned.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    diesel::sql_query(
        "WITH pruned AS (
             DELETE FROM events WHERE created_at < $1 RETURNING organization_id, sequence
         ), reach AS (
             SELECT organization_id, max(sequence) AS through FROM pruned GROUP BY organization_id
         )
         UPDATE event_sequences s SET pruned_through = GREATEST(s.pruned_through, reach.through)
         FROM reach WHERE s.organization_id = reach.organization_id",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .execute(conn)
    .await
}

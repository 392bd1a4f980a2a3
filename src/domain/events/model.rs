//! Database access for the event log.
//! Appending (at commit, through `Tx`), reading below the horizon, ephemeral NOTIFY and retention.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Jsonb, Nullable, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use serde::Deserialize;

pub use super::horizon::{Snapshot, settled_position, snapshot};
pub use super::payload::EventPayload;
use crate::db::cached::{cached_sql, fixed_sql};
use crate::db::ids::{ChannelId, ConversationId, OrganizationId, ThreadId};
use crate::db::schema::events;
use crate::domain::conversations::Conversation;
use crate::domain::threads::Thread;

/// The NOTIFY channel that carries `<organization id>:<position>` after each commit.
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

/// An event's position is its transaction id times this, plus its place
/// among the organization's events of that transaction (see the migration
/// `event_outbox`), so positions follow transaction ids.
pub const POSITIONS_PER_TRANSACTION: i64 = 1 << 16;

/// One event, stored or ephemeral.
#[derive(Clone, Debug)]
pub struct Event {
    pub organization_id: OrganizationId,
    /// The event's position in the log (`None` for ephemeral events): it
    /// increases with transaction ids, not densely, within an organization.
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
    position: i64,
}

/// Appends an operation's events in the order given, in one statement, and
/// returns their positions. Takes no lock: positions come from the
/// transaction id (see `POSITIONS_PER_TRANSACTION`), and readers wait for
/// the transactions below them to end (`after`). `Tx` calls it once per
/// organization at commit, and `announce`s the events after the commit; a
/// second call in the same transaction continues after the first's
/// positions.
pub async fn append(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    batch: Vec<NewEvent>,
) -> QueryResult<Vec<i64>> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let count = batch.len();
    let mut kinds = Vec::with_capacity(count);
    let mut thread_ids = Vec::with_capacity(count);
    let mut conversation_ids = Vec::with_capacity(count);
    let mut channel_ids = Vec::with_capacity(count);
    let mut payloads = Vec::with_capacity(count);
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
    let appended: Vec<Appended> = cached_sql(
        "WITH tx AS (
             SELECT pg_current_xact_id()::text::bigint * $7 AS first
         ), taken AS (
             SELECT count(*) AS n FROM events, tx
             WHERE organization_id = $1 AND position >= tx.first AND position < tx.first + $7
         ), batch AS (
             SELECT * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[], $6::jsonb[])
                 WITH ORDINALITY AS b(kind, thread_id, conversation_id, channel_id, payload, place)
         ), appended AS (
             INSERT INTO events (organization_id, position, kind, thread_id, conversation_id, channel_id, payload)
             SELECT $1, tx.first + taken.n + batch.place - 1, batch.kind, batch.thread_id,
                    batch.conversation_id, batch.channel_id, batch.payload
             FROM tx, taken, batch
             WHERE taken.n + $8 <= $7
             ORDER BY batch.place
             RETURNING position
         )
         SELECT position FROM appended ORDER BY position",
    )
    .bind::<BigInt, _>(organization_id)
    .bind::<Array<Text>, _>(kinds)
    .bind::<Array<Nullable<BigInt>>, _>(thread_ids)
    .bind::<Array<Nullable<BigInt>>, _>(conversation_ids)
    .bind::<Array<Nullable<BigInt>>, _>(channel_ids)
    .bind::<Array<Jsonb>, _>(payloads)
    .bind::<BigInt, _>(POSITIONS_PER_TRANSACTION)
    .bind::<BigInt, _>(count as i64)
    .load(conn)
    .await?;
    if appended.len() != count {
        return Err(diesel::result::Error::QueryBuilderError(
            format!(
                "one transaction may append at most {POSITIONS_PER_TRANSACTION} events per organization"
            )
            .into(),
        ));
    }
    Ok(appended.into_iter().map(|a| a.position).collect())
}

/// Tells every server instance that these organizations have new events,
/// up to these positions: one `NOTIFY` each. Called after the commit, in a
/// statement of its own: a transaction that notifies holds PostgreSQL's
/// cluster-wide notification lock from before its commit until the commit
/// is flushed, which would serialise every writer on the commit flush.
pub async fn announce(
    conn: &mut AsyncPgConnection,
    appended: &[(OrganizationId, i64)],
) -> QueryResult<()> {
    if appended.is_empty() {
        return Ok(());
    }
    let payloads: Vec<String> = appended
        .iter()
        .map(|(organization_id, position)| format!("{organization_id}:{position}"))
        .collect();
    cached_sql("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
        .bind::<Text, _>(EVENTS_CHANNEL)
        .bind::<Array<Text>, _>(payloads)
        .execute(conn)
        .await?;
    Ok(())
}

/// Sends an ephemeral event to every server instance; nothing is stored.
/// It carries the position below which the stored events committed before
/// it lie, so the hub delivers it after them.
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
    cached_sql(
        "SELECT pg_notify($1, ($2::jsonb || jsonb_build_object('follows',
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint * $3))::text)",
    )
    .bind::<Text, _>(EPHEMERAL_CHANNEL)
    .bind::<Text, _>(message.to_string())
    .bind::<BigInt, _>(POSITIONS_PER_TRANSACTION)
    .execute(conn)
    .await?;
    Ok(())
}

/// Parses an ephemeral event sent by `publish_ephemeral`: the event, and
/// the position below which every stored event committed before it lies.
pub fn parse_ephemeral(payload: &str) -> Result<(Event, i64), serde_json::Error> {
    #[derive(Deserialize)]
    struct Wire {
        organization_id: OrganizationId,
        kind: EventKind,
        thread_id: Option<ThreadId>,
        conversation_id: Option<ConversationId>,
        channel_id: Option<ChannelId>,
        payload: EventPayload,
        #[serde(default)]
        follows: i64,
    }
    let wire: Wire = serde_json::from_str(payload)?;
    let event = Event {
        organization_id: wire.organization_id,
        sequence: None,
        kind: wire.kind,
        thread_id: wire.thread_id,
        conversation_id: wire.conversation_id,
        channel_id: wire.channel_id,
        payload: wire.payload,
        created_at: Utc::now(),
    };
    Ok((event, wire.follows))
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = events)]
struct EventRow {
    organization_id: OrganizationId,
    position: i64,
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
    /// The event's position.
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
            sequence: self.position,
            kind: self.kind.clone(),
            error,
        };
        let kind =
            serde_json::from_value(serde_json::Value::String(self.kind.clone())).map_err(failed)?;
        let payload = EventPayload::decode(self.payload.clone()).map_err(failed)?;
        Ok(Event {
            organization_id: self.organization_id,
            sequence: Some(self.position),
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
        position: sequence,
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
    /// The position of the last row read, undecodable or not: the cursor
    /// to read after next time.
    pub last_sequence: Option<i64>,
    /// The position of the first committed event left for a later read,
    /// because a transaction below it was still running: read again shortly
    /// (that transaction may commit no event, so no NOTIFY may come).
    pub held_back: Option<i64>,
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

/// Whether a row's transaction is below the horizon: the oldest transaction
/// of this database still running, else the first not yet started. Nothing
/// can still appear before such a row. Transactions of other databases on
/// the cluster (they appear in the snapshot too) cannot write here, so they
/// hold nothing back; one `pg_stat_activity` does not show is counted as
/// this database's.
const SETTLED: &str = "xid < COALESCE(
    (SELECT min(running) FROM pg_snapshot_xip(pg_current_snapshot()) AS running
     WHERE NOT EXISTS (SELECT FROM pg_stat_activity a
                       WHERE a.backend_xid = running::xid AND a.datname <> current_database())),
    (SELECT pg_snapshot_xmax(pg_current_snapshot())))";

/// Up to `limit` events after position `after`, oldest first, taking only
/// events below the horizon (see `EventBatch::held_back`): reading again
/// after `last_sequence` never skips an event that commits later. An event
/// that does not decode is logged (with its position and kind) and left out
/// of `events`, but counted in `rows` and `last_sequence`, so readers move
/// past it.
pub async fn after(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    after: i64,
    filter: EventFilter,
    limit: i64,
) -> QueryResult<EventBatch> {
    let mut query = events::table
        .filter(events::organization_id.eq(organization_id))
        .filter(events::position.gt(after))
        .order(events::position.asc())
        .limit(limit)
        .select((EventRow::as_select(), fixed_sql::<Bool>(SETTLED)))
        .into_boxed();
    match filter {
        EventFilter::All => {}
        EventFilter::Thread(id) => query = query.filter(events::thread_id.eq(id)),
        EventFilter::Conversation(id) => query = query.filter(events::conversation_id.eq(id)),
        EventFilter::Channel(id) => query = query.filter(events::channel_id.eq(id)),
    }
    let mut rows: Vec<(EventRow, bool)> = query.load(conn).await?;
    // Positions follow transaction ids, so the settled rows come first.
    let settled = rows.iter().take_while(|(_, settled)| *settled).count();
    let held_back = rows.get(settled).map(|(row, _)| row.position);
    rows.truncate(settled);
    let mut batch = EventBatch {
        rows: rows.len(),
        last_sequence: rows.last().map(|(row, _)| row.position),
        held_back,
        ..EventBatch::default()
    };
    for (row, _) in rows {
        match row.into_event() {
            Ok(event) => batch.events.push(event),
            Err(error) => tracing::error!(
                organization_id = %error.organization_id,
                position = error.sequence,
                kind = %error.kind,
                error = %error.error,
                "stored event does not decode; skipped"
            ),
        }
    }
    Ok(batch)
}

#[derive(QueryableByName)]
struct Positions {
    #[diesel(sql_type = BigInt)]
    latest: i64,
    #[diesel(sql_type = BigInt)]
    pruned_through: i64,
}

#[derive(QueryableByName)]
struct Moved {
    #[diesel(sql_type = BigInt)]
    organization_id: i64,
}

/// Of these organizations, each with the position read through, those whose
/// log holds an event past it: one statement (an index probe each) however
/// many organizations are asked about.
pub async fn moved_past(
    conn: &mut AsyncPgConnection,
    read_through: &[(OrganizationId, i64)],
) -> QueryResult<Vec<OrganizationId>> {
    let (organizations, positions): (Vec<i64>, Vec<i64>) = read_through
        .iter()
        .map(|(organization, position)| (organization.0, *position))
        .unzip();
    let moved: Vec<Moved> = cached_sql(
        "SELECT o.organization_id FROM unnest($1::int8[], $2::int8[]) AS o(organization_id, read_through)
         WHERE EXISTS (SELECT 1 FROM events e
                       WHERE e.organization_id = o.organization_id AND e.position > o.read_through)",
    )
    .bind::<Array<BigInt>, _>(organizations)
    .bind::<Array<BigInt>, _>(positions)
    .load(conn)
    .await?;
    Ok(moved
        .into_iter()
        .map(|row| OrganizationId(row.organization_id))
        .collect())
}

/// The organization's latest event position (committed, settled or not; at
/// least where retention pruned through), and where retention pruned through.
pub async fn positions(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> QueryResult<(i64, i64)> {
    let positions: Positions = cached_sql(
        "SELECT GREATEST(latest, pruned_through) AS latest, pruned_through
         FROM (SELECT (SELECT max(position) FROM events WHERE organization_id = $1) AS latest,
                      COALESCE((SELECT pruned_through FROM event_sequences
                                WHERE organization_id = $1), 0) AS pruned_through) p",
    )
    .bind::<BigInt, _>(organization_id)
    .get_result(conn)
    .await?;
    Ok((positions.latest, positions.pruned_through))
}

/// Deletes events older than `before`, remembering per organization how far
/// it pruned. Returns how many organizations had events pruned.
pub async fn prune(conn: &mut AsyncPgConnection, before: DateTime<Utc>) -> QueryResult<usize> {
    cached_sql(
        "WITH pruned AS (
             DELETE FROM events WHERE created_at < $1 RETURNING organization_id, position
         ), reach AS (
             SELECT organization_id, max(position) AS through FROM pruned GROUP BY organization_id
         )
         INSERT INTO event_sequences AS s (organization_id, pruned_through)
         SELECT organization_id, through FROM reach
         ON CONFLICT (organization_id)
         DO UPDATE SET pruned_through = GREATEST(s.pruned_through, excluded.pruned_through)",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(before)
    .execute(conn)
    .await
}

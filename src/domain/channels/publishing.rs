//! Publishing thread messages into channels, now or on schedule.
//!
//! A scheduled message stays pending (`published_at` null) until its time.
//! Every server runs the scheduler; each tick locks the due messages with
//! `FOR UPDATE SKIP LOCKED`, so with any number of servers each message is
//! published exactly once, and messages that fell due while no server ran
//! go out on the next start.

use std::time::Duration;

use diesel::QueryResult;

use super::model::{self, Channel};
use crate::db::DbPool;
use crate::domain::events::{EventKind, EventPayload, NewEvent};
use crate::domain::messages::Message;
use crate::domain::messages::model as messages;
use crate::domain::threads::Thread;
use crate::domain::tx::{self, Tx};

/// How often the scheduler looks for due messages.
const TICK: Duration = Duration::from_millis(200);
/// Messages published per transaction.
const BATCH: i64 = 100;

/// Publishes a (locked) message to its channel now: it takes the channel's
/// next position and subscribers of the channel, thread and inbox are told.
pub async fn publish(tx: &mut Tx<'_>, message: &Message) -> QueryResult<Message> {
    let published = messages::mark_published(tx, message.id).await?;
    let (Some(channel_id), Some(thread_id)) = (published.channel_id, published.thread_id) else {
        return Ok(published);
    };
    let channel = model::touch(tx, channel_id).await?;
    let thread = crate::domain::threads::model::by_ids(tx, published.organization_id, &[thread_id])
        .await?
        .pop();
    record_published(tx, &channel, thread.as_ref(), &published);
    Ok(published)
}

fn record_published(
    tx: &mut Tx<'_>,
    channel: &Channel,
    thread: Option<&Thread>,
    message: &Message,
) {
    let event = NewEvent {
        kind: EventKind::MessagePublished,
        thread_id: thread.map(|t| t.id),
        conversation_id: None,
        channel_id: Some(channel.id),
        payload: EventPayload {
            thread_public_id: thread.map(|t| t.public_id.clone()),
            channel_public_id: Some(channel.public_id.clone()),
            message: Some(message.into()),
            ..EventPayload::default()
        },
    };
    tx.record(channel.organization_id, event);
}

/// Publishes every due message, a batch per transaction, recording how
/// late each went out into `lag`. Returns how many.
pub async fn publish_due(pool: &DbPool, lag: &metrics::Histogram) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let mut conn = pool.get().await?;
        let (published, due_at) = tx::run::<_, diesel::result::Error, _>(&mut conn, async |tx| {
            let due = messages::lock_due(tx, BATCH).await?;
            for message in &due {
                publish(tx, message).await?;
            }
            let due_at: Vec<_> = due
                .iter()
                .filter_map(|message| message.publish_to_channel_at)
                .collect();
            Ok((due.len(), due_at))
        })
        .await?;
        // Measured once committed: that is when subscribers can see them.
        let now = chrono::Utc::now();
        for due_at in &due_at {
            lag.record((now - *due_at).to_std().unwrap_or_default());
        }
        total += published;
        if (published as i64) < BATCH {
            return Ok(total);
        }
    }
}

/// Runs the scheduler until the process ends, recording each publish's
/// lateness into `lag`.
pub fn spawn_scheduler(pool: DbPool, lag: metrics::Histogram) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match publish_due(&pool, &lag).await {
                Ok(0) => {}
                Ok(published) => tracing::debug!(published, "published scheduled messages"),
                Err(error) => tracing::warn!(%error, "publishing scheduled messages failed"),
            }
        }
    })
}

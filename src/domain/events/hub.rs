//! In-process fan-out of events, fed by one LISTEN connection per server.
//!
//! Writers append events and queue `NOTIFY confab_events '<org>:<seq>'` in
//! their transaction. Each server keeps one connection that LISTENs; on a
//! notification it reads the organization's new events once, in sequence
//! order, and broadcasts them to every local subscription of that
//! organization. After a dropped connection it reconnects with backoff and
//! catches up from the last sequence it saw, so no event is lost.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::broadcast;

use super::model::{self, EPHEMERAL_CHANNEL, EVENTS_CHANNEL, Event, EventFilter};
use crate::db::DbPool;
use crate::db::ids::OrganizationId;

/// Events buffered per organization for slow subscribers; one that falls
/// further behind re-reads what it missed from the database.
const BROADCAST_CAPACITY: usize = 1024;
/// Events read per query when catching up.
const FETCH_BATCH: i64 = 500;
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A live feed of one organization's events.
struct Feed {
    sender: broadcast::Sender<Arc<Event>>,
    /// The last sequence read and broadcast.
    last_seen: i64,
}

/// Shared handle to this server's fan-out.
#[derive(Clone)]
pub struct EventHub {
    pool: DbPool,
    feeds: Arc<Mutex<HashMap<OrganizationId, Feed>>>,
    /// Time from a stored event's creation to its broadcast.
    lag: metrics::Histogram,
}

impl EventHub {
    /// A hub reading events through `pool`. Call `spawn_listener` to feed it.
    pub fn new(pool: DbPool) -> Self {
        EventHub {
            pool,
            feeds: Arc::default(),
            lag: metrics::Histogram::noop(),
        }
    }

    /// This hub, recording each stored event's fan-out lag into `lag`.
    pub fn with_lag(self, lag: metrics::Histogram) -> Self {
        EventHub { lag, ..self }
    }

    /// A receiver of the organization's live events, and the sequence the
    /// organization was at when it was made (events up to it are history).
    pub async fn subscribe(
        &self,
        organization_id: OrganizationId,
    ) -> Result<(broadcast::Receiver<Arc<Event>>, i64), crate::db::PoolOrQueryError> {
        let mut conn = self.pool.get().await?;
        let (latest, _) = model::positions(&mut conn, organization_id).await?;
        let mut feeds = self.lock_feeds();
        let feed = feeds.entry(organization_id).or_insert_with(|| Feed {
            sender: broadcast::channel(BROADCAST_CAPACITY).0,
            last_seen: latest,
        });
        Ok((feed.sender.subscribe(), latest))
    }

    /// Runs the LISTEN loop until the process ends, reconnecting as needed.
    pub fn spawn_listener(&self, database_url: String) -> tokio::task::JoinHandle<()> {
        let hub = self.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(100);
            loop {
                match hub.listen(&database_url).await {
                    Ok(()) => tracing::warn!("event listener connection closed; reconnecting"),
                    Err(error) => tracing::warn!(%error, "event listener failed; reconnecting"),
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        })
    }

    /// One LISTEN session: catch up, then follow notifications until the
    /// connection ends.
    async fn listen(&self, database_url: &str) -> anyhow::Result<()> {
        let mut conn = AsyncPgConnection::establish(database_url).await?;
        diesel::sql_query(format!("LISTEN {EVENTS_CHANNEL}"))
            .execute(&mut conn)
            .await?;
        diesel::sql_query(format!("LISTEN {EPHEMERAL_CHANNEL}"))
            .execute(&mut conn)
            .await?;
        tracing::debug!("event listener connected");
        // Anything committed while we were not listening.
        let tracked: Vec<OrganizationId> = self.lock_feeds().keys().copied().collect();
        self.catch_up(tracked).await?;

        let mut notifications = std::pin::pin!(conn.notifications_stream());
        while let Some(notification) = notifications.next().await {
            let mut pending = vec![notification?];
            // Coalesce a burst: one read per organization, however many commits.
            while let Some(Some(more)) = notifications.next().now_or_never() {
                pending.push(more?);
            }
            // Stored events before an ephemeral one are delivered first,
            // keeping the order in which they happened.
            let mut organizations = HashSet::new();
            for notification in pending {
                if notification.channel == EPHEMERAL_CHANNEL {
                    self.catch_up(organizations.drain().collect()).await?;
                    match model::parse_ephemeral(&notification.payload) {
                        Ok(event) => self.broadcast(vec![event]),
                        Err(error) => tracing::warn!(
                            %error,
                            "ephemeral event does not decode; skipped"
                        ),
                    }
                } else if let Some((org, _)) = notification.payload.split_once(':')
                    && let Ok(org) = org.parse::<i64>().map(OrganizationId)
                {
                    organizations.insert(org);
                }
            }
            self.catch_up(organizations.into_iter().collect()).await?;
        }
        Ok(())
    }

    /// Reads and broadcasts the new events of these organizations (those
    /// with local subscribers).
    async fn catch_up(&self, organizations: Vec<OrganizationId>) -> anyhow::Result<()> {
        let mut conn = self.pool.get().await?;
        for organization_id in organizations {
            while let Some(last_seen) = self.last_seen(organization_id) {
                let batch = model::after(
                    &mut conn,
                    organization_id,
                    last_seen,
                    EventFilter::All,
                    FETCH_BATCH,
                )
                .await?;
                let complete = (batch.rows as i64) < FETCH_BATCH;
                self.broadcast(batch.events);
                if let Some(sequence) = batch.last_sequence {
                    // Past undecodable events too (already logged), so they are read once.
                    self.advance(organization_id, sequence);
                }
                if complete {
                    break;
                }
            }
        }
        Ok(())
    }

    fn last_seen(&self, organization_id: OrganizationId) -> Option<i64> {
        let mut feeds = self.lock_feeds();
        let feed = feeds.get(&organization_id)?;
        if feed.sender.receiver_count() == 0 {
            // Nobody here listens to this organization any more.
            feeds.remove(&organization_id);
            return None;
        }
        Some(feed.last_seen)
    }

    /// Hands events (in sequence order per organization) to the feeds.
    fn broadcast(&self, events: Vec<Event>) {
        let now = chrono::Utc::now();
        let mut feeds = self.lock_feeds();
        for event in events {
            let Some(feed) = feeds.get_mut(&event.organization_id) else {
                continue;
            };
            if let Some(sequence) = event.sequence {
                if sequence <= feed.last_seen {
                    continue;
                }
                feed.last_seen = sequence;
                // Ephemeral events carry no time of their own.
                let lag = (now - event.created_at).to_std().unwrap_or_default();
                self.lag.record(lag);
            }
            // No receivers is fine: the feed is dropped on the next read.
            let _ = feed.sender.send(Arc::new(event));
        }
    }

    /// Moves an organization's feed past `sequence`.
    fn advance(&self, organization_id: OrganizationId, sequence: i64) {
        if let Some(feed) = self.lock_feeds().get_mut(&organization_id) {
            feed.last_seen = feed.last_seen.max(sequence);
        }
    }

    fn lock_feeds(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, Feed>> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

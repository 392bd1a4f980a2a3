//! In-process fan-out of events, fed by one LISTEN connection per server.
//! Reads each organization's new events once and broadcasts them locally.
//!
//! Writers append events and, once committed, send `NOTIFY confab_events
//! '<org>:<position>'`. Each server keeps one connection that LISTENs; on
//! a notification it reads the organization's new events below the horizon
//! (`model::after`), in position order, and broadcasts them to every local
//! subscription of that organization. A read the horizon held back (a
//! transaction below it still running, maybe another organization's or one
//! that writes no event) is retried on a short timer, not only on the next
//! notification; every few seconds one statement also finds the followed
//! organizations whose log moved without a notification (a writer may die
//! between its commit and its NOTIFY), which are read; an ephemeral event
//! (typing) waits for the stored events committed before it. After a
//! dropped connection it reconnects with backoff and catches up from the
//! last position it read, so no event is lost.

use std::collections::VecDeque;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

use super::model::{self, EPHEMERAL_CHANNEL, EVENTS_CHANNEL, Event, EventFilter, Snapshot};
use crate::db::DbPool;
use crate::db::ids::{OrganizationId, ThreadId};

/// Events buffered per organization for slow subscribers; one that falls
/// further behind re-reads what it missed from the database.
const BROADCAST_CAPACITY: usize = 1024;
/// The same for a feed of one thread's events (one per thread followed, so
/// smaller; falling behind costs a read, never an event).
const THREAD_CAPACITY: usize = 32;
/// Events read per query when catching up.
const FETCH_BATCH: i64 = 500;
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// First wait before re-reading an organization the horizon held back; it
/// doubles while the horizon does not move, up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(5);
const MAX_RETRY: Duration = Duration::from_millis(200);
/// How often every followed organization is read even without a
/// notification: writers notify after their commit, so a writer that dies
/// in between leaves its events unannounced.
const SWEEP_EVERY: Duration = Duration::from_secs(2);

/// What a LISTEN session keeps between notifications: the organizations
/// whose last read the horizon held back (with the first position it held
/// back), when to read them again, and the ephemeral events waiting for
/// stored events committed before them.
struct Pending {
    held: HashMap<OrganizationId, i64>,
    at: Option<Instant>,
    wait: Duration,
    /// Per organization, in arrival order: the position below which the
    /// stored events it follows lie, and the event.
    parked: HashMap<OrganizationId, VecDeque<(i64, Event)>>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            held: HashMap::new(),
            at: None,
            wait: FIRST_RETRY,
            parked: HashMap::new(),
        }
    }
}

impl Pending {
    /// Records a read of `read`, of which `held` were held back; `timer`
    /// when the retry timer made the read (the next wait is longer).
    fn record(&mut self, read: &[OrganizationId], held: HashMap<OrganizationId, i64>, timer: bool) {
        for organization_id in read {
            self.held.remove(organization_id);
        }
        self.held.extend(held);
        if self.held.is_empty() {
            self.at = None;
            self.wait = FIRST_RETRY;
        } else if timer || self.at.is_none() {
            if timer {
                self.wait = (self.wait * 2).min(MAX_RETRY);
            }
            self.at = Some(Instant::now() + self.wait);
        }
    }

    /// The ephemeral events no stored event they follow is held back from
    /// any more, in arrival order.
    fn released(&mut self) -> Vec<Event> {
        let mut released = Vec::new();
        let held = &self.held;
        self.parked.retain(|organization_id, queue| {
            let first_held = held.get(organization_id).copied().unwrap_or(i64::MAX);
            while queue
                .front()
                .is_some_and(|(follows, _)| *follows <= first_held)
            {
                released.extend(queue.pop_front().map(|(_, event)| event));
            }
            !queue.is_empty()
        });
        released
    }
}

/// Waits until `at` (forever without one).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A live feed of one organization's events.
struct Feed {
    sender: broadcast::Sender<Arc<Event>>,
    /// The same events by thread, for subscriptions that follow one thread:
    /// an event wakes only those, not every subscription of the organization.
    threads: HashMap<ThreadId, broadcast::Sender<Arc<Event>>>,
    /// The last position read and broadcast.
    last_seen: i64,
}

impl Feed {
    /// A receiver of every event, or of `thread`'s only.
    fn subscribe(&mut self, thread: Option<ThreadId>) -> broadcast::Receiver<Arc<Event>> {
        match thread {
            None => self.sender.subscribe(),
            Some(thread) => self
                .threads
                .entry(thread)
                .or_insert_with(|| broadcast::channel(THREAD_CAPACITY).0)
                .subscribe(),
        }
    }

    /// Hands `event` to the organization's receivers and its thread's. No
    /// receivers is fine: the feed is dropped on the next read.
    fn send(&self, event: Event) {
        let event = Arc::new(event);
        if let Some(thread) = event.thread_id.and_then(|id| self.threads.get(&id)) {
            let _ = thread.send(event.clone());
        }
        let _ = self.sender.send(event);
    }

    /// Whether anyone here still listens (forgetting threads nobody follows).
    fn is_followed(&mut self) -> bool {
        self.threads.retain(|_, sender| sender.receiver_count() > 0);
        self.sender.receiver_count() > 0 || !self.threads.is_empty()
    }
}

/// Shared handle to this server's fan-out.
#[derive(Clone)]
pub struct EventHub {
    pool: DbPool,
    feeds: Arc<Mutex<HashMap<OrganizationId, Feed>>>,
    /// Organizations whose new feed the listener should read at once.
    due: Arc<Mutex<HashSet<OrganizationId>>>,
    wake: Arc<Notify>,
    /// Time from a stored event's creation to its broadcast.
    lag: metrics::Histogram,
}

/// Where a subscription to the hub starts.
pub struct Start {
    /// The feed's events, from now on.
    pub receiver: broadcast::Receiver<Arc<Event>>,
    /// Which events are history: those this snapshot includes. Every event
    /// it does not include comes through `receiver`.
    pub snapshot: Snapshot,
}

impl EventHub {
    /// A hub reading events through `pool`. Call `spawn_listener` to feed it.
    pub fn new(pool: DbPool) -> Self {
        EventHub {
            pool,
            feeds: Arc::default(),
            due: Arc::default(),
            wake: Arc::default(),
            lag: metrics::Histogram::noop(),
        }
    }

    /// This hub, recording each stored event's fan-out lag into `lag`.
    pub fn with_lag(self, lag: metrics::Histogram) -> Self {
        EventHub { lag, ..self }
    }

    /// A receiver of the organization's live events (of one `thread`'s
    /// only, when given), and the snapshot that tells history (events it
    /// includes) from what the receiver brings.
    pub async fn subscribe(
        &self,
        organization_id: OrganizationId,
        thread: Option<ThreadId>,
    ) -> Result<Start, crate::db::PoolOrQueryError> {
        let mut conn = self.pool.get().await?;
        // An existing feed: receive first, then take the snapshot, so that
        // whatever the feed broadcast before is history in it.
        let existing = self
            .lock_feeds()
            .get_mut(&organization_id)
            .map(|feed| feed.subscribe(thread));
        if let Some(receiver) = existing {
            let snapshot = model::snapshot(&mut conn).await?;
            return Ok(Start { receiver, snapshot });
        }
        let snapshot = model::snapshot(&mut conn).await?;
        let receiver = {
            let mut feeds = self.lock_feeds();
            match feeds.entry(organization_id) {
                std::collections::hash_map::Entry::Occupied(mut feed) => {
                    Err(feed.get_mut().subscribe(thread))
                }
                std::collections::hash_map::Entry::Vacant(entry) => {
                    let feed = entry.insert(Feed {
                        sender: broadcast::channel(BROADCAST_CAPACITY).0,
                        threads: HashMap::new(),
                        last_seen: snapshot.settled_through(),
                    });
                    Ok(feed.subscribe(thread))
                }
            }
        };
        match receiver {
            Ok(receiver) => {
                // Its notifications until now were ignored: read it once.
                self.lock_due().insert(organization_id);
                self.wake.notify_one();
                Ok(Start { receiver, snapshot })
            }
            // Another subscriber made the feed meanwhile.
            Err(receiver) => {
                let snapshot = model::snapshot(&mut conn).await?;
                Ok(Start { receiver, snapshot })
            }
        }
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

    /// One LISTEN session: catch up, then follow notifications (and retry
    /// held-back reads) until the connection ends.
    async fn listen(&self, database_url: &str) -> anyhow::Result<()> {
        let mut conn = AsyncPgConnection::establish(database_url).await?;
        diesel::sql_query(format!("LISTEN {EVENTS_CHANNEL}"))
            .execute(&mut conn)
            .await?;
        diesel::sql_query(format!("LISTEN {EPHEMERAL_CHANNEL}"))
            .execute(&mut conn)
            .await?;
        tracing::debug!("event listener connected");
        let mut pending = Pending::default();
        // Anything committed while we were not listening.
        let tracked: Vec<OrganizationId> = self.lock_feeds().keys().copied().collect();
        self.read(&tracked, &mut pending, false).await?;

        let mut sweep = tokio::time::interval(SWEEP_EVERY);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.reset();
        let mut notifications = std::pin::pin!(conn.notifications_stream());
        loop {
            let retry_at = pending.at;
            let first = tokio::select! {
                notification = notifications.next() => match notification {
                    Some(notification) => notification?,
                    None => return Ok(()),
                },
                () = self.wake.notified() => {
                    let due: Vec<_> = self.lock_due().drain().collect();
                    self.read(&due, &mut pending, false).await?;
                    continue;
                }
                () = sleep_until(retry_at), if retry_at.is_some() => {
                    let again: Vec<_> = pending.held.keys().copied().collect();
                    self.read(&again, &mut pending, true).await?;
                    continue;
                }
                _ = sweep.tick() => {
                    self.sweep(&mut pending).await?;
                    continue;
                }
            };
            let mut burst = vec![first];
            // Coalesce a burst: one read per organization, however many commits.
            while let Some(Some(more)) = notifications.next().now_or_never() {
                burst.push(more?);
            }
            // Stored events before an ephemeral one are delivered first,
            // keeping the order in which they happened.
            let mut organizations = HashSet::new();
            for notification in burst {
                if notification.channel == EPHEMERAL_CHANNEL {
                    let read: Vec<_> = organizations.drain().collect();
                    self.read(&read, &mut pending, false).await?;
                    match model::parse_ephemeral(&notification.payload) {
                        Ok((event, follows)) => {
                            let queue = pending.parked.entry(event.organization_id).or_default();
                            queue.push_back((follows, event));
                            self.broadcast(pending.released());
                        }
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
            let read: Vec<_> = organizations.into_iter().collect();
            self.read(&read, &mut pending, false).await?;
        }
    }

    /// Reads these organizations, notes those the horizon held back, and
    /// delivers the ephemeral events no longer waiting on a stored one.
    async fn read(
        &self,
        organizations: &[OrganizationId],
        pending: &mut Pending,
        timer: bool,
    ) -> anyhow::Result<()> {
        let held = self.catch_up(organizations).await?;
        pending.record(organizations, held, timer);
        self.broadcast(pending.released());
        Ok(())
    }

    /// Reads the followed organizations whose log moved past what was read,
    /// found by one statement: the sweep costs little when all is quiet.
    async fn sweep(&self, pending: &mut Pending) -> anyhow::Result<()> {
        let read_through: Vec<_> = {
            let mut feeds = self.lock_feeds();
            // Nobody here listens to these any more.
            feeds.retain(|_, feed| feed.is_followed());
            feeds
                .iter()
                .map(|(organization, feed)| (*organization, feed.last_seen))
                .collect()
        };
        if read_through.is_empty() {
            return Ok(());
        }
        let moved = {
            let mut conn = self.pool.get().await?;
            model::moved_past(&mut conn, &read_through).await?
        };
        self.read(&moved, pending, false).await
    }

    /// Reads and broadcasts the new events of these organizations (those
    /// with local subscribers); returns those the horizon held back, with
    /// the first position it held back.
    async fn catch_up(
        &self,
        organizations: &[OrganizationId],
    ) -> anyhow::Result<HashMap<OrganizationId, i64>> {
        let mut held = HashMap::new();
        if organizations.is_empty() {
            return Ok(held);
        }
        let mut conn = self.pool.get().await?;
        for &organization_id in organizations {
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
                if let Some(position) = batch.last_sequence {
                    // Past undecodable events too (already logged), so they are read once.
                    self.advance(organization_id, position);
                }
                if let Some(position) = batch.held_back {
                    held.insert(organization_id, position);
                    break;
                }
                if complete {
                    break;
                }
            }
        }
        Ok(held)
    }

    fn last_seen(&self, organization_id: OrganizationId) -> Option<i64> {
        let mut feeds = self.lock_feeds();
        let feed = feeds.get_mut(&organization_id)?;
        if !feed.is_followed() {
            // Nobody here listens to this organization any more.
            feeds.remove(&organization_id);
            return None;
        }
        Some(feed.last_seen)
    }

    /// Hands events (in position order per organization) to the feeds.
    fn broadcast(&self, events: Vec<Event>) {
        let now = chrono::Utc::now();
        let mut feeds = self.lock_feeds();
        for event in events {
            let Some(feed) = feeds.get_mut(&event.organization_id) else {
                continue;
            };
            if let Some(position) = event.sequence {
                if position <= feed.last_seen {
                    continue;
                }
                feed.last_seen = position;
                // Ephemeral events carry no time of their own.
                let lag = (now - event.created_at).to_std().unwrap_or_default();
                self.lag.record(lag);
            }
            feed.send(event);
        }
    }

    /// Moves an organization's feed past `position`.
    fn advance(&self, organization_id: OrganizationId, position: i64) {
        if let Some(feed) = self.lock_feeds().get_mut(&organization_id) {
            feed.last_seen = feed.last_seen.max(position);
        }
    }

    fn lock_feeds(&self) -> std::sync::MutexGuard<'_, HashMap<OrganizationId, Feed>> {
        // A panic while holding the lock leaves plain data behind; keep going.
        self.feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock_due(&self) -> std::sync::MutexGuard<'_, HashSet<OrganizationId>> {
        self.due
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::events::model::EventKind;

    fn event(thread: i64) -> Event {
        Event {
            organization_id: OrganizationId(1),
            sequence: Some(thread),
            kind: EventKind::MessageAdded,
            thread_id: Some(ThreadId(thread)),
            conversation_id: None,
            channel_id: None,
            payload: Default::default(),
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_thread_feed_gets_its_thread_only_and_is_forgotten_unfollowed() {
        let mut feed = Feed {
            sender: broadcast::channel(8).0,
            threads: HashMap::new(),
            last_seen: 0,
        };
        let mut one = feed.subscribe(Some(ThreadId(1)));
        let mut two = feed.subscribe(Some(ThreadId(2)));
        let mut all = feed.subscribe(None);
        feed.send(event(1));
        feed.send(event(3));
        let thread_of = |e: Arc<Event>| e.thread_id.map(|id| id.0);
        assert_eq!(one.try_recv().map(thread_of).ok(), Some(Some(1)));
        assert!(one.try_recv().is_err());
        assert!(two.try_recv().is_err());
        assert_eq!(all.try_recv().map(thread_of).ok(), Some(Some(1)));
        assert_eq!(all.try_recv().map(thread_of).ok(), Some(Some(3)));

        drop((one, all));
        assert!(feed.is_followed());
        assert_eq!(feed.threads.len(), 1);
        drop(two);
        assert!(!feed.is_followed());
        assert!(feed.threads.is_empty());
    }
}

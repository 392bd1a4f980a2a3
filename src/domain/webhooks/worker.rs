//! The delivery worker: turns the event log into deliveries and sends them,
//! one endpoint at a time per lease, in order, with retries.
//!
//! Every poll, each instance claims due webhooks with a lease
//! (`model::claim_due`, `FOR UPDATE SKIP LOCKED`), so exactly one instance
//! works on an endpoint at a time, and runs one pass per claimed endpoint
//! on its own task (a slow endpoint holds only its own task, never a write
//! or another endpoint). A pass sends the oldest pending delivery; when
//! none is pending it reads the next events after the endpoint's cursor
//! (`events::model::after`), renders those it wants into deliveries and
//! moves the cursor, in one transaction. Every write of a pass first
//! renews the lease, so a pass that lost it changes nothing. A failure is
//! retried with exponential backoff and jitter; a delivery still failing
//! after `give_up_after` is marked failed and disables its endpoint.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;
use rand::distr::Alphanumeric;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::model::{self, AttemptRecord, DeliveryStatus, NewDelivery, Webhook, WebhookDelivery};
use super::signing;
use super::target::{self, TargetPolicy};
use crate::db::DbPool;
use crate::domain::auth::{Actor, Viewer};
use crate::domain::events::model::{Event, EventFilter, after};
use crate::domain::tx;

/// Events read from the log per step.
const EVENT_BATCH: i64 = 100;
/// Steps (deliveries sent, or batches read) in one pass before the lease is
/// given back, so a busy endpoint's pass ends now and then.
const MAX_STEPS: usize = 200;
/// Longest error text kept on a delivery.
const MAX_ERROR_CHARS: usize = 500;
/// How often each instance deletes old finished deliveries.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// How deliveries are made; `Config::webhook_delivery` reads them.
#[derive(Clone, Copy, Debug)]
pub struct DeliverySettings {
    /// How often each instance looks for due webhooks.
    pub poll_interval: Duration,
    /// The first retry's delay; each next one doubles it.
    pub retry_base: Duration,
    /// The longest delay between two attempts.
    pub retry_max_delay: Duration,
    /// A delivery still failing this long after it was made is given up,
    /// and its webhook disabled.
    pub give_up_after: Duration,
    /// How long a claim on a webhook lasts without renewal (longer than one attempt).
    pub lease: Duration,
    /// Webhooks one instance delivers to at once.
    pub concurrency: usize,
    /// Connecting to an endpoint may take this long.
    pub connect_timeout: Duration,
    /// One attempt, answer included, may take this long.
    pub timeout: Duration,
    /// Which addresses may be called.
    pub policy: TargetPolicy,
    /// Finished deliveries older than this are deleted.
    pub delivery_retention: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            poll_interval: Duration::from_secs(1),
            retry_base: Duration::from_secs(10),
            retry_max_delay: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(24 * 3600),
            lease: Duration::from_secs(60),
            concurrency: 32,
            connect_timeout: Duration::from_secs(5),
            timeout: Duration::from_secs(10),
            policy: TargetPolicy::default(),
            delivery_retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// An event as a delivery's body carries it.
#[derive(Clone, Debug)]
pub struct RenderedEvent {
    /// The event's cursor (as subscriptions give it).
    pub cursor: String,
    /// The kind as the API names it, e.g. `MESSAGE_ADDED`.
    pub kind: String,
    /// When it happened, as the API writes times.
    pub occurred_at: serde_json::Value,
    /// The event, in the shape subscriptions deliver it.
    pub event: serde_json::Value,
}

/// Renders stored events the way the API shows them (the GraphQL layer
/// provides it, so webhook bodies and subscription events match).
pub trait EventRenderer: Send + Sync {
    /// `event` as `viewer` would receive it from a subscription.
    fn render<'a>(
        &'a self,
        viewer: Viewer,
        event: Event,
    ) -> Pin<Box<dyn Future<Output = Result<RenderedEvent, String>> + Send + 'a>>;
}

/// The delay before the retry that follows `attempts` failed attempts:
/// `retry_base * 2^(attempts - 1)`, at most `retry_max_delay`, of which a
/// random half is dropped (jitter, so endpoints that failed together do not
/// retry together).
pub fn retry_delay(settings: &DeliverySettings, attempts: i32) -> Duration {
    let doublings = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let full = settings
        .retry_base
        .saturating_mul(1u32 << doublings)
        .min(settings.retry_max_delay);
    let half = full / 2;
    half + half.mul_f64(rand::rng().random::<f64>())
}

/// Why a pass stopped early.
#[derive(Debug)]
enum PassError {
    /// The lease ran out or the webhook changed under it: leave it.
    LeaseLost,
    Database(diesel::result::Error),
    Pool(String),
    Render(String),
}

impl std::fmt::Display for PassError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PassError::LeaseLost => write!(f, "the lease was lost"),
            PassError::Database(error) => write!(f, "database: {error}"),
            PassError::Pool(error) => write!(f, "no database connection: {error}"),
            PassError::Render(error) => write!(f, "rendering an event: {error}"),
        }
    }
}

impl From<diesel::result::Error> for PassError {
    fn from(error: diesel::result::Error) -> Self {
        PassError::Database(error)
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for PassError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        PassError::Pool(error.to_string())
    }
}

/// What the worker's tasks share.
struct Shared {
    pool: DbPool,
    client: reqwest::Client,
    settings: DeliverySettings,
    renderer: Arc<dyn EventRenderer>,
}

/// The HTTP client deliveries use: timeouts, no redirects, no proxies, and
/// the guarded resolver (see `target`).
fn client(settings: &DeliverySettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(settings.connect_timeout)
        .timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(settings.policy.resolver())
        .user_agent(concat!("confab-webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

fn lease_token() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Delivers webhooks until the returned task is aborted (which aborts the
/// passes in flight too; their leases run out and another instance, or the
/// next start, resumes from what was recorded).
pub fn spawn_worker(
    pool: DbPool,
    settings: DeliverySettings,
    renderer: Arc<dyn EventRenderer>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match client(&settings) {
            Ok(client) => client,
            Err(error) => {
                tracing::error!(%error, "cannot build the webhook HTTP client; webhooks are not delivered");
                return;
            }
        };
        let shared = Arc::new(Shared {
            pool,
            client,
            settings,
            renderer,
        });
        let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        let mut passes = JoinSet::new();
        let mut ticks = tokio::time::interval(settings.poll_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned_at = tokio::time::Instant::now();
        loop {
            ticks.tick().await;
            while passes.try_join_next().is_some() {}
            if pruned_at.elapsed() >= PRUNE_EVERY {
                pruned_at = tokio::time::Instant::now();
                prune(&shared).await;
            }
            let free = slots.available_permits();
            if free == 0 {
                continue;
            }
            let token = lease_token();
            let claimed = match shared.pool.get().await {
                Ok(mut conn) => {
                    model::claim_due(&mut conn, &token, settings.lease, free as i64).await
                }
                Err(error) => {
                    tracing::warn!(%error, "webhooks: no database connection");
                    continue;
                }
            };
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(%error, "webhooks: claiming due endpoints failed");
                    continue;
                }
            };
            for webhook in claimed {
                // Only this loop takes permits, so one is free for each claim.
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let shared = shared.clone();
                let token = token.clone();
                passes.spawn(async move {
                    let _permit = permit;
                    pass(&shared, webhook, &token).await;
                });
            }
        }
    })
}

/// Deletes finished deliveries older than the retention (harmless when
/// several instances do it at once).
async fn prune(shared: &Shared) {
    let before = Utc::now() - to_chrono(shared.settings.delivery_retention);
    let result = match shared.pool.get().await {
        Ok(mut conn) => model::prune_deliveries(&mut conn, before)
            .await
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match result {
        Ok(0) => {}
        Ok(deleted) => tracing::debug!(deleted, "pruned old webhook deliveries"),
        Err(error) => tracing::warn!(%error, "pruning webhook deliveries failed"),
    }
}

/// One pass over a claimed webhook; gives the lease back at the end.
async fn pass(shared: &Shared, mut webhook: Webhook, token: &str) {
    let next = match run_pass(shared, &mut webhook, token).await {
        Ok(next) => next,
        Err(PassError::LeaseLost) => return,
        Err(error) => {
            tracing::warn!(webhook = %webhook.public_id, %error, "webhook pass failed; retrying later");
            Some(Utc::now() + to_chrono(shared.settings.retry_base))
        }
    };
    match shared.pool.get().await {
        Ok(mut conn) => {
            if let Err(error) = model::release(&mut conn, webhook.id, token, next).await {
                tracing::warn!(webhook = %webhook.public_id, %error, "releasing a webhook lease failed");
            }
        }
        Err(error) => tracing::warn!(%error, "webhooks: no database connection to release a lease"),
    }
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

/// What a step decided.
enum Step {
    /// Go on with the next delivery.
    Continue,
    /// Stop; the webhook is due again then (`None`: at the next poll, if ever).
    Stop(Option<DateTime<Utc>>),
}

/// Sends pending deliveries in order and turns new events into
/// deliveries, until one must wait or there is nothing left.
async fn run_pass(
    shared: &Shared,
    webhook: &mut Webhook,
    token: &str,
) -> Result<Option<DateTime<Utc>>, PassError> {
    for _ in 0..MAX_STEPS {
        let mut conn = shared.pool.get().await?;
        let step = match model::next_pending(&mut conn, webhook.id).await? {
            Some(delivery) if delivery.next_attempt_at > Utc::now() => {
                Step::Stop(Some(delivery.next_attempt_at))
            }
            Some(delivery) => {
                drop(conn);
                let outcome = attempt(shared, webhook, &delivery).await;
                let mut conn = shared.pool.get().await?;
                record(shared, &mut conn, webhook, token, &delivery, outcome).await?
            }
            None => {
                let batch = after(
                    &mut conn,
                    webhook.organization_id,
                    webhook.event_cursor,
                    EventFilter::All,
                    EVENT_BATCH,
                )
                .await?;
                drop(conn);
                match batch.last_sequence {
                    None => Step::Stop(None),
                    Some(last) => {
                        let deliveries = render(shared, webhook, batch.events).await?;
                        let mut conn = shared.pool.get().await?;
                        let lease = shared.settings.lease;
                        tx::run(&mut conn, async |tx| {
                            if !model::renew(tx, webhook.id, token, lease).await? {
                                return Err(PassError::LeaseLost);
                            }
                            model::insert_deliveries(tx, &deliveries).await?;
                            model::advance(tx, webhook.id, last).await?;
                            Ok(())
                        })
                        .await?;
                        webhook.event_cursor = last;
                        Step::Continue
                    }
                }
            }
        };
        if let Step::Stop(next) = step {
            return Ok(next);
        }
    }
    // More to do: due again at once.
    Ok(Some(Utc::now()))
}

/// The deliveries for the events `webhook` wants, in order.
async fn render(
    shared: &Shared,
    webhook: &Webhook,
    events: Vec<Event>,
) -> Result<Vec<NewDelivery>, PassError> {
    let viewer = Viewer {
        organization_id: webhook.organization_id,
        actor: Actor::ApiKey(webhook.api_key_id),
    };
    let mut deliveries = Vec::new();
    for event in events {
        if !webhook.wants(event.kind) {
            continue;
        }
        let rendered = shared
            .renderer
            .render(viewer, event)
            .await
            .map_err(PassError::Render)?;
        let body = serde_json::json!({
            "webhookId": webhook.public_id,
            "kind": rendered.kind,
            "cursor": rendered.cursor,
            "occurredAt": rendered.occurred_at,
            "event": rendered.event,
        });
        deliveries.push(NewDelivery::new(
            webhook,
            rendered.cursor,
            rendered.kind,
            body.to_string(),
        ));
    }
    Ok(deliveries)
}

/// How one attempt went.
struct Outcome {
    /// The endpoint's status code, if it answered.
    status: Option<u16>,
    /// Why it failed, if it did.
    error: Option<String>,
}

/// The error and the errors it wraps, as one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// POSTs the delivery's body, signed now.
async fn attempt(shared: &Shared, webhook: &Webhook, delivery: &WebhookDelivery) -> Outcome {
    let refused = |why: String| Outcome {
        status: None,
        error: Some(why),
    };
    let url = match target::parse(&webhook.url) {
        Ok(url) => url,
        Err(refusal) => return refused(format!("{refusal:?}")),
    };
    if let Err(refusal) = shared.settings.policy.check_literal(&url) {
        return refused(format!("refused target: {refusal:?}"));
    }
    let timestamp = Utc::now().timestamp();
    let signature = signing::sign(&webhook.secret, timestamp, &delivery.body);
    let request = shared
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(signing::TIMESTAMP_HEADER, timestamp.to_string())
        .header(signing::SIGNATURE_HEADER, signature)
        .header(signing::IDEMPOTENCY_HEADER, delivery.event_cursor.as_str())
        .header(signing::EVENT_HEADER, delivery.event_kind.as_str())
        .header(signing::DELIVERY_HEADER, delivery.public_id.as_str())
        .body(delivery.body.clone());
    match request.send().await {
        Ok(response) => {
            let status = response.status();
            // The answer's body is not needed; dropping it closes or reuses the connection.
            Outcome {
                status: Some(status.as_u16()),
                error: (!status.is_success()).then(|| format!("the endpoint answered {status}")),
            }
        }
        Err(error) => refused(describe(&error)),
    }
}

/// Records an attempt (after renewing the lease, in one transaction): done,
/// retry later, or given up with the webhook disabled.
async fn record(
    shared: &Shared,
    conn: &mut diesel_async::AsyncPgConnection,
    webhook: &Webhook,
    token: &str,
    delivery: &WebhookDelivery,
    outcome: Outcome,
) -> Result<Step, PassError> {
    let settings = &shared.settings;
    let now = Utc::now();
    let attempts = delivery.attempts.saturating_add(1);
    let mut record = AttemptRecord {
        status: DeliveryStatus::Pending,
        attempts,
        next_attempt_at: delivery.next_attempt_at,
        last_attempt_at: Some(now),
        response_status: Some(outcome.status.map(i32::from)),
        last_error: Some(outcome.error.clone()),
        delivered_at: None,
    };
    let mut disable = None;
    let step = match &outcome.error {
        None => {
            record.status = DeliveryStatus::Succeeded;
            record.delivered_at = Some(Some(now));
            Step::Continue
        }
        Some(error) if now - delivery.created_at >= to_chrono(settings.give_up_after) => {
            record.status = DeliveryStatus::Failed;
            disable = Some(format!(
                "delivery {} still failing after {} attempts: {error}",
                delivery.public_id, attempts
            ));
            Step::Stop(None)
        }
        Some(_) => {
            let next = now + to_chrono(retry_delay(settings, attempts));
            record.next_attempt_at = next;
            Step::Stop(Some(next))
        }
    };
    let lease = settings.lease;
    tx::run(conn, async |tx| {
        if !model::renew(tx, webhook.id, token, lease).await? {
            return Err(PassError::LeaseLost);
        }
        model::record_attempt(tx, delivery.id, &record).await?;
        if let Some(reason) = &disable {
            model::disable(tx, webhook.id, reason).await?;
        }
        Ok(())
    })
    .await?;
    if let Some(reason) = disable {
        tracing::warn!(webhook = %webhook.public_id, %reason, "webhook disabled");
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let settings = DeliverySettings::default();
        for attempts in 1..40 {
            let full = settings
                .retry_base
                .saturating_mul(1 << (attempts - 1).min(30))
                .min(settings.retry_max_delay);
            let delay = retry_delay(&settings, attempts);
            assert!(delay >= full / 2 && delay <= full, "{attempts}: {delay:?}");
        }
        assert!(retry_delay(&settings, 1) <= Duration::from_secs(10));
        assert!(retry_delay(&settings, 30) >= Duration::from_secs(1800));
    }
}

//! Metrics: one Prometheus recorder per `Application`, its handles
//! registered once up front, and the text `GET /metrics` renders.
//!
//! Every label combination is registered when the application is built, so
//! recording on the hot path is an atomic add (counters, gauges) or a
//! lock-free push (histograms) on a handle already in hand: no lookup, no
//! label building, no allocation. Nothing is installed process-wide, so
//! several applications in one process (the tests) keep separate values.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::Response;
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::db::{DbPool, StatementCounter};

/// Bucket bounds (seconds) of every histogram: 0.5 ms to 1 minute.
const SECONDS_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

/// How often histogram samples are folded into their buckets between
/// scrapes (otherwise they accumulate until the next scrape).
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

const GRAPHQL_REQUESTS: &str = "confab_graphql_requests_total";
const GRAPHQL_DURATION: &str = "confab_graphql_request_duration_seconds";
const REFUSALS: &str = "confab_rate_limit_refusals_total";
const WS_CONNECTIONS: &str = "confab_ws_connections";
const WS_SUBSCRIPTIONS: &str = "confab_ws_subscriptions";
const WS_SHARED: &str = "confab_ws_shared_executions";
const WS_RESULTS: &str = "confab_ws_results_total";
const FANOUT_LAG: &str = "confab_event_fanout_lag_seconds";
const SCHEDULER_LAG: &str = "confab_scheduler_lag_seconds";
const POOL_SIZE: &str = "confab_db_pool_connections";
const POOL_MAX: &str = "confab_db_pool_max_connections";
const POOL_IN_USE: &str = "confab_db_pool_in_use";
const POOL_IDLE: &str = "confab_db_pool_available";
const POOL_WAITING: &str = "confab_db_pool_waiting";
const POOL_WAIT: &str = "confab_db_pool_wait_seconds";
const POOL_STATEMENTS: &str = "confab_db_statements_total";

/// The type of a GraphQL request's operation (label `operation`). The
/// variants' order is their index in the handle arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// `query` (also `{ … }`).
    Query,
    /// `mutation`.
    Mutation,
    /// `subscription` (over HTTP it is refused as a client error).
    Subscription,
    /// Not known: refused before the document was read, or it did not parse
    /// or name an operation.
    None,
}

impl Operation {
    const ALL: [Operation; 4] = [
        Operation::Query,
        Operation::Mutation,
        Operation::Subscription,
        Operation::None,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::Mutation => "mutation",
            Operation::Subscription => "subscription",
            Operation::None => "none",
        }
    }
}

/// How a GraphQL request over HTTP ended (label `outcome`). The variants'
/// order is their index in the handle arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Executed and answered (field errors the client caused included).
    Ok,
    /// A request error: malformed, refused by a limit, not valid, or asking
    /// for too large a response (HTTP 4xx, or 200 with only `errors` under
    /// `application/json`).
    ClientError,
    /// No, a bad or a revoked token (HTTP 401).
    Unauthenticated,
    /// Over the token's rate or concurrency (HTTP 429).
    RateLimited,
    /// The server failed: HTTP 5xx (including 503 when the database cannot
    /// answer), or an `INTERNAL_SERVER_ERROR`/`SERVICE_UNAVAILABLE` field error.
    ServerError,
    /// Dropped before it was answered: the request timeout fired (the client
    /// got a 503) or the client went away.
    Cancelled,
}

impl Outcome {
    const ALL: [Outcome; 6] = [
        Outcome::Ok,
        Outcome::ClientError,
        Outcome::Unauthenticated,
        Outcome::RateLimited,
        Outcome::ServerError,
        Outcome::Cancelled,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ClientError => "client_error",
            Outcome::Unauthenticated => "unauthenticated",
            Outcome::RateLimited => "rate_limited",
            Outcome::ServerError => "server_error",
            Outcome::Cancelled => "cancelled",
        }
    }

    /// The outcome an HTTP status tells (when the handler said nothing more).
    fn of_status(status: StatusCode) -> Outcome {
        match status {
            StatusCode::UNAUTHORIZED => Outcome::Unauthenticated,
            StatusCode::TOO_MANY_REQUESTS => Outcome::RateLimited,
            status if status.is_server_error() => Outcome::ServerError,
            status if status.is_client_error() => Outcome::ClientError,
            _ => Outcome::Ok,
        }
    }
}

/// Where a request was refused (label `transport`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `POST`/`GET /graphql`.
    Http,
    /// A GraphQL WebSocket.
    WebSocket,
}

impl Transport {
    const ALL: [Transport; 2] = [Transport::Http, Transport::WebSocket];

    fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::WebSocket => "ws",
        }
    }
}

/// Why an operation was refused (label `reason`, the API's own
/// `extensions.reason` or `code`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Over the token's request rate.
    RateLimited,
    /// The token already runs its maximum of operations (HTTP only).
    TooManyConcurrentRequests,
    /// The socket already runs its maximum of operations (WebSocket only).
    TooManySubscriptions,
    /// The server already runs its maximum of queries, for the whole wait
    /// (answered 503 over HTTP).
    ReadGateFull,
}

impl Refused {
    const ALL: [Refused; 4] = [
        Refused::RateLimited,
        Refused::TooManyConcurrentRequests,
        Refused::TooManySubscriptions,
        Refused::ReadGateFull,
    ];

    /// The reason code, as the API's `extensions.reason` says it.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::RateLimited => "RATE_LIMITED",
            Refused::TooManyConcurrentRequests => "TOO_MANY_CONCURRENT_REQUESTS",
            Refused::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Refused::ReadGateFull => "READ_GATE_FULL",
        }
    }

    /// Whether the refusal can happen on this transport (only those series
    /// are exported).
    fn applies_to(self, transport: Transport) -> bool {
        match self {
            Refused::RateLimited | Refused::ReadGateFull => true,
            Refused::TooManyConcurrentRequests => transport == Transport::Http,
            Refused::TooManySubscriptions => transport == Transport::WebSocket,
        }
    }
}

impl From<crate::http::Refusal> for Refused {
    fn from(refusal: crate::http::Refusal) -> Self {
        match refusal {
            crate::http::Refusal::RateLimited { .. } => Refused::RateLimited,
            crate::http::Refusal::TooManyConcurrent => Refused::TooManyConcurrentRequests,
        }
    }
}

/// This application's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// By `Operation` then `Outcome`, in the order of their `ALL`.
    requests: [[Counter; Outcome::ALL.len()]; Operation::ALL.len()],
    /// By `Operation`.
    durations: [Histogram; Operation::ALL.len()],
    /// By `Transport` then `Refused` (no-ops where a refusal cannot happen).
    refusals: [[Counter; Refused::ALL.len()]; Transport::ALL.len()],
    ws_connections: Gauge,
    ws_subscriptions: Gauge,
    ws_shared: Gauge,
    ws_results: Counter,
    fanout_lag: Histogram,
    scheduler_lag: Histogram,
    pools: Mutex<Vec<PoolGauges>>,
}

/// A pool's gauges, read from the pool when `/metrics` is scraped.
struct PoolGauges {
    pool: DbPool,
    statements: StatementCounter,
    size: Gauge,
    max: Gauge,
    in_use: Gauge,
    available: Gauge,
    waiting: Gauge,
    statements_total: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh recorder with every metric registered (at zero) and described.
    pub fn new() -> Metrics {
        let builder = PrometheusBuilder::new();
        let recorder = match builder.set_buckets(&SECONDS_BUCKETS) {
            Ok(builder) => builder.build_recorder(),
            // Only for empty buckets, which these are not.
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        describe(&recorder);
        let counter = |name: &'static str, labels: &[(&'static str, &'static str)]| {
            recorder.register_counter(&key(name, labels), &METADATA)
        };
        let requests = Operation::ALL.map(|operation| {
            Outcome::ALL.map(|outcome| {
                counter(
                    GRAPHQL_REQUESTS,
                    &[
                        ("operation", operation.as_str()),
                        ("outcome", outcome.as_str()),
                    ],
                )
            })
        });
        let durations = Operation::ALL.map(|operation| {
            recorder.register_histogram(
                &key(GRAPHQL_DURATION, &[("operation", operation.as_str())]),
                &METADATA,
            )
        });
        let refusals = Transport::ALL.map(|transport| {
            Refused::ALL.map(|reason| {
                if reason.applies_to(transport) {
                    counter(
                        REFUSALS,
                        &[
                            ("transport", transport.as_str()),
                            ("reason", reason.as_str()),
                        ],
                    )
                } else {
                    Counter::noop()
                }
            })
        });
        let ws_connections = recorder.register_gauge(&key(WS_CONNECTIONS, &[]), &METADATA);
        let ws_subscriptions = recorder.register_gauge(&key(WS_SUBSCRIPTIONS, &[]), &METADATA);
        let ws_shared = recorder.register_gauge(&key(WS_SHARED, &[]), &METADATA);
        let ws_results = counter(WS_RESULTS, &[]);
        let fanout_lag = recorder.register_histogram(&key(FANOUT_LAG, &[]), &METADATA);
        let scheduler_lag = recorder.register_histogram(&key(SCHEDULER_LAG, &[]), &METADATA);
        let handle = recorder.handle();
        Metrics(Arc::new(Inner {
            recorder,
            handle,
            requests,
            durations,
            refusals,
            ws_connections,
            ws_subscriptions,
            ws_shared,
            ws_results,
            fanout_lag,
            scheduler_lag,
            pools: Mutex::new(Vec::new()),
        }))
    }

    /// Reports on `pool` under the label `pool="<name>"`: its size and use
    /// (read at each scrape), the statements it ran, and how long each
    /// checkout waited (the returned pool records that).
    pub fn observe_pool(
        &self,
        name: &'static str,
        pool: DbPool,
        statements: StatementCounter,
    ) -> DbPool {
        let recorder = &self.0.recorder;
        let labels = [("pool", name)];
        let gauge = |metric| recorder.register_gauge(&key(metric, &labels), &METADATA);
        let wait = recorder.register_histogram(&key(POOL_WAIT, &labels), &METADATA);
        let pool = pool.with_wait_histogram(wait);
        let gauges = PoolGauges {
            pool: pool.clone(),
            statements,
            size: gauge(POOL_SIZE),
            max: gauge(POOL_MAX),
            in_use: gauge(POOL_IN_USE),
            available: gauge(POOL_IDLE),
            waiting: gauge(POOL_WAITING),
            statements_total: recorder.register_counter(&key(POOL_STATEMENTS, &labels), &METADATA),
        };
        gauges.update();
        self.0
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(gauges);
        pool
    }

    /// Starts timing one GraphQL request over HTTP; it is counted when
    /// finished, or as `cancelled` if dropped first.
    pub fn graphql_request(&self) -> GraphqlRequest {
        GraphqlRequest {
            metrics: self.clone(),
            started: Instant::now(),
            operation: Operation::None,
            finished: false,
        }
    }

    fn record_request(&self, operation: Operation, outcome: Outcome, elapsed: Duration) {
        let op = operation as usize;
        self.0.requests[op][outcome as usize].increment(1);
        self.0.durations[op].record(elapsed);
    }

    /// Counts an operation refused for fairness or a per-socket cap.
    pub fn refused(&self, transport: Transport, reason: impl Into<Refused>) {
        self.0.refusals[transport as usize][reason.into() as usize].increment(1);
    }

    /// Counts a live WebSocket until the returned guard is dropped.
    pub fn ws_connection(&self) -> Live {
        Live::new(&self.0.ws_connections)
    }

    /// Counts a running WebSocket operation until the guard is dropped.
    pub fn ws_subscription(&self) -> Live {
        Live::new(&self.0.ws_subscriptions)
    }

    /// Counts a shared subscription execution until the guard is dropped.
    pub fn ws_shared_execution(&self) -> Live {
        Live::new(&self.0.ws_shared)
    }

    /// Counts one subscription result executed (once for a whole shape).
    pub fn ws_result_executed(&self) {
        self.0.ws_results.increment(1);
    }

    /// The histogram of event fan-out lag, for the event hub.
    pub fn fanout_lag(&self) -> Histogram {
        self.0.fanout_lag.clone()
    }

    /// The histogram of scheduled publishing lag, for the scheduler.
    pub fn scheduler_lag(&self) -> Histogram {
        self.0.scheduler_lag.clone()
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        for pool in self
            .0
            .pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            pool.update();
        }
        self.0.handle.render()
    }

    /// Folds pending histogram samples into their buckets, until the
    /// process ends (so that memory stays bounded without scrapes).
    pub fn spawn_upkeep(&self) -> tokio::task::JoinHandle<()> {
        let handle = self.0.handle.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                handle.run_upkeep();
            }
        })
    }
}

impl PoolGauges {
    fn update(&self) {
        let status = self.pool.status();
        self.size.set(status.size as f64);
        self.max.set(status.max_size as f64);
        self.in_use
            .set(status.size.saturating_sub(status.available) as f64);
        self.available.set(status.available as f64);
        self.waiting.set(status.waiting as f64);
        self.statements_total.absolute(self.statements.get());
    }
}

/// One GraphQL request over HTTP being timed.
pub struct GraphqlRequest {
    metrics: Metrics,
    started: Instant,
    operation: Operation,
    finished: bool,
}

impl GraphqlRequest {
    /// Sets the operation's type, once the document is read.
    pub fn set_operation(&mut self, operation: Operation) {
        self.operation = operation;
    }

    /// Counts the request with the outcome its response carries (an
    /// `Outcome` extension), or else the one its status tells.
    pub fn finish(mut self, response: &Response) {
        self.finished = true;
        let outcome = response
            .extensions()
            .get::<Outcome>()
            .copied()
            .unwrap_or_else(|| Outcome::of_status(response.status()));
        self.metrics
            .record_request(self.operation, outcome, self.started.elapsed());
    }
}

impl Drop for GraphqlRequest {
    fn drop(&mut self) {
        if !self.finished {
            self.metrics
                .record_request(self.operation, Outcome::Cancelled, self.started.elapsed());
        }
    }
}

/// Holds one unit of a gauge while it lives.
pub struct Live(Gauge);

impl Live {
    fn new(gauge: &Gauge) -> Live {
        gauge.increment(1.0);
        Live(gauge.clone())
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(name, value)| Label::from_static_parts(name, value))
        .collect();
    Key::from_parts(name, labels)
}

/// The `# HELP` lines.
fn describe(recorder: &PrometheusRecorder) {
    let seconds = Some(Unit::Seconds);
    let counters = [
        (
            GRAPHQL_REQUESTS,
            "GraphQL requests over HTTP, by operation type and outcome.",
        ),
        (
            REFUSALS,
            "Operations refused by the per-token rate or concurrency limits or the per-socket subscription cap.",
        ),
        (
            POOL_STATEMENTS,
            "SQL statements run on the pool's connections.",
        ),
        (
            WS_RESULTS,
            "Subscription results executed: once per event for all the sockets of a shape.",
        ),
    ];
    for (name, help) in counters {
        recorder.describe_counter(name.into(), None, help.into());
    }
    let gauges = [
        (WS_CONNECTIONS, "Open GraphQL WebSockets."),
        (
            WS_SUBSCRIPTIONS,
            "Operations (mostly subscriptions) running on open WebSockets.",
        ),
        (
            WS_SHARED,
            "Subscription executions, each shared by the operations of one shape.",
        ),
        (POOL_SIZE, "Open connections of the pool."),
        (POOL_MAX, "Most connections the pool may open."),
        (POOL_IN_USE, "Connections of the pool checked out."),
        (POOL_IDLE, "Open connections of the pool ready for use."),
        (POOL_WAITING, "Tasks waiting for a connection of the pool."),
    ];
    for (name, help) in gauges {
        recorder.describe_gauge(name.into(), None, help.into());
    }
    let histograms = [
        (
            GRAPHQL_DURATION,
            "Time to answer a GraphQL request over HTTP, by operation type.",
        ),
        (
            POOL_WAIT,
            "Time to check a connection out of the pool (waiting for a free one or opening one).",
        ),
        (
            FANOUT_LAG,
            "Time from a stored event's creation (its transaction's clock) to its hand-off to this server's subscribers.",
        ),
        (
            SCHEDULER_LAG,
            "How late a scheduled channel publish went out, after its publish time.",
        ),
    ];
    for (name, help) in histograms {
        recorder.describe_histogram(name.into(), seconds, help.into());
    }
}

#[cfg(test)]
mod tests;

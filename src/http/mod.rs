//! HTTP routes: GraphQL over HTTP and WebSocket, GraphiQL, health checks and
//! metrics, with the layers every request passes (CORS, time limit, request ids).

mod cors;
mod fairness;
mod graphiql;
mod graphql;
mod observe;
mod persisted;
pub mod read_gate;
mod response;
mod ws;

pub use cors::OriginPolicy;
pub use fairness::{Fairness, FairnessLimits, Refusal};
pub use read_gate::ReadGate;
pub use ws::WsLimits;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::db::{self, DbPool};
use crate::domain::auth::TokenCache;
use crate::graphql::Schemas;
use crate::graphql::compiled::{CompiledReads, Mode};
use crate::graphql::limits::Guard;
use crate::telemetry::Metrics;

/// How long a verified token is trusted without asking the database again
/// (and so how long a revoked token may still work).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// How long a query waits for its turn, unless the config says otherwise.
const READ_GATE_WAIT: Duration = Duration::from_secs(2);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(1);

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The schemas, with and without response byte counting.
    pub schemas: Schemas,
    pub pool: DbPool,
    /// Bounds on documents, checked before validation.
    pub guard: Guard,
    /// Per-token rate and concurrency.
    pub fairness: Arc<Fairness>,
    /// WebSocket limits.
    pub ws: WsLimits,
    /// Recently verified bearer tokens.
    pub tokens: Arc<TokenCache>,
    /// Which web origins may call the API.
    pub origins: Arc<OriginPolicy>,
    /// This application's metrics.
    pub metrics: Metrics,
    /// Queries answered by one SQL statement.
    pub reads: Arc<CompiledReads>,
    /// Subscriptions running once for every socket of the same shape.
    pub shapes: Arc<ws::Shapes>,
    /// Query texts clients may name by their hash.
    pub persisted: Arc<persisted::PersistedQueries>,
    /// How many queries run at once.
    pub read_gate: Arc<ReadGate>,
}

impl AppState {
    /// State for the routes.
    pub fn new(
        schemas: Schemas,
        pool: DbPool,
        guard: Guard,
        fairness: FairnessLimits,
        ws: WsLimits,
        origins: OriginPolicy,
        metrics: Metrics,
    ) -> Self {
        AppState {
            schemas,
            pool,
            guard,
            fairness: Arc::new(Fairness::new(fairness)),
            ws,
            tokens: Arc::new(TokenCache::new(TOKEN_CACHE_TTL)),
            origins: Arc::new(origins),
            shapes: Arc::new(ws::Shapes::new(metrics.clone())),
            persisted: Arc::default(),
            metrics,
            reads: Arc::new(CompiledReads::new(Mode::On)),
            read_gate: Arc::new(ReadGate::new(read_gate::default_size(), READ_GATE_WAIT)),
        }
    }

    /// This state, admitting queries through `gate`.
    pub fn with_read_gate(self, gate: ReadGate) -> Self {
        AppState {
            read_gate: Arc::new(gate),
            ..self
        }
    }

    /// This state, compiling reads as `reads` says.
    pub fn with_compiled_reads(self, reads: CompiledReads) -> Self {
        AppState {
            reads: Arc::new(reads),
            ..self
        }
    }
}

/// All routes, with the body limit, the per-request timeout, request ids
/// and request logs.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let cors = state.origins.layer();
    let router = Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/graphql", get(graphql_get_or_upgrade).post(graphql::post))
        .route("/ws", get(websocket))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(observe::metrics))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(move |request, next| {
            time_limit(request_timeout, request, next)
        }))
        .layer(cors)
        .with_state(state);
    observe::request_log(router)
}

/// Answers 503 `SERVICE_UNAVAILABLE` with a JSON body when a request takes
/// longer than `limit` (a hung database, say), dropping its work.
async fn time_limit(limit: Duration, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?limit, "request timed out");
            response::service_unavailable("the request took too long; try again shortly")
        }
    }
}

/// GET `/graphql`: a query, or a WebSocket upgrade for subscriptions.
async fn graphql_get_or_upgrade(
    state: State<AppState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    query: RawQuery,
) -> Response {
    match upgrade {
        Ok(upgrade) => ws::upgrade(state.0, &headers, upgrade),
        Err(_) => graphql::get(state, headers, query).await,
    }
}

/// GET `/ws`: subscriptions.
async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    ws::upgrade(state, &headers, upgrade)
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match db::ping(&state.pool, READY_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

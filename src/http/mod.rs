//! HTTP routes: GraphQL over HTTP, GraphiQL, health checks.

mod graphql;
mod ws;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tower_http::timeout::TimeoutLayer;

use crate::auth::TokenCache;
use crate::db::{self, DbPool};
use crate::graphql::ConfabSchema;

/// How long a verified token is trusted without asking the database again
/// (and so how long a revoked token may still work).
const TOKEN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: ConfabSchema,
    pub pool: DbPool,
    /// How long a WebSocket may take to send `connection_init`.
    pub ws_init_timeout: Duration,
    /// Recently verified bearer tokens.
    pub tokens: Arc<TokenCache>,
    graphiql: Arc<str>,
}

impl AppState {
    /// State for the routes.
    pub fn new(schema: ConfabSchema, pool: DbPool, ws_init_timeout: Duration) -> Self {
        let graphiql = async_graphql::http::GraphiQLSource::build()
            .endpoint("/graphql")
            .subscription_endpoint("/ws")
            .title("confab")
            .finish();
        AppState {
            schema,
            pool,
            ws_init_timeout,
            tokens: Arc::new(TokenCache::new(TOKEN_CACHE_TTL)),
            graphiql: graphiql.into(),
        }
    }
}

/// All routes, with the body limit and the per-request timeout.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphql_get_or_upgrade).post(graphql::post))
        .route("/ws", get(websocket))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .with_state(state)
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

async fn graphiql(State(state): State<AppState>) -> Html<String> {
    Html(state.graphiql.to_string())
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// The database answers.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match db::ping(&state.pool).await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

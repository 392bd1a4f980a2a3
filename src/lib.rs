//! confab: one GraphQL API over PostgreSQL for contacts, threads,
//! conversations, channels and their messages.
//!
//! `main.rs` is a thin CLI over this library; the tests build the same
//! [`Application`] on an ephemeral port.

pub mod config;
pub mod db;
pub mod domain;
pub mod graphql;
pub mod http;
pub mod postgres;
pub mod telemetry;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context as _;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

pub use config::Config;
use db::DbPool;
use postgres::{Cluster, ClusterOptions};

/// Connections for background work: the event listener's reads, the
/// scheduler and retention.
const BACKGROUND_POOL_SIZE: usize = 4;

/// Connections for webhook deliveries (held only between HTTP calls, never
/// during one), apart so a backlog of deliveries cannot starve fan-out.
const WEBHOOK_POOL_SIZE: usize = 4;

/// Name of the database confab uses inside its private cluster.
pub const EMBEDDED_DATABASE: &str = "confab";

/// The database a process uses: the configured URL, or the private cluster
/// (kept running while this value lives).
pub struct Database {
    /// Connection string.
    pub url: String,
    /// The private cluster, when there is no `DATABASE_URL`.
    cluster: Option<Cluster>,
}

impl Database {
    /// Resolves the config's database, starting the private cluster if
    /// needed, and applies pending migrations.
    pub async fn open(config: &Config) -> anyhow::Result<Database> {
        let database = match &config.database_url {
            Some(url) => Database {
                url: url.clone(),
                cluster: None,
            },
            None => {
                let data_dir = config.data_dir.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    Cluster::ensure_running(&data_dir, ClusterOptions::default())
                })
                .await??;
                db::create_database(&cluster.database_url("postgres"), EMBEDDED_DATABASE, None)
                    .await?;
                Database {
                    url: cluster.database_url(EMBEDDED_DATABASE),
                    cluster: Some(cluster),
                }
            }
        };
        let applied = db::run_migrations(&database.url)
            .await
            .context("migrating the database")?;
        for version in applied {
            tracing::info!(%version, "applied migration");
        }
        Ok(database)
    }

    /// Releases the private cluster on a blocking thread (it is stopped if
    /// no other process uses it).
    pub async fn close(mut self) {
        if let Some(cluster) = self.cluster.take() {
            let _ = tokio::task::spawn_blocking(move || drop(cluster)).await;
        }
    }
}

/// A built server, bound to its address but not yet serving.
pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    pool: DbPool,
    background_pool: DbPool,
    statements: db::StatementCounter,
    hub: domain::events::EventHub,
    metrics: telemetry::Metrics,
    database_url: String,
    event_retention: std::time::Duration,
    webhook_pool: DbPool,
    webhooks: domain::webhooks::DeliverySettings,
    renderer: std::sync::Arc<dyn domain::webhooks::EventRenderer>,
}

impl Application {
    /// Builds the pool, schema and routes, and binds the listener.
    pub async fn build(config: &Config, database_url: &str) -> anyhow::Result<Application> {
        let metrics = telemetry::Metrics::new();
        let statements = db::StatementCounter::default();
        let pool = db::build_pool(database_url, &config.pool_settings(), statements.clone())?;
        let pool = metrics.observe_pool("request", pool, statements.clone());
        // Background work (event fan-out, scheduling, retention) has its own
        // small pool, so it can neither starve requests nor be starved.
        let background_settings = db::PoolSettings {
            max_size: BACKGROUND_POOL_SIZE,
            ..config.pool_settings()
        };
        let background_statements = db::StatementCounter::default();
        let background_pool = db::build_pool(
            database_url,
            &background_settings,
            background_statements.clone(),
        )?;
        let background_pool =
            metrics.observe_pool("background", background_pool, background_statements);
        let webhook_settings = db::PoolSettings {
            max_size: WEBHOOK_POOL_SIZE,
            ..config.pool_settings()
        };
        let webhook_statements = db::StatementCounter::default();
        let webhook_pool =
            db::build_pool(database_url, &webhook_settings, webhook_statements.clone())?;
        let webhook_pool = metrics.observe_pool("webhooks", webhook_pool, webhook_statements);
        let hub =
            domain::events::EventHub::new(background_pool.clone()).with_lag(metrics.fanout_lag());
        // Off the async workers: loading phone metadata takes a moment.
        tokio::task::spawn_blocking(domain::validation::warm_up).await?;
        // Webhook bodies are rendered through the subscription's Event type.
        let renderer =
            std::sync::Arc::new(graphql::webhooks::SchemaRenderer::new(webhook_pool.clone()));
        let schemas = graphql::build_schemas(pool.clone(), hub.clone(), config.schema_limits());
        let guard = graphql::limits::Guard::new(&schemas.plain.sdl(), config.query_limits())?;
        let origins = http::OriginPolicy::parse(&config.cors_origins)
            .map_err(|error| anyhow::anyhow!("CONFAB_CORS_ORIGINS: {error}"))?;
        let state = http::AppState::new(
            schemas,
            pool.clone(),
            guard,
            config.fairness(),
            config.ws_limits(),
            origins,
            metrics.clone(),
        );
        let reads = graphql::compiled::Mode::parse(&config.compiled_reads)
            .map_err(|error| anyhow::anyhow!("CONFAB_COMPILED_READS: {error}"))?;
        let state = state
            .with_compiled_reads(graphql::compiled::CompiledReads::new(reads))
            .with_read_gate(config.read_gate());
        let router = http::router(state, config.request_timeout());
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: is another server using it? Set CONFAB_LISTEN (or --listen) to another address",
                    config.listen
                )
            })?;
        Ok(Application {
            listener,
            router,
            pool,
            background_pool,
            statements,
            hub,
            metrics,
            database_url: database_url.to_string(),
            event_retention: config.event_retention(),
            webhook_pool,
            webhooks: config.webhook_delivery(),
            renderer,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The connection pool.
    pub fn pool(&self) -> &DbPool {
        &self.pool
    }

    /// Counts the SQL statements this application's pool has run.
    pub fn statement_counter(&self) -> db::StatementCounter {
        self.statements.clone()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    /// The background work (event listener, retention, scheduled
    /// publishing) runs while it serves.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let background = [
            self.hub.spawn_listener(self.database_url.clone()),
            domain::events::spawn_pruner(self.background_pool.clone(), self.event_retention),
            domain::channels::publishing::spawn_scheduler(
                self.background_pool.clone(),
                self.metrics.scheduler_lag(),
            ),
            self.metrics.spawn_upkeep(),
            domain::webhooks::worker::spawn_worker(
                self.webhook_pool.clone(),
                self.webhooks,
                self.renderer.clone(),
            ),
        ];
        // Without TCP_NODELAY a small write (a subscription's event, a short
        // response) can wait for the peer's delayed ACK of the one before.
        let listener = self.listener.tap_io(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "TCP_NODELAY not set on a connection");
            }
        });
        let served = axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        for task in background {
            task.abort();
        }
        served
    }
}

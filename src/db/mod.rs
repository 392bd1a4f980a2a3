//! The database layer: the connection pool, embedded migrations and the
//! generated table definitions.

pub mod cached;
pub mod ids;
pub mod lateral;
pub mod page;
pub mod rows;
pub mod schema;
pub mod text_enum;

/// Implements diesel's `QueryId` (never cached by type: the SQL text
/// varies) and `Query` (untyped rows, read by column name) for statements
/// written by hand as a `QueryFragment`.
macro_rules! raw_statement {
    ($($name:ty),+ $(,)?) => {$(
        impl diesel::query_builder::QueryId for $name {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl diesel::query_builder::Query for $name {
            type SqlType = diesel::sql_types::Untyped;
        }
    )+};
}
pub(crate) use raw_statement;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use deadpool::managed::{Hook, HookError};
use diesel::ConnectionError;
use diesel::connection::InstrumentationEvent;
use diesel_async::AsyncPgConnection;
use diesel_async::RunQueryDsl;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::pooled_connection::deadpool::{Object, Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures_util::FutureExt;

/// The migrations in `migrations/`, compiled into the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// A bounded pool of PostgreSQL connections that times each checkout.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<AsyncPgConnection>,
    wait: metrics::Histogram,
}

impl DbPool {
    /// A connection, waiting at most the pool's wait timeout for a free one
    /// (the time it took goes to the pool's wait histogram, if it has one).
    pub async fn get(&self) -> Result<DbConn, PoolError> {
        let started = Instant::now();
        let connection = self.pool.get().await;
        self.wait.record(started.elapsed());
        connection
    }

    /// The pool's size and use right now.
    pub fn status(&self) -> deadpool::managed::Status {
        self.pool.status()
    }

    /// This pool, recording the time of each checkout into `wait`.
    pub fn with_wait_histogram(self, wait: metrics::Histogram) -> DbPool {
        DbPool { wait, ..self }
    }
}
/// A connection checked out of the pool.
pub type DbConn = Object<AsyncPgConnection>;

/// Pool sizing and per-statement limits.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Most connections the pool opens.
    pub max_size: usize,
    /// How long a request waits for a free connection.
    pub wait_timeout: Duration,
    /// How long opening a new connection may take.
    pub connect_timeout: Duration,
    /// PostgreSQL cancels any statement running longer than this.
    pub statement_timeout: Duration,
}

/// How close a name must be for the trigram operator `<%` (name searches):
/// set on every pooled connection as `pg_trgm.word_similarity_threshold`
/// (PostgreSQL's default, 0.6, misses most typos in short names).
pub const WORD_SIMILARITY_THRESHOLD: f64 = 0.3;

/// A connection idle longer than this is pinged before it is handed out.
/// Busier ones are not: their last use proved them, and a ping per request
/// would cost a round trip.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(2);
/// How long that ping may take before the connection is dropped.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// Counts the SQL statements a pool's connections run (a cheap metric, and
/// how tests prove that a query's statement count does not grow with pages).
#[derive(Clone, Debug, Default)]
pub struct StatementCounter(Arc<AtomicU64>);

impl StatementCounter {
    /// Statements run so far.
    pub fn get(&self) -> u64 {
        AtomicU64::load(&self.0, Ordering::Relaxed)
    }
}

/// Builds the pool. Connections are opened lazily, each with the statement
/// timeout set and counting its statements into `counter`.
pub fn build_pool(
    database_url: &str,
    settings: &PoolSettings,
    counter: StatementCounter,
) -> anyhow::Result<DbPool> {
    let statement_timeout_ms = settings.statement_timeout.as_millis();
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    config.custom_setup = Box::new(move |url| {
        let url = url.to_string();
        let counter = counter.clone();
        async move {
            let mut conn =
                <AsyncPgConnection as diesel_async::AsyncConnection>::establish(&url).await?;
            diesel_async::AsyncConnection::set_instrumentation(
                &mut conn,
                move |event: InstrumentationEvent<'_>| {
                    if matches!(event, InstrumentationEvent::StartQuery { .. }) {
                        counter.0.fetch_add(1, Ordering::Relaxed);
                    }
                },
            );
            diesel_async::SimpleAsyncConnection::batch_execute(
                &mut conn,
                // No parallel workers: a request is one backend. Workers
                // cost milliseconds to start even for a part of a plan that
                // a one-time filter then skips (a stepped search took 19 to
                // 21 ms with them, 8 ms without, timed in psql), and they
                // would let one tenant's query take more cores than its
                // connection.
                &format!(
                    "SET statement_timeout = {statement_timeout_ms}; \
                     SET pg_trgm.word_similarity_threshold = {WORD_SIMILARITY_THRESHOLD}; \
                     SET max_parallel_workers_per_gather = 0"
                ),
            )
            .await
            .map_err(|e| ConnectionError::BadConnection(e.to_string()))?;
            Ok(conn)
        }
        .boxed()
    });
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(database_url, config);
    let pool = Pool::builder(manager)
        .max_size(settings.max_size)
        .wait_timeout(Some(settings.wait_timeout))
        .create_timeout(Some(settings.connect_timeout))
        .recycle_timeout(Some(CHECK_TIMEOUT))
        .pre_recycle(Hook::async_fn(|conn, metrics| {
            let idle = metrics.last_used() > CHECK_IDLE_AFTER;
            Box::pin(async move {
                if idle {
                    check_connection(conn).await?;
                }
                Ok(())
            })
        }))
        .runtime(deadpool::Runtime::Tokio1)
        .build()?;
    Ok(DbPool {
        pool,
        wait: metrics::Histogram::noop(),
    })
}

/// Pings an idle connection; a connection that does not answer in time
/// (a frozen or unreachable server) is dropped rather than handed out.
async fn check_connection<E>(conn: &mut AsyncPgConnection) -> Result<(), HookError<E>> {
    let ping = diesel::sql_query("SELECT 1").execute(conn);
    match tokio::time::timeout(CHECK_TIMEOUT, ping).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(HookError::Message(
            format!("connection check failed: {error}").into(),
        )),
        Err(_) => Err(HookError::Message("connection check timed out".into())),
    }
}

/// Applies pending migrations; returns the versions applied.
pub async fn run_migrations(database_url: &str) -> anyhow::Result<Vec<String>> {
    let url = database_url.to_string();
    // The migration harness is synchronous: run it on a blocking thread over
    // the async connection.
    tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        let mut conn = AsyncConnectionWrapper::<AsyncPgConnection>::establish(&url)?;
        let applied = conn
            .run_pending_migrations(MIGRATIONS)
            .map_err(|e| anyhow::anyhow!("running migrations: {e}"))?;
        Ok(applied.iter().map(ToString::to_string).collect())
    })
    .await?
}

/// Checks that a connection can be had and answers within `timeout`.
pub async fn ping(pool: &DbPool, timeout: Duration) -> Result<(), PingError> {
    let ping = async {
        let mut conn = pool.get().await?;
        diesel::sql_query("SELECT 1").execute(&mut conn).await?;
        Ok::<_, PoolOrQueryError>(())
    };
    match tokio::time::timeout(timeout, ping).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(PingError::TimedOut),
    }
}

/// Why a ping failed.
#[derive(Debug, thiserror::Error)]
pub enum PingError {
    #[error(transparent)]
    Failed(#[from] PoolOrQueryError),
    #[error("the database did not answer in time")]
    TimedOut,
}

/// A failure to get a connection or to run a statement.
#[derive(Debug, thiserror::Error)]
pub enum PoolOrQueryError {
    #[error(transparent)]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// Creates database `name` (optionally as a copy of `template`) through a
/// maintenance connection; does nothing if it exists. Names are plain
/// identifiers chosen by confab, never user input.
pub async fn create_database(
    admin_url: &str,
    name: &str,
    template: Option<&str>,
) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection;
    anyhow::ensure!(is_plain_identifier(name), "bad database name {name:?}");
    let mut conn = AsyncPgConnection::establish(admin_url).await?;
    if database_exists(&mut conn, name).await? {
        return Ok(());
    }
    let statement = match template {
        Some(template) => {
            anyhow::ensure!(
                is_plain_identifier(template),
                "bad template name {template:?}"
            );
            format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")
        }
        None => format!("CREATE DATABASE \"{name}\""),
    };
    match diesel::sql_query(statement).execute(&mut conn).await {
        Ok(_) => Ok(()),
        // Another process created it between the check and now.
        Err(_) if database_exists(&mut conn, name).await? => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Renames a database (used to publish a finished test template atomically).
pub async fn rename_database(admin_url: &str, from: &str, to: &str) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection;
    anyhow::ensure!(
        is_plain_identifier(from) && is_plain_identifier(to),
        "bad database name"
    );
    let mut conn = AsyncPgConnection::establish(admin_url).await?;
    diesel::sql_query(format!("ALTER DATABASE \"{from}\" RENAME TO \"{to}\""))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Drops a database if it exists.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    use diesel_async::AsyncConnection;
    anyhow::ensure!(is_plain_identifier(name), "bad database name {name:?}");
    let mut conn = AsyncPgConnection::establish(admin_url).await?;
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    Ok(())
}

/// Whether database `name` exists.
pub async fn database_exists(
    conn: &mut AsyncPgConnection,
    name: &str,
) -> diesel::QueryResult<bool> {
    use diesel::sql_types::Text;
    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        #[allow(dead_code)]
        found: i32,
    }
    let rows: Vec<Found> =
        diesel::sql_query("SELECT 1 AS found FROM pg_database WHERE datname = $1")
            .bind::<Text, _>(name)
            .load(conn)
            .await?;
    Ok(!rows.is_empty())
}

fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

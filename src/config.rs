//! Settings, from flags or the environment.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolSettings;
use crate::graphql::SchemaLimits;

/// Everything that configures a confab process. Each flag can also be set
/// through the environment variable named beside it.
#[derive(clap::Args, Clone, Debug)]
pub struct Config {
    /// PostgreSQL to use. Without it confab runs a private cluster in the data dir.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Where the private PostgreSQL cluster keeps its files.
    #[arg(
        long,
        env = "CONFAB_DATA_DIR",
        default_value = ".confab",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Address the HTTP server listens on.
    #[arg(
        long,
        env = "CONFAB_LISTEN",
        default_value = "127.0.0.1:8080",
        global = true
    )]
    pub listen: SocketAddr,

    /// Log filter, e.g. `info` or `confab=debug,tower_http=debug` (RUST_LOG syntax).
    #[arg(long, env = "CONFAB_LOG", default_value = "info", global = true)]
    pub log: String,

    /// Most database connections this process opens.
    #[arg(long, env = "CONFAB_DB_POOL_SIZE", default_value_t = 16, global = true)]
    pub db_pool_size: usize,

    /// PostgreSQL cancels statements running longer than this (milliseconds).
    #[arg(
        long,
        env = "CONFAB_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub statement_timeout_ms: u64,

    /// A request taking longer than this gets 503 (milliseconds).
    #[arg(
        long,
        env = "CONFAB_REQUEST_TIMEOUT_MS",
        default_value_t = 30_000,
        global = true
    )]
    pub request_timeout_ms: u64,

    /// How long events are kept for resuming subscriptions (hours).
    #[arg(
        long,
        env = "CONFAB_EVENT_RETENTION_HOURS",
        default_value_t = 168,
        global = true
    )]
    pub event_retention_hours: u64,

    /// A WebSocket that sends no `connection_init` within this is closed with 4408 (milliseconds).
    #[arg(
        long,
        env = "CONFAB_WS_INIT_TIMEOUT_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub ws_init_timeout_ms: u64,

    /// Whether GraphQL introspection is allowed.
    #[arg(long, env = "CONFAB_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,
}

impl Config {
    /// The defaults (with any `CONFAB_*` settings from the environment),
    /// pointed at an existing database and an ephemeral port: what tests use.
    pub fn with_database_url(database_url: impl Into<String>) -> Self {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            config: Config,
        }
        let mut config = <Defaults as clap::Parser>::parse_from(["confab"]).config;
        config.database_url = Some(database_url.into());
        config.data_dir = PathBuf::from(".confab");
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config
    }

    /// Pool settings derived from the config.
    pub fn pool_settings(&self) -> PoolSettings {
        PoolSettings {
            max_size: self.db_pool_size,
            wait_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
        }
    }

    /// Schema limits derived from the config.
    pub fn schema_limits(&self) -> SchemaLimits {
        SchemaLimits {
            introspection: self.introspection,
            ..SchemaLimits::default()
        }
    }

    /// How long events are kept.
    pub fn event_retention(&self) -> Duration {
        Duration::from_secs(self.event_retention_hours * 3600)
    }

    /// How long a WebSocket may wait before `connection_init`.
    pub fn ws_init_timeout(&self) -> Duration {
        Duration::from_millis(self.ws_init_timeout_ms)
    }

    /// The per-request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

//! Settings: every flag of `confab`, each also read from its environment
//! variable, and the limits and timeouts derived from them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::db::PoolSettings;
use crate::domain::webhooks::{DeliverySettings, TargetPolicy};
use crate::graphql::SchemaLimits;
use crate::graphql::limits::{DocumentBudget, QueryLimits};
use crate::http::read_gate::{self, ReadGate};
use crate::http::{FairnessLimits, WsLimits};

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

    /// Most queries running at once (default: twice this machine's cores,
    /// plus one that no organization may take alone; about twice the
    /// database's cores, plus one, when PostgreSQL runs elsewhere).
    #[arg(long, env = "CONFAB_READ_CONCURRENCY", global = true)]
    pub read_concurrency: Option<usize>,

    /// PostgreSQL cancels statements running longer than this (milliseconds).
    #[arg(
        long,
        env = "CONFAB_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub statement_timeout_ms: u64,

    /// A request taking longer than this gets 503 `SERVICE_UNAVAILABLE` (milliseconds).
    #[arg(
        long,
        env = "CONFAB_REQUEST_TIMEOUT_MS",
        default_value_t = 5_000,
        global = true
    )]
    pub request_timeout_ms: u64,

    /// How long a request waits for a free database connection (milliseconds).
    #[arg(
        long,
        env = "CONFAB_DB_WAIT_TIMEOUT_MS",
        default_value_t = 2_000,
        global = true
    )]
    pub db_wait_timeout_ms: u64,

    /// How long opening a database connection may take (milliseconds).
    #[arg(
        long,
        env = "CONFAB_DB_CONNECT_TIMEOUT_MS",
        default_value_t = 2_000,
        global = true
    )]
    pub db_connect_timeout_ms: u64,

    /// Most lexical tokens in a GraphQL document.
    #[arg(
        long,
        env = "CONFAB_MAX_TOKENS",
        default_value_t = 15_000,
        global = true
    )]
    pub max_tokens: usize,

    /// Deepest nesting of braces, brackets and parentheses in a document.
    #[arg(long, env = "CONFAB_MAX_NESTING", default_value_t = 32, global = true)]
    pub max_nesting: usize,

    /// Deepest nesting of selections.
    #[arg(long, env = "CONFAB_MAX_DEPTH", default_value_t = 16, global = true)]
    pub max_depth: usize,

    /// Most aliased fields in a document.
    #[arg(long, env = "CONFAB_MAX_ALIASES", default_value_t = 100, global = true)]
    pub max_aliases: u64,

    /// Most root fields in an operation.
    #[arg(
        long,
        env = "CONFAB_MAX_ROOT_FIELDS",
        default_value_t = 50,
        global = true
    )]
    pub max_root_fields: u64,

    /// Most fields selected once fragments are expanded.
    #[arg(
        long,
        env = "CONFAB_MAX_SELECTIONS",
        default_value_t = 2_000,
        global = true
    )]
    pub max_selections: u64,

    /// Highest cost: values a query may return, page sizes multiplied.
    #[arg(
        long,
        env = "CONFAB_MAX_COST",
        default_value_t = 100_000,
        global = true
    )]
    pub max_cost: u64,

    /// Largest response body (bytes).
    #[arg(
        long,
        env = "CONFAB_MAX_RESPONSE_BYTES",
        default_value_t = 8 * 1024 * 1024,
        global = true
    )]
    pub max_response_bytes: usize,

    /// Requests per second one token may make on average.
    #[arg(long, env = "CONFAB_TOKEN_RATE", default_value_t = 200, global = true)]
    pub token_rate: u32,

    /// Requests one token may make at once above its rate.
    #[arg(long, env = "CONFAB_TOKEN_BURST", default_value_t = 400, global = true)]
    pub token_burst: u32,

    /// Operations one token may have running at once.
    #[arg(
        long,
        env = "CONFAB_TOKEN_CONCURRENCY",
        default_value_t = 8,
        global = true
    )]
    pub token_concurrency: usize,

    /// Most subscriptions on one WebSocket.
    #[arg(
        long,
        env = "CONFAB_WS_MAX_SUBSCRIPTIONS",
        default_value_t = 100,
        global = true
    )]
    pub ws_max_subscriptions: usize,

    /// Largest WebSocket message a client may send (bytes).
    #[arg(
        long,
        env = "CONFAB_WS_MAX_MESSAGE_BYTES",
        default_value_t = 64 * 1024,
        global = true
    )]
    pub ws_max_message_bytes: usize,

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

    /// Web origins that may call the API from a browser: `local` (pages
    /// on this machine, any port), `*`, `none`, or a comma-separated list.
    #[arg(
        long,
        env = "CONFAB_CORS_ORIGINS",
        default_value = "local",
        global = true
    )]
    pub cors_origins: String,

    /// Queries answered by one SQL statement where they can be: `on`, `off`
    /// (every query on the resolvers), or `verify` (both, compared; for tests).
    #[arg(
        long,
        env = "CONFAB_COMPILED_READS",
        default_value = "on",
        global = true
    )]
    pub compiled_reads: String,

    /// Whether GraphQL introspection is allowed.
    #[arg(long, env = "CONFAB_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub introspection: bool,

    /// Let webhooks target private, loopback and link-local addresses
    /// (refused by default, against SSRF).
    #[arg(long, env = "CONFAB_WEBHOOKS_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub webhooks_allow_private: bool,

    /// How often each instance looks for webhook deliveries to make (milliseconds).
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_POLL_MS",
        default_value_t = 1_000,
        global = true
    )]
    pub webhook_poll_ms: u64,

    /// The first webhook retry's delay; each next one doubles it, with jitter (milliseconds).
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_RETRY_BASE_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub webhook_retry_base_ms: u64,

    /// The longest delay between two webhook attempts (milliseconds).
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_RETRY_MAX_MS",
        default_value_t = 3_600_000,
        global = true
    )]
    pub webhook_retry_max_ms: u64,

    /// A webhook delivery still failing this long after it was made is
    /// given up and its webhook disabled (milliseconds; 24 h).
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_GIVE_UP_AFTER_MS",
        default_value_t = 86_400_000,
        global = true
    )]
    pub webhook_give_up_after_ms: u64,

    /// How long an instance's claim on a webhook lasts without renewal;
    /// longer than one attempt (10 s) (milliseconds).
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_LEASE_MS",
        default_value_t = 60_000,
        global = true
    )]
    pub webhook_lease_ms: u64,

    /// Webhooks one instance delivers to at once.
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_CONCURRENCY",
        default_value_t = 32,
        global = true
    )]
    pub webhook_concurrency: usize,
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
            wait_timeout: Duration::from_millis(self.db_wait_timeout_ms),
            connect_timeout: Duration::from_millis(self.db_connect_timeout_ms),
            statement_timeout: Duration::from_millis(self.statement_timeout_ms),
        }
    }

    /// The gate queries pass: its size and how long a query waits there.
    pub fn read_gate(&self) -> ReadGate {
        let size = self
            .read_concurrency
            .unwrap_or_else(read_gate::default_size);
        ReadGate::new(size, Duration::from_millis(self.db_wait_timeout_ms))
    }

    /// Schema limits derived from the config.
    pub fn schema_limits(&self) -> SchemaLimits {
        SchemaLimits {
            max_depth: self.max_depth,
            introspection: self.introspection,
            max_response_bytes: self.max_response_bytes,
            webhook_targets: self.webhook_targets(),
        }
    }

    /// Which addresses webhooks may target.
    pub fn webhook_targets(&self) -> TargetPolicy {
        TargetPolicy {
            allow_private: self.webhooks_allow_private,
        }
    }

    /// How webhook deliveries are made (timeouts are fixed: connect 5 s, total 10 s).
    pub fn webhook_delivery(&self) -> DeliverySettings {
        DeliverySettings {
            poll_interval: Duration::from_millis(self.webhook_poll_ms.max(10)),
            retry_base: Duration::from_millis(self.webhook_retry_base_ms),
            retry_max_delay: Duration::from_millis(self.webhook_retry_max_ms),
            give_up_after: Duration::from_millis(self.webhook_give_up_after_ms),
            lease: Duration::from_millis(self.webhook_lease_ms),
            concurrency: self.webhook_concurrency,
            policy: self.webhook_targets(),
            delivery_retention: self.event_retention(),
            ..DeliverySettings::default()
        }
    }

    /// Bounds on documents, checked before they are validated.
    pub fn query_limits(&self) -> QueryLimits {
        QueryLimits {
            max_tokens: self.max_tokens,
            max_nesting: self.max_nesting,
            budget: DocumentBudget {
                max_aliases: self.max_aliases,
                max_root_fields: self.max_root_fields,
                max_selections: self.max_selections,
                max_cost: self.max_cost,
            },
        }
    }

    /// Per-token limits on rate and concurrency.
    pub fn fairness(&self) -> FairnessLimits {
        FairnessLimits {
            rate_per_second: self.token_rate,
            burst: self.token_burst,
            concurrency: self.token_concurrency,
        }
    }

    /// WebSocket limits.
    pub fn ws_limits(&self) -> WsLimits {
        WsLimits {
            init_timeout: self.ws_init_timeout(),
            max_subscriptions: self.ws_max_subscriptions,
            max_message_bytes: self.ws_max_message_bytes,
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

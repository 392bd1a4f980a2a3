//! The test harness: a real server on port 0 over its own fresh database.
//!
//! Databases come from one PostgreSQL cluster per machine user, started the
//! way `confab serve` starts its own (in the temp dir, tuned for speed), or
//! from `CONFAB_TEST_DATABASE_URL` (a maintenance-database URL of an existing
//! server). Each test clones a migrated template, so tests run in parallel
//! and share nothing. The cluster is left running after the tests for the
//! next run; `pg_ctl stop -D <temp>/confab-test-<uid>/pg` stops it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Once, OnceLock};
use std::time::Duration;

use confab::postgres::{Cluster, ClusterOptions};
use confab::{Application, Config};
use serde_json::{Value, json};

use crate::ws::{TRANSPORT_WS, WsClient};

const CREATE_CONTACT: &str = "mutation($input: CreateContactInput!) {
  createContact(input: $input) { contact { id } userErrors { code } }
}";

const CONTACT_TOKEN: &str = "mutation($id: ID!) {
  createContactToken(input: {contactId: $id}) { token userErrors { code } }
}";

const CREATE_THREAD: &str = "mutation($input: CreateThreadInput!) {
  createThread(input: $input) { thread { id } userErrors { code } }
}";

const SEND_MESSAGE: &str = "mutation($input: SendMessageInput!) {
  sendMessage(input: $input) { message { id } userErrors { code } }
}";

struct TestDatabases {
    /// URL of the maintenance database `postgres`.
    admin_url: String,
    /// Held so that the harness's own cluster counts this process as a user.
    _cluster: Option<Cluster>,
    template: String,
}

impl TestDatabases {
    fn url(&self, database: &str) -> String {
        replace_database(&self.admin_url, database)
    }
}

/// `url` with its database replaced by `database`.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    format!("{base}/{database}{query}")
}

static DATABASES: OnceLock<Result<TestDatabases, String>> = OnceLock::new();
static NEXT_DATABASE: AtomicUsize = AtomicUsize::new(0);

fn databases() -> &'static TestDatabases {
    let result = DATABASES.get_or_init(|| {
        // Runs once per test process, on its own thread and runtime so that it
        // does not depend on whichever test's runtime gets here first.
        std::thread::spawn(|| {
            let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            runtime
                .block_on(prepare_databases())
                .map_err(|e| format!("{e:#}"))
        })
        .join()
        .unwrap_or_else(|_| Err("test database setup panicked".to_string()))
    });
    match result {
        Ok(databases) => databases,
        Err(error) => panic!("cannot prepare test databases: {error}"),
    }
}

async fn prepare_databases() -> anyhow::Result<TestDatabases> {
    let (admin_url, cluster) = match std::env::var("CONFAB_TEST_DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let uid = nix::unistd::geteuid();
            let dir = std::env::temp_dir().join(format!("confab-test-{uid}"));
            let cluster = tokio::task::spawn_blocking(move || {
                Cluster::ensure_running(&dir, ClusterOptions { ephemeral: true })
            })
            .await??;
            (cluster.database_url("postgres"), Some(cluster))
        }
    };
    let mut databases = TestDatabases {
        admin_url,
        _cluster: cluster,
        template: String::new(),
    };
    drop_databases_of_finished_runs(&databases).await?;
    databases.template = format!("confab_template_{}", migrations_fingerprint()?);
    let mut conn = connect(&databases.admin_url).await?;
    if !confab::db::database_exists(&mut conn, &databases.template).await? {
        let building = format!("confab_building_{}", std::process::id());
        confab::db::drop_database(&databases.admin_url, &building).await?;
        confab::db::create_database(&databases.admin_url, &building, None).await?;
        confab::db::run_migrations(&databases.url(&building)).await?;
        // Publish atomically; a concurrent test process may have won the race.
        if confab::db::rename_database(&databases.admin_url, &building, &databases.template)
            .await
            .is_err()
        {
            confab::db::drop_database(&databases.admin_url, &building).await?;
        }
    }
    Ok(databases)
}

pub async fn connect(url: &str) -> anyhow::Result<diesel_async::AsyncPgConnection> {
    use diesel_async::AsyncConnection;
    Ok(diesel_async::AsyncPgConnection::establish(url).await?)
}

/// Test databases are named `confab_test_<pid>_<n>`; drop those whose process is gone.
async fn drop_databases_of_finished_runs(databases: &TestDatabases) -> anyhow::Result<()> {
    use diesel::QueryableByName;
    use diesel_async::RunQueryDsl;
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let mut conn = connect(&databases.admin_url).await?;
    let names: Vec<Name> = diesel::sql_query(
        "SELECT datname FROM pg_database WHERE datname LIKE 'confab\\_test\\_%' OR datname LIKE 'confab\\_building\\_%'",
    )
    .load(&mut conn)
    .await?;
    for Name { datname } in names {
        let pid = datname
            .split('_')
            .nth(2)
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            confab::db::drop_database(&databases.admin_url, &datname).await?;
        }
    }
    Ok(())
}

/// A digest of the migration files: a new template whenever they change.
fn migrations_fingerprint() -> anyhow::Result<String> {
    use sha2::Digest;
    let mut paths = Vec::new();
    for entry in walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"))? {
        paths.push(entry);
    }
    paths.sort();
    let mut hasher = sha2::Sha256::new();
    for path in paths {
        hasher.update(path.to_string_lossy().as_bytes());
        hasher.update(std::fs::read(&path)?);
    }
    Ok(hasher.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn walk(dir: &std::path::Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(walk(&path)?);
        } else {
            files.push(path);
        }
    }
    Ok(files)
}

/// A fresh, migrated database of its own; returns its URL.
pub async fn fresh_database() -> String {
    let databases = databases();
    let name = format!(
        "confab_test_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
    );
    confab::db::create_database(&databases.admin_url, &name, Some(&databases.template))
        .await
        .expect("create test database");
    databases.url(&name)
}

/// With `TEST_LOG` set (to anything but `0` or nothing), the servers' logs
/// go to the output of the test running them: shown when it fails, or for
/// every test with `--nocapture`. The filter is `CONFAB_LOG`, else
/// `RUST_LOG`, else `info`. Installed once per test process.
fn show_logs_if_asked() {
    static INSTALLED: Once = Once::new();
    if !std::env::var("TEST_LOG").is_ok_and(|value| !value.is_empty() && value != "0") {
        return;
    }
    INSTALLED.call_once(|| {
        let filter = std::env::var("CONFAB_LOG")
            .or_else(|_| std::env::var("RUST_LOG"))
            .unwrap_or_else(|_| "info".to_string());
        let filter = tracing_subscriber::EnvFilter::try_new(&filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        // Another global subscriber (none today) would win; that is fine.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .with_test_writer()
            .try_init();
    });
}

/// A running server with a fresh database and one organization.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The database the server uses.
    pub database_url: String,
    /// An api key of the organization `acme`.
    pub token: String,
    pub client: reqwest::Client,
    /// SQL statements the server has run.
    pub statements: confab::db::StatementCounter,
    /// Stops the server (see `stop`).
    shutdown: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    )>,
}

impl TestApp {
    /// Starts a server on port 0 over a fresh database, with organization `acme`.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like `spawn`, with the config adjusted first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let database_url = fresh_database().await;
        let mut app = Self::start(&database_url, adjust).await;
        app.token = app.create_organization("acme").await;
        app
    }

    /// Like `spawn`, with each token allowed `rate` requests a second after a
    /// burst of `burst`.
    pub async fn spawn_with_token_rate(rate: u32, burst: u32) -> TestApp {
        Self::spawn_with(|config| {
            config.token_rate = rate;
            config.token_burst = burst;
        })
        .await
    }

    /// Another server instance over this one's database (same organization
    /// and key): what a load balancer would send some clients to.
    pub async fn second_instance(&self) -> TestApp {
        let mut app = Self::start(&self.database_url, |_| {}).await;
        app.token = self.token.clone();
        app
    }

    /// A server over an existing database (no organization is created).
    pub async fn start(database_url: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
        show_logs_if_asked();
        let database_url = database_url.to_string();
        let mut config = Config::with_database_url(&database_url);
        // Every query a test sends that can be compiled is answered both by
        // the resolvers and by one SQL statement, and the answers compared.
        config.compiled_reads = "verify".into();
        adjust(&mut config);
        let app = Application::build(&config, &database_url)
            .await
            .expect("build app");
        let address = format!("http://{}", app.local_addr().expect("local addr"));
        let statements = app.statement_counter();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.serve(async move {
            let _ = stopped.await;
        }));
        TestApp {
            address,
            database_url,
            token: String::new(),
            client: reqwest::Client::new(),
            statements,
            shutdown: Some((stop, server)),
        }
    }

    /// Shuts the server down gracefully, background work included, as a
    /// restart or a crash between requests would.
    pub async fn stop(&mut self) {
        if let Some((stop, server)) = self.shutdown.take() {
            let _ = stop.send(());
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }

    /// Creates another organization; returns its api key.
    pub async fn create_organization(&self, name: &str) -> String {
        let mut conn = connect(&self.database_url).await.expect("connect");
        let (_, key) = confab::domain::organizations::model::create_organization(&mut conn, name)
            .await
            .expect("create organization");
        key.token
    }

    /// Sets an organization's search language (re-indexing its messages),
    /// as `confab org set-search-language` does.
    pub async fn set_search_language(&self, organization: &str, language: &str) {
        use confab::domain::organizations::model;
        let mut conn = connect(&self.database_url).await.expect("connect");
        let org = model::find_organization_by_name(&mut conn, organization)
            .await
            .expect("find organization")
            .expect("organization exists");
        model::set_search_language(&mut conn, org.id, language)
            .await
            .expect("set search language");
    }

    /// Runs one SQL statement on the test's database, for setting up more
    /// rows than the API would write in reasonable time.
    pub async fn execute_sql(&self, sql: &str) {
        use diesel_async::RunQueryDsl;
        let mut conn = connect(&self.database_url).await.expect("connect");
        diesel::sql_query(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
    }

    /// Runs one SQL query on the test's database; returns its one text
    /// column (named `value`), row by row.
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        let mut conn = connect(&self.database_url).await.expect("connect");
        let rows: Vec<Row> = diesel::sql_query(sql)
            .load(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{sql}: {error}"));
        rows.into_iter().map(|row| row.value).collect()
    }

    /// Creates a user in an organization; returns the user's token.
    pub async fn create_user(&self, organization: &str, email: &str) -> String {
        let mut conn = connect(&self.database_url).await.expect("connect");
        let org = confab::domain::organizations::model::find_organization_by_name(
            &mut conn,
            organization,
        )
        .await
        .expect("find organization")
        .expect("organization exists");
        confab::domain::organizations::model::create_user(&mut conn, org.id, "Test User", email)
            .await
            .expect("create user")
            .token
    }

    /// Runs `mutation` as `token` and asserts it succeeded: no errors, and no
    /// user errors in the payload `field`. Returns the string at `id` (a JSON
    /// pointer into the payload, such as `/thread/id`).
    async fn created(
        &self,
        token: &str,
        mutation: &str,
        variables: Value,
        field: &str,
        id: &str,
    ) -> String {
        let body = self.graphql_as(token, mutation, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        let payload = &body["data"][field];
        assert_eq!(payload["userErrors"], json!([]), "{body}");
        at(payload, id)
            .as_str()
            .unwrap_or_else(|| panic!("no {field}{id} in {body}"))
            .to_string()
    }

    /// Creates a user in `acme` per email; returns their tokens in order.
    pub async fn create_users<const N: usize>(&self, emails: [&str; N]) -> [String; N] {
        let mut tokens = Vec::new();
        for email in emails {
            tokens.push(self.create_user("acme", email).await);
        }
        tokens.try_into().expect("one token per email")
    }

    /// Creates a contact through the API; returns its id.
    pub async fn create_contact(&self, first_name: &str, phone: Option<&str>) -> String {
        let input = json!({ "firstName": first_name, "phone": phone });
        let (mutation, variables) = (CREATE_CONTACT, json!({ "input": input }));
        self.created(
            &self.token,
            mutation,
            variables,
            "createContact",
            "/contact/id",
        )
        .await
    }

    /// Creates a contact (without a phone) per first name; returns their ids in order.
    pub async fn create_contacts<const N: usize>(&self, first_names: [&str; N]) -> [String; N] {
        let mut ids = Vec::new();
        for first_name in first_names {
            ids.push(self.create_contact(first_name, None).await);
        }
        ids.try_into().expect("one id per name")
    }

    /// Issues a contact token through the API.
    pub async fn contact_token(&self, contact_id: &str) -> String {
        let (mutation, variables) = (CONTACT_TOKEN, json!({ "id": contact_id }));
        self.created(
            &self.token,
            mutation,
            variables,
            "createContactToken",
            "/token",
        )
        .await
    }

    /// The public id of a user token's user, through the API.
    pub async fn user_id(&self, token: &str) -> String {
        let body = self
            .graphql_as(token, "{ viewer { user { id } } }", json!({}))
            .await;
        body["data"]["viewer"]["user"]["id"]
            .as_str()
            .expect("user id")
            .to_string()
    }

    /// Creates a thread through the API; returns its id.
    pub async fn create_thread(&self, input: Value) -> String {
        self.create_thread_as(&self.token, input).await
    }

    /// Creates a thread through the API as `token`; returns its id.
    pub async fn create_thread_as(&self, token: &str, input: Value) -> String {
        let (mutation, variables) = (CREATE_THREAD, json!({ "input": input }));
        self.created(token, mutation, variables, "createThread", "/thread/id")
            .await
    }

    /// Sends a message through the API as `token`; returns its id.
    pub async fn send_message(&self, token: &str, thread_id: &str, text: &str) -> String {
        let input = json!({ "threadId": thread_id, "text": text });
        let (mutation, variables) = (SEND_MESSAGE, json!({ "input": input }));
        self.created(token, mutation, variables, "sendMessage", "/message/id")
            .await
    }

    /// Cuts every LISTEN connection to this app's database (the servers reconnect).
    pub async fn terminate_listeners(&self) {
        use diesel_async::RunQueryDsl;
        let mut conn = connect(&self.database_url).await.expect("connect");
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .execute(&mut conn)
        .await
        .expect("terminate listeners");
    }

    /// Runs event retention as if `before` were the cut-off.
    pub async fn prune_events_older_than(&self, before: chrono::DateTime<chrono::Utc>) {
        let mut conn = connect(&self.database_url).await.expect("connect");
        confab::domain::events::model::prune(&mut conn, before)
            .await
            .expect("prune");
    }

    /// `ws://…/ws`.
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.address.replacen("http", "ws", 1))
    }

    /// A graphql-transport-ws client connected and initialised as `token`.
    pub async fn ws_client(&self, token: &str) -> WsClient {
        WsClient::connect_as(&self.ws_url(), TRANSPORT_WS, token).await
    }

    /// A graphql-transport-ws client as `token` that has started subscription
    /// `id` (it may not have reached the live feed yet).
    pub async fn subscribe(
        &self,
        token: &str,
        id: &str,
        query: &str,
        variables: Value,
    ) -> WsClient {
        let mut client = self.ws_client(token).await;
        client.subscribe(id, query, variables).await;
        client
    }

    /// GETs `path` (such as `/healthz`) on the server.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        self.client.get(url).send().await.expect("send GET")
    }

    /// Like `get`, failing unless the server answers within `timeout`.
    pub async fn get_within(&self, path: &str, timeout: Duration) -> reqwest::Response {
        let url = format!("{}{path}", self.address);
        let request = self.client.get(url).timeout(timeout);
        request.send().await.expect("answered in time")
    }

    /// GETs `/graphql` with `params` as its query string, with `token` if any.
    pub async fn get_graphql(
        &self,
        token: Option<&str>,
        params: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.client.get(self.graphql_url()).query(params);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("send GET")
    }

    /// POSTs `{"query": query}` to `/graphql` with `token` (if any) and the
    /// extra `headers`; returns the response as it came.
    pub async fn post_graphql(
        &self,
        token: Option<&str>,
        headers: &[(&str, &str)],
        query: &str,
    ) -> reqwest::Response {
        let mut request = self.client.post(self.graphql_url());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let body = json!({ "query": query });
        request.json(&body).send().await.expect("send POST")
    }

    /// `/graphql` URL.
    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// POSTs an operation with the organization's api key; expects 200 and
    /// returns the body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(&self.token, query, variables).await
    }

    /// POSTs an operation with `token`; expects 200 and returns the body.
    pub async fn graphql_as(&self, token: &str, query: &str, variables: Value) -> Value {
        let response = self
            .client
            .post(self.graphql_url())
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("send request");
        assert_eq!(response.status(), 200, "status of {query}");
        response.json().await.expect("JSON body")
    }

    /// POSTs a raw JSON body with `token` (if any) and `Accept:
    /// application/graphql-response+json`; returns the status and the body
    /// (`Value::Null` when it is not JSON).
    pub async fn post_raw(&self, token: Option<&str>, body: String) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.graphql_url())
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send request");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Sends each check's request in order, and asserts its answer (see `Check`).
    pub async fn assert_answers(&self, checks: Vec<Check<'_>>) {
        for (token, query, variables, pointer, expected) in checks {
            let body = self.graphql_as(token, query, variables).await;
            let answer = at(&body, pointer);
            assert_eq!(answer, &expected, "{pointer} of {query}: {body}");
        }
    }

    /// Deletes `id` twice with the api key and `mutation` (whose one variable
    /// is `$id`): its payload `field` must first name `id` as `deleted_id`
    /// with no user errors, then be NOT_FOUND on `input.id`.
    pub async fn assert_deleted_once(
        &self,
        mutation: &str,
        id: &str,
        field: &str,
        deleted_id: &str,
    ) {
        let mut deleted = json!({ "userErrors": [] });
        deleted[deleted_id] = json!(id);
        let first = self.data_of(mutation, id).await;
        assert_eq!(first[field], deleted, "deleting {id}");
        let mut not_found =
            json!({ "userErrors": [{ "field": ["input", "id"], "code": "NOT_FOUND" }] });
        not_found[deleted_id] = Value::Null;
        let again = self.data_of(mutation, id).await;
        assert_eq!(again[field], not_found, "deleting {id} again");
    }

    /// Like `data`, for a query whose one variable is `$id`.
    pub async fn data_of(&self, query: &str, id: impl serde::Serialize) -> Value {
        self.data(query, json!({ "id": id })).await
    }

    /// Like `graphql`, and also asserts that there are no errors; returns `data`.
    pub async fn data(&self, query: &str, variables: Value) -> Value {
        let body = self.graphql(query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }
}

/// A request and what it must answer: `(token, query, variables, pointer,
/// expected)`, where `pointer` is a JSON pointer into the response body such
/// as `/data/editMessage/userErrors/0/code` (see `at`).
pub type Check<'a> = (&'a str, &'a str, Value, &'a str, Value);

/// The value at `pointer` (a JSON pointer such as `/data/node/id`) in
/// `body`; null where there is none, as indexing with `[]` would give.
pub fn at<'a>(body: &'a Value, pointer: &str) -> &'a Value {
    static NULL: Value = Value::Null;
    body.pointer(pointer).unwrap_or(&NULL)
}

/// The `extensions.code` of a response's first error (null if none).
pub fn error_code(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["code"]
}

/// Asserts that a finished command succeeded, showing `what` and both of its
/// outputs if not; returns its stdout and stderr.
pub fn succeeded(output: &std::process::Output, what: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    (stdout, stderr)
}

/// Runs `command` on a blocking thread and asserts that it succeeded (see
/// `succeeded`); returns its stdout and stderr.
pub async fn run_to_success(mut command: std::process::Command, what: &str) -> (String, String) {
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("join")
        .unwrap_or_else(|error| panic!("cannot run {what}: {error}"));
    succeeded(&output, what)
}

/// Whether `value` is a string that starts with `prefix`, as public ids do
/// (`thrd_…`, `ctc_…`).
pub fn is_id(value: &Value, prefix: &str) -> bool {
    value.as_str().is_some_and(|id| id.starts_with(prefix))
}

/// Asserts that `object` has each field of `expected` with that value (its
/// other fields are not looked at); a failure names the field.
#[track_caller]
pub fn assert_fields(object: &Value, expected: Value) {
    for (field, value) in expected.as_object().expect("expected fields") {
        assert_eq!(&object[field], value, "{field} of {object}");
    }
}

/// Asserts that a mutation's payload has no user errors and that its `node`
/// (such as `thread`) has an id starting with `prefix` and the `expected`
/// fields (see `assert_fields`); returns the node.
#[track_caller]
pub fn assert_created<'a>(
    payload: &'a Value,
    node: &str,
    prefix: &str,
    expected: Value,
) -> &'a Value {
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let created = &payload[node];
    assert!(is_id(&created["id"], prefix), "{created}");
    assert_fields(created, expected);
    created
}

/// Asserts that a mutation's payload has no user errors; returns the id of
/// its `node` (such as `thread`).
#[track_caller]
pub fn created_id(payload: &Value, node: &str) -> String {
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let id = payload[node]["id"].as_str();
    id.unwrap_or_else(|| panic!("no {node} id in {payload}"))
        .to_string()
}

/// The string `field` of each node of a connection's `edges`, in order.
pub fn node_strings(connection: &Value, field: &str) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            let value = edge["node"][field].as_str();
            value
                .unwrap_or_else(|| panic!("no {field} in {edge}"))
                .to_string()
        })
        .collect()
}

/// Which way `walk` pages a connection: the size and cursor arguments, the
/// `pageInfo` flags for more ahead and behind, and the cursor to go on from.
pub struct Direction {
    size: &'static str,
    cursor: &'static str,
    ahead: &'static str,
    behind: &'static str,
    next_cursor: &'static str,
    /// Whether each page goes before those already seen.
    from_end: bool,
}

/// From the start: `first` and `after`.
pub const FORWARDS: Direction = Direction {
    size: "first",
    cursor: "after",
    ahead: "hasNextPage",
    behind: "hasPreviousPage",
    next_cursor: "endCursor",
    from_end: false,
};

/// From the end: `last` and `before`.
pub const BACKWARDS: Direction = Direction {
    size: "last",
    cursor: "before",
    ahead: "hasPreviousPage",
    behind: "hasNextPage",
    next_cursor: "startCursor",
    from_end: true,
};

/// A connection to page through: `query` with `variables` (the paging
/// arguments are added), the connection at `path` in its data, and the node
/// `field` to collect.
pub struct Connection<'a> {
    pub query: &'a str,
    pub variables: Value,
    pub path: &'a [&'a str],
    pub field: &'a str,
}

impl Connection<'_> {
    /// Pages through the whole connection `size` at a time in `direction`;
    /// checks that every page has `total` as its `totalCount`, at most `size`
    /// nodes and a behind-flag set from the second page on. Returns the nodes'
    /// `field` in list order and the number of pages.
    pub async fn walk(
        &self,
        app: &TestApp,
        direction: &Direction,
        size: i64,
        total: i64,
    ) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let mut pages = 0;
        let mut cursor = Value::Null;
        loop {
            let mut variables = self.variables.clone();
            variables[direction.size] = json!(size);
            variables[direction.cursor] = cursor;
            let data = app.data(self.query, variables).await;
            let page = self.path.iter().fold(&data, |value, key| &value[*key]);
            assert_eq!(page["totalCount"], total, "{page}");
            assert_eq!(page["pageInfo"][direction.behind], pages > 0, "{page}");
            let mut nodes = node_strings(page, self.field);
            assert!(nodes.len() as i64 <= size, "{page}");
            if direction.from_end {
                nodes.append(&mut seen);
                seen = nodes;
            } else {
                seen.append(&mut nodes);
            }
            pages += 1;
            if page["pageInfo"][direction.ahead] == false {
                return (seen, pages);
            }
            cursor = page["pageInfo"][direction.next_cursor].clone();
            assert!(pages < 100, "runaway pagination");
        }
    }
}

/// The one user error `code` on input field `field`, as `user_errors` lists it.
pub fn input_error(field: &str, code: &str) -> Vec<(Value, String)> {
    vec![(json!(["input", field]), code.to_string())]
}

/// A payload's `userErrors` as (field path, code) pairs.
pub fn user_errors(payload: &Value) -> Vec<(Value, String)> {
    payload["userErrors"]
        .as_array()
        .expect("userErrors")
        .iter()
        .map(|e| {
            (
                e["field"].clone(),
                e["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

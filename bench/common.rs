//! What the load checks in `bench/` share: a bench database, the release
//! server as a process of its own, GraphQL over HTTP, percentiles.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use confab::postgres::{Cluster, ClusterOptions};
use serde_json::{Value, json};

/// A fresh database `name` on `CONFAB_BENCH_DATABASE_URL` (a maintenance
/// database URL) or on a private cluster under `target/`; returns its URL,
/// the maintenance URL, and the cluster to keep alive while measuring.
pub async fn bench_database(name: &str) -> (String, String, Option<Cluster>) {
    let (admin_url, cluster) = maintenance_database().await;
    confab::db::drop_database(&admin_url, name)
        .await
        .expect("drop");
    confab::db::create_database(&admin_url, name, None)
        .await
        .expect("create");
    (database_url(&admin_url, name), admin_url, cluster)
}

/// Like `bench_database`, but keeps database `name` (and what it holds) when
/// it exists already: for data that takes minutes to seed.
#[allow(dead_code)]
pub async fn kept_database(name: &str) -> (String, String, Option<Cluster>) {
    let (admin_url, cluster) = maintenance_database().await;
    confab::db::create_database(&admin_url, name, None)
        .await
        .expect("create");
    (database_url(&admin_url, name), admin_url, cluster)
}

/// `CONFAB_BENCH_DATABASE_URL`, else the maintenance database of a private
/// cluster under `target/` (started if need be) and that cluster.
async fn maintenance_database() -> (String, Option<Cluster>) {
    match std::env::var("CONFAB_BENCH_DATABASE_URL") {
        Ok(url) => (url, None),
        Err(_) => {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-pg");
            let cluster = tokio::task::spawn_blocking(move || {
                Cluster::ensure_running(&dir, ClusterOptions::default())
            })
            .await
            .expect("join")
            .expect("private cluster");
            (cluster.database_url("postgres"), Some(cluster))
        }
    }
}

/// The URL of database `name` beside the maintenance database `admin_url`.
fn database_url(admin_url: &str, name: &str) -> String {
    match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => admin_url.to_string(),
    }
}

/// The server process; killed on drop.
pub struct Server {
    pub child: Child,
    pub address: String,
    pub key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server binary: `CONFAB_BENCH_SERVER` (another build, to compare),
/// else this build's release `confab`.
pub fn server_binary() -> String {
    std::env::var("CONFAB_BENCH_SERVER")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_confab").to_string())
}

/// Migrates `database_url` with the server binary (its own migrations).
pub fn migrate(database_url: &str) {
    let status = Command::new(server_binary())
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_LOG", "warn")
        .status()
        .expect("run confab migrate");
    assert!(status.success(), "confab migrate failed");
}

/// Whether to measure: `cargo bench` passes `--bench`, while `cargo test
/// --all-targets` also runs bench targets, which then only say how to run.
pub fn measuring(name: &str) -> bool {
    let measuring = std::env::args().any(|arg| arg == "--bench");
    if !measuring {
        println!("{name}: run with `cargo bench --bench {name}`");
    }
    measuring
}

/// The value after `--name` on the command line, if given.
pub fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Starts `confab serve` (see `server_binary`) over `database_url` with a
/// pool of `pool_size` and the per-token limits lifted; waits until it listens.
pub fn start_server(database_url: &str, pool_size: usize) -> Server {
    start_server_with_key(database_url, pool_size, None)
}

/// `start_server` for a database that may hold organizations already (the
/// server then creates none and prints no key): uses `key` when given, else
/// the key the server prints.
pub fn start_server_with_key(database_url: &str, pool_size: usize, key: Option<&str>) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(server_binary())
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONFAB_LOG", "warn")
        .env("CONFAB_DB_POOL_SIZE", pool_size.to_string())
        // One token drives every subscriber and writer: lift the per-token
        // fairness limits, which are a tenant policy, not a capacity.
        .env("CONFAB_TOKEN_RATE", "100000000")
        .env("CONFAB_TOKEN_BURST", "100000000")
        .env("CONFAB_TOKEN_CONCURRENCY", "100000")
        .env("CONFAB_WS_MAX_SUBSCRIPTIONS", "100000")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start confab");
    let stdout = child.stdout.take().expect("stdout");
    let mut key = key.unwrap_or_default().to_string();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        let line = line.trim().to_string();
        if line.starts_with("cfk_") {
            key = line.clone();
        }
        if line.contains("GraphiQL at") {
            break;
        }
    }
    assert!(!key.is_empty(), "the server printed an api key");
    Server {
        child,
        address: format!("127.0.0.1:{port}"),
        key,
    }
}

/// POSTs an operation with the server's key; returns the response body.
pub async fn graphql(
    client: &reqwest::Client,
    server: &Server,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(format!("http://{}/graphql", server.address))
        .bearer_auth(&server.key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json")
}

/// Creates a thread named `name`; returns its id.
pub async fn create_thread(client: &reqwest::Client, server: &Server, name: &str) -> String {
    let created = graphql(
        client,
        server,
        "mutation($n: String!) { createThread(input: {name: $n}) { thread { id } } }",
        json!({ "n": name }),
    )
    .await;
    created["data"]["createThread"]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_string()
}

/// Sends a message; true when the server accepted it.
pub async fn send_message(
    http: &reqwest::Client,
    address: &str,
    key: &str,
    thread: &str,
    text: &str,
) -> bool {
    let body = json!({
        "query": "mutation($t: ID!, $text: String!) { sendMessage(input: {threadId: $t, text: $text}) { message { id } } }",
        "variables": { "t": thread, "text": text },
    });
    let Ok(response) = http
        .post(format!("http://{address}/graphql"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
    else {
        return false;
    };
    if !response.status().is_success() {
        return false;
    }
    let body: Value = response.json().await.unwrap_or_default();
    body["data"]["sendMessage"]["message"]["id"].is_string()
}

/// The `p` quantile (0 to 1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

/// CPU time of process `pid` so far, all its threads (clock ticks of 1/100 s).
#[allow(dead_code)] // used by some benches only
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (in parentheses): utime and stime are 14 and 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    Duration::from_millis(ticks * 10)
}

/// The machine's CPU time so far: busy and total (all cores, in ticks).
#[allow(dead_code)]
pub fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let times: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = times.iter().sum();
    // idle and iowait
    let idle = times.get(3).copied().unwrap_or(0) + times.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

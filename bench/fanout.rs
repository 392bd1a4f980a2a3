//! Subscription fan-out load check (not a test): N WebSocket subscribers on
//! one thread, M messages sent at a steady rate; prints delivery latency
//! p50/p99 and the server's memory per idle subscription.
//!
//! `cargo bench --bench fanout -- [--subscribers N] [--messages M] [--rate PER_SECOND]`
//!
//! The server runs as its own process (the release `confab` binary) so that
//! its memory is measured alone; it uses `CONFAB_BENCH_DATABASE_URL` (a
//! maintenance database URL) or a private cluster under `target/`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use confab::postgres::{Cluster, ClusterOptions};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Options {
    subscribers: usize,
    messages: usize,
    rate: f64,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str, default: f64| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    Options {
        subscribers: value("--subscribers", 1000.0) as usize,
        messages: value("--messages", 50.0) as usize,
        rate: value("--rate", 20.0),
    }
}

/// The server process; killed on drop.
struct Server {
    child: Child,
    address: String,
    key: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(database_url: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .arg("serve")
        .env("DATABASE_URL", database_url)
        .env("CONFAB_LISTEN", format!("127.0.0.1:{port}"))
        .env("CONFAB_LOG", "warn")
        .env("CONFAB_DB_POOL_SIZE", "32")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start confab");
    let stdout = child.stdout.take().expect("stdout");
    let mut key = String::new();
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

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn graphql(
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets too; only `cargo bench` measures.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("fanout: run with `cargo bench --bench fanout`");
        return;
    }
    let options = options();
    let (admin_url, _cluster) = match std::env::var("CONFAB_BENCH_DATABASE_URL") {
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
    };
    let database = "confab_bench_fanout";
    confab::db::drop_database(&admin_url, database)
        .await
        .expect("drop");
    confab::db::create_database(&admin_url, database, None)
        .await
        .expect("create");
    let database_url = match admin_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{database}"),
        None => admin_url.clone(),
    };

    let server = start_server(&database_url);
    let http = reqwest::Client::new();
    let created = graphql(
        &http,
        &server,
        "mutation { createThread(input: {name: \"fan-out\"}) { thread { id } } }",
        json!({}),
    )
    .await;
    let thread = created["data"]["createThread"]["thread"]["id"]
        .as_str()
        .expect("thread")
        .to_string();
    // The sender joins on its first message; do that before measuring.
    graphql(
        &http,
        &server,
        "mutation($t: ID!) { sendMessage(input: {threadId: $t, text: \"warm-up\"}) { message { id } } }",
        json!({ "t": thread }),
    )
    .await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id();
    let rss_before = rss_kib(pid);

    // Open the subscribers.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(options.subscribers);
    let mut tasks = Vec::new();
    for _ in 0..options.subscribers {
        let url = format!("ws://{}/ws", server.address);
        let key = server.key.clone();
        let thread = thread.clone();
        let sent_at = sent_at.clone();
        let latencies = latencies.clone();
        let ready = ready_tx.clone();
        let expected = options.messages;
        tasks.push(tokio::spawn(async move {
            let mut request = url.into_client_request().expect("request");
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
            let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("connect");
            let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } });
            socket.send(Message::Text(init.to_string().into())).await.expect("init");
            let _ack = socket.next().await;
            let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
                "query": "subscription($t: ID!) { threadEvents(threadId: $t) { kind message { text } } }",
                "variables": { "t": thread } } });
            socket.send(Message::Text(subscribe.to_string().into())).await.expect("subscribe");
            let _ = ready.send(()).await;
            let mut received = 0;
            while received < expected {
                let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_secs(30), socket.next()).await else {
                    break;
                };
                let now = Instant::now();
                let value: Value = serde_json::from_str(&text).unwrap_or_default();
                let Some(body) = value["payload"]["data"]["threadEvents"]["message"]["text"].as_str() else {
                    continue;
                };
                let sent = sent_at.lock().map(|m| m.get(body).copied()).ok().flatten();
                if let Some(sent) = sent {
                    if let Ok(mut all) = latencies.lock() {
                        all.push(now - sent);
                    }
                    received += 1;
                }
            }
        }));
    }
    drop(ready_tx);
    let mut ready = 0;
    while ready < options.subscribers && ready_rx.recv().await.is_some() {
        ready += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid);

    // Send at a steady rate.
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let started = Instant::now();
    for i in 0..options.messages {
        let text = format!("bench-{i}");
        if let Ok(mut map) = sent_at.lock() {
            map.insert(text.clone(), Instant::now());
        }
        graphql(
            &http,
            &server,
            "mutation($t: ID!, $text: String!) { sendMessage(input: {threadId: $t, text: $text}) { message { id } } }",
            json!({ "t": thread, "text": text }),
        )
        .await;
        let next = started + interval * (i as u32 + 1);
        tokio::time::sleep_until(next.into()).await;
    }
    for task in tasks {
        let _ = task.await;
    }

    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();
    let expected = options.subscribers * options.messages;
    let per_subscription =
        (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / options.subscribers as f64;
    println!(
        "fan-out: {} subscribers, {} messages at {}/s",
        options.subscribers, options.messages, options.rate
    );
    println!("  deliveries: {} of {expected}", all.len());
    println!(
        "  delivery latency p50: {:.2} ms",
        percentile(&all, 0.50).as_secs_f64() * 1000.0
    );
    println!(
        "  delivery latency p99: {:.2} ms",
        percentile(&all, 0.99).as_secs_f64() * 1000.0
    );
    println!(
        "  delivery latency max: {:.2} ms",
        all.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    println!("  server RSS: {rss_before} KiB idle, {rss_after} KiB with subscriptions");
    println!(
        "  server memory per idle subscription: {:.1} KB",
        per_subscription / 1000.0
    );
}

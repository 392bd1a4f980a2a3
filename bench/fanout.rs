//! Subscription fan-out load check (not a test): N WebSocket subscribers on
//! one thread, M messages sent at a steady rate; prints delivery latency
//! p50/p99 and the server's memory per idle subscription.
//!
//! `cargo bench --bench fanout -- [--subscribers N] [--messages M] [--rate PER_SECOND]
//!  [--writers W] [--write-seconds S]`: then W clients send as fast as they
//! can for S seconds with every subscription live, and it prints writes/s.
//!
//! The server runs as its own process (the release `confab` binary) so that
//! its memory is measured alone; it uses `CONFAB_BENCH_DATABASE_URL` (a
//! maintenance database URL) or a private cluster under `target/`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[path = "common.rs"]
mod common;

struct Options {
    subscribers: usize,
    messages: usize,
    rate: f64,
    write_seconds: f64,
    writers: usize,
}

fn options() -> Options {
    let value = |name: &str, default: f64| {
        common::arg(name)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(default)
    };
    Options {
        subscribers: value("--subscribers", 1000.0) as usize,
        messages: value("--messages", 50.0) as usize,
        rate: value("--rate", 20.0),
        write_seconds: value("--write-seconds", 5.0),
        writers: value("--writers", 16.0) as usize,
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

#[tokio::main]
async fn main() {
    // `cargo test --all-targets` runs bench targets too; only `cargo bench` measures.
    if !std::env::args().any(|arg| arg == "--bench") {
        println!("fanout: run with `cargo bench --bench fanout`");
        return;
    }
    let options = options();
    let (database_url, _admin_url, _cluster) = common::bench_database("confab_bench_fanout").await;
    common::migrate(&database_url);
    let server = common::start_server(&database_url, 32);
    let http = reqwest::Client::new();
    let thread = common::create_thread(&http, &server, "fan-out").await;
    // The sender joins on its first message; do that before measuring.
    common::send_message(&http, &server.address, &server.key, &thread, "warm-up").await;

    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.child.id();
    let rss_before = rss_kib(pid);

    // Open the subscribers; they read until told to stop.
    let sent_at: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(options.subscribers);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for _ in 0..options.subscribers {
        let subscriber = Subscriber {
            url: format!("ws://{}/ws", server.address),
            key: server.key.clone(),
            thread: thread.clone(),
            sent_at: sent_at.clone(),
            latencies: latencies.clone(),
        };
        tasks.push(tokio::spawn(
            subscriber.run(ready_tx.clone(), stop_rx.clone()),
        ));
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
        common::send_message(&http, &server.address, &server.key, &thread, &text).await;
        tokio::time::sleep_until((started + interval * (i as u32 + 1)).into()).await;
    }
    let expected = options.subscribers * options.messages;
    let deadline = Instant::now() + Duration::from_secs(30);
    while latencies.lock().map(|l| l.len()).unwrap_or_default() < expected
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut all = latencies.lock().map(|l| l.clone()).unwrap_or_default();
    all.sort();

    // Writes with every subscription still live, from concurrent clients.
    let sent = Arc::new(AtomicUsize::new(0));
    let writing = Instant::now();
    let write_until = writing + Duration::from_secs_f64(options.write_seconds);
    let mut writers = Vec::new();
    for writer in 0..options.writers {
        let (http, sent, thread) = (http.clone(), sent.clone(), thread.clone());
        let server = (server.address.clone(), server.key.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < write_until {
                if common::send_message(
                    &http,
                    &server.0,
                    &server.1,
                    &thread,
                    &format!("write-{writer}-{i}"),
                )
                .await
                {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    for writer in writers {
        let _ = writer.await;
    }
    let writes_per_second = sent.load(Ordering::Relaxed) as f64 / writing.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per_subscription =
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / options.subscribers as f64;
    println!(
        "fan-out: {} subscribers, {} messages at {}/s",
        options.subscribers, options.messages, options.rate
    );
    println!("  deliveries: {} of {expected}", all.len());
    println!(
        "  delivery latency p50: {:.2} ms",
        ms(common::percentile(&all, 0.50))
    );
    println!(
        "  delivery latency p99: {:.2} ms",
        ms(common::percentile(&all, 0.99))
    );
    println!(
        "  delivery latency max: {:.2} ms",
        ms(all.last().copied().unwrap_or_default())
    );
    println!("  server RSS: {rss_before} KiB idle, {rss_after} KiB with subscriptions");
    println!(
        "  server memory per idle subscription: {:.1} KB",
        per_subscription / 1000.0
    );
    println!(
        "  writes: {writes_per_second:.0} sendMessage/s from {} clients with {} subscriptions live",
        options.writers, options.subscribers
    );
}

/// One WebSocket subscriber of the thread, recording delivery latencies.
struct Subscriber {
    url: String,
    key: String,
    thread: String,
    sent_at: Arc<Mutex<HashMap<String, Instant>>>,
    latencies: Arc<Mutex<Vec<Duration>>>,
}

impl Subscriber {
    async fn run(
        self,
        ready: tokio::sync::mpsc::Sender<()>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let Ok(mut request) = self.url.as_str().into_client_request() else {
            return;
        };
        if let Ok(protocol) = "graphql-transport-ws".parse() {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol);
        }
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            eprintln!("a subscriber could not connect");
            return;
        };
        let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {}", self.key) } });
        let _ = socket.send(Message::Text(init.to_string().into())).await;
        let _ack = socket.next().await;
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($t: ID!) { threadEvents(threadId: $t) { kind message { text } } }",
            "variables": { "t": self.thread } } });
        let _ = socket
            .send(Message::Text(subscribe.to_string().into()))
            .await;
        let _ = ready.send(()).await;
        loop {
            let text = tokio::select! {
                message = socket.next() => match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(_)) => continue,
                    _ => break,
                },
                _ = stop.changed() => break,
            };
            let now = Instant::now();
            let value: Value = serde_json::from_str(&text).unwrap_or_default();
            let Some(body) = value["payload"]["data"]["threadEvents"]["message"]["text"].as_str()
            else {
                continue;
            };
            let sent = self.sent_at.lock().ok().and_then(|m| m.get(body).copied());
            if let Some(sent) = sent
                && let Ok(mut all) = self.latencies.lock()
            {
                all.push(now - sent);
            }
        }
    }
}

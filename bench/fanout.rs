//! Subscription fan-out load check (not a test): N WebSocket subscribers on
//! one thread, M messages sent at a steady rate; prints delivery latency
//! p50/p99 and the server's memory per idle subscription.
//!
//! `cargo bench --bench fanout -- [--subscribers N] [--messages M] [--rate PER_SECOND]
//!  [--writers W] [--write-seconds S] [--instances I] [--own-threads]`: then W clients
//! send as fast as they can for S seconds with every subscription live, and it prints
//! writes/s. With `--own-threads` every subscriber follows a thread of its own (a
//! widget per visitor) and the writers write to them at random; nothing is timed
//! then but the writes, each of which one subscriber receives.
//!
//! The server runs as its own process (the release `confab` binary) so that
//! its memory is measured alone; `--instances 2` starts two over the same
//! database, the subscribers spread over both and the messages sent to the
//! first, as behind a load balancer. Every subscriber counts what it gets,
//! so lost and duplicated deliveries are printed, and this process's own
//! CPU share (one tokio process drives every socket). It uses
//! `CONFAB_BENCH_DATABASE_URL` (a maintenance database URL) or a private
//! cluster under `target/`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

#[path = "common.rs"]
mod common;

struct Options {
    subscribers: usize,
    messages: usize,
    rate: f64,
    write_seconds: f64,
    writers: usize,
    instances: usize,
    own_threads: bool,
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
        instances: (value("--instances", 1.0) as usize).max(1),
        own_threads: std::env::args().any(|arg| arg == "--own-threads"),
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
    if !common::measuring("fanout") {
        return;
    }
    let options = options();
    let (database_url, _admin_url, _cluster) = common::bench_database("confab_bench_fanout").await;
    common::migrate(&database_url);
    let mut servers = vec![common::start_server(&database_url, 32)];
    for _ in 1..options.instances {
        let key = servers[0].key.clone();
        servers.push(common::start_server_with_key(&database_url, 32, Some(&key)));
    }
    let server = &servers[0];
    let http = reqwest::Client::new();
    let thread = common::create_thread(&http, server, "fan-out").await;
    // The sender joins on its first message; do that before measuring.
    common::send_message(&http, &server.address, &server.key, &thread, "warm-up").await;

    let mut threads = vec![thread.clone()];
    if options.own_threads {
        threads.clear();
        for i in 0..options.subscribers.max(1) {
            threads.push(common::create_thread(&http, server, &format!("visitor {i}")).await);
        }
    }
    let messages = if options.own_threads {
        0
    } else {
        options.messages
    };

    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss = || servers.iter().map(|s| rss_kib(s.child.id())).sum::<u64>();
    let rss_before = rss();

    // Open the subscribers; they read until told to stop.
    let sent_at = Arc::new(SentAt::new(messages));
    let delivered = Arc::new(AtomicUsize::new(0));
    let duplicates = Arc::new(AtomicUsize::new(0));
    // A few handshakes at a time, as clients arrive, not 10,000 at once.
    let handshakes = Arc::new(tokio::sync::Semaphore::new(100));
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(options.subscribers);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for i in 0..options.subscribers {
        let subscriber = Subscriber {
            url: format!("ws://{}/ws", servers[i % servers.len()].address),
            key: server.key.clone(),
            thread: threads[i % threads.len()].clone(),
            sent_at: sent_at.clone(),
            delivered: delivered.clone(),
            duplicates: duplicates.clone(),
        };
        tasks.push(tokio::spawn(subscriber.run(
            handshakes.clone(),
            ready_tx.clone(),
            stop_rx.clone(),
        )));
    }
    drop(ready_tx);
    let mut ready = 0;
    while ready < options.subscribers && ready_rx.recv().await.is_some() {
        ready += 1;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss();

    // Send at a steady rate.
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let (client_before, machine_before) = (
        common::process_cpu(std::process::id()),
        common::machine_cpu(),
    );
    let started = Instant::now();
    for i in 0..messages {
        let text = format!("bench-{i}");
        sent_at.mark(i);
        common::send_message(&http, &server.address, &server.key, &thread, &text).await;
        tokio::time::sleep_until((started + interval * (i as u32 + 1)).into()).await;
    }
    let expected = options.subscribers * messages;
    let deadline = Instant::now() + Duration::from_secs(30);
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (client_after, machine_after) = (
        common::process_cpu(std::process::id()),
        common::machine_cpu(),
    );
    let delivering = started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let client_share = (client_after - client_before).as_secs_f64() / delivering / cores;
    let machine_share = (machine_after.0 - machine_before.0) as f64
        / (machine_after.1 - machine_before.1).max(1) as f64;

    // Writes with every subscription still live, from concurrent clients.
    let sent = Arc::new(AtomicUsize::new(0));
    let writing = Instant::now();
    let write_until = writing + Duration::from_secs_f64(options.write_seconds);
    let mut writers = Vec::new();
    for writer in 0..options.writers {
        let (http, sent, threads) = (http.clone(), sent.clone(), threads.clone());
        let server = (server.address.clone(), server.key.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < write_until {
                // Spread over the threads (one, unless `--own-threads`).
                let thread = &threads[(writer * 7919 + i * 104_729) % threads.len()];
                if common::send_message(
                    &http,
                    &server.0,
                    &server.1,
                    thread,
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
    let mut all = Vec::with_capacity(expected);
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all.sort();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let per_subscription =
        rss_after.saturating_sub(rss_before) as f64 * 1024.0 / options.subscribers as f64;
    println!(
        "fan-out: {} subscribers over {} instance(s), {} messages at {}/s",
        options.subscribers,
        servers.len(),
        options.messages,
        options.rate
    );
    println!(
        "  deliveries: {} of {expected} (lost {}, duplicated {})",
        all.len(),
        expected.saturating_sub(all.len()),
        duplicates.load(Ordering::Relaxed)
    );
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
    println!(
        "  CPU while delivering: this client {:.0}% of the machine, the machine {:.0}% busy",
        client_share * 100.0,
        machine_share * 100.0
    );
    println!("  server RSS: {rss_before} KiB idle, {rss_after} KiB with subscriptions");
    println!(
        "  server memory per idle subscription: {:.1} KB",
        per_subscription / 1000.0
    );
    if options.writers > 0 {
        let followed = if options.own_threads {
            "each on a thread of its own, written to at random"
        } else {
            "all on the thread written to"
        };
        println!(
            "  writes: {writes_per_second:.0} sendMessage/s from {} clients with {} subscriptions live ({followed})",
            options.writers, options.subscribers
        );
    }
}

/// When each timed message was sent, lock-free: read by every subscriber.
struct SentAt {
    base: Instant,
    /// Nanoseconds after `base`, plus one; zero while unsent.
    nanos: Vec<std::sync::atomic::AtomicU64>,
}

impl SentAt {
    fn new(messages: usize) -> SentAt {
        SentAt {
            base: Instant::now(),
            nanos: (0..messages).map(|_| Default::default()).collect(),
        }
    }

    /// Message `i` is being sent now.
    fn mark(&self, i: usize) {
        let nanos = self.base.elapsed().as_nanos() as u64 + 1;
        if let Some(slot) = self.nanos.get(i) {
            slot.store(nanos, Ordering::Release);
        }
    }

    /// When message `i` was sent, if it was.
    fn get(&self, i: usize) -> Option<Instant> {
        match self.nanos.get(i)?.load(Ordering::Acquire) {
            0 => None,
            nanos => Some(self.base + Duration::from_nanos(nanos - 1)),
        }
    }
}

/// One WebSocket subscriber of the thread, recording delivery latencies.
struct Subscriber {
    url: String,
    key: String,
    thread: String,
    sent_at: Arc<SentAt>,
    delivered: Arc<AtomicUsize>,
    duplicates: Arc<AtomicUsize>,
}

impl Subscriber {
    async fn run(
        self,
        handshakes: Arc<tokio::sync::Semaphore>,
        ready: tokio::sync::mpsc::Sender<()>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Vec<Duration> {
        let mut latencies = Vec::new();
        let Ok(mut request) = self.url.as_str().into_client_request() else {
            return latencies;
        };
        if let Ok(protocol) = "graphql-transport-ws".parse() {
            request
                .headers_mut()
                .insert("Sec-WebSocket-Protocol", protocol);
        }
        let handshake = handshakes.acquire().await;
        // Small buffers, as a browser's: the defaults reserve 128 KiB a socket.
        let config = WebSocketConfig::default()
            .read_buffer_size(4096)
            .write_buffer_size(0);
        let Ok((mut socket, _)) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true).await
        else {
            eprintln!("a subscriber could not connect");
            return latencies;
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
        drop(handshake);
        let _ = ready.send(()).await;
        let mut seen = vec![false; self.sent_at.nanos.len()];
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
            // Only the timed messages (the write phase's are not tracked),
            // found without parsing the whole JSON: one process reads every
            // socket, and its CPU is taken from the server's two cores.
            let Some(i) = timed_message(&text) else {
                continue;
            };
            let Some(first) = seen.get_mut(i).map(|seen| !std::mem::replace(seen, true)) else {
                continue;
            };
            if !first {
                self.duplicates.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            if let Some(sent) = self.sent_at.get(i) {
                latencies.push(now - sent);
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        latencies
    }
}

/// The `n` of a `next` message whose `message { text }` is `bench-<n>`.
fn timed_message(message: &str) -> Option<usize> {
    let start = message.find(r#""text":"bench-"#)? + r#""text":"bench-"#.len();
    let length = message[start..].find('"')?;
    message[start..start + length].parse().ok()
}

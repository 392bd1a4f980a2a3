//! sendMessage throughput load check (not a test): C clients send messages to
//! one organization as fast as they can; prints sendMessage/s and p50/p99.
//!
//! `cargo bench --bench writes -- [--connections 16,32] [--seconds S]
//!  [--same-thread] [--without-search]`
//!
//! Each client has its own HTTP connection and, unless `--same-thread`, its
//! own thread, so what is measured is the organization's write path (the
//! event append), not one thread's row lock. The database runs with
//! `synchronous_commit = on` (set on it, whatever the cluster's default).
//! `--without-search` drops the search trigger, generated column and GIN
//! index from this scratch database first, to measure what they cost.
//! Uses `CONFAB_BENCH_DATABASE_URL` (a maintenance database URL) or a private
//! cluster under `target/`; the server is the release `confab` binary, or
//! `CONFAB_BENCH_SERVER` (another build's, to compare two side by side).

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

#[path = "common.rs"]
mod common;

struct Options {
    connections: Vec<usize>,
    seconds: f64,
    same_thread: bool,
    without_search: bool,
}

fn options() -> Options {
    let value = common::arg;
    Options {
        connections: value("--connections")
            .unwrap_or_else(|| "16,32".to_string())
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        seconds: value("--seconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0),
        same_thread: std::env::args().any(|a| a == "--same-thread"),
        without_search: std::env::args().any(|a| a == "--without-search"),
    }
}

/// Runs `statements` on `url`, one by one.
async fn execute(url: &str, statements: &[&str]) {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    for statement in statements {
        diesel::sql_query(*statement)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// What the search migration adds to every message insert.
const WITHOUT_SEARCH: &[&str] = &[
    "DROP TRIGGER messages_search_config ON messages",
    "DROP INDEX messages_search",
    "ALTER TABLE messages DROP COLUMN search_vector",
    "ALTER TABLE messages ALTER COLUMN search_config SET DEFAULT 'simple'",
];

#[tokio::main]
async fn main() {
    if !common::measuring("writes") {
        return;
    }
    let options = options();
    let name = "confab_bench_writes";
    let (database_url, admin_url, _cluster) = common::bench_database(name).await;
    execute(
        &admin_url,
        &[&format!(
            "ALTER DATABASE {name} SET synchronous_commit = on"
        )],
    )
    .await;
    common::migrate(&database_url);
    if options.without_search {
        execute(&database_url, WITHOUT_SEARCH).await;
    }
    let most = options.connections.iter().copied().max().unwrap_or(16);
    let server = common::start_server(&database_url, most.max(16));
    let http = reqwest::Client::new();

    // Threads, each with one message already (the sender joins on its first).
    let threads = if options.same_thread { 1 } else { most };
    let mut thread_ids = Vec::new();
    for i in 0..threads {
        let thread = common::create_thread(&http, &server, &format!("writes-{i}")).await;
        common::send_message(&http, &server.address, &server.key, &thread, "warm-up").await;
        thread_ids.push(thread);
    }

    println!(
        "sendMessage to one organization, {}, search {}, synchronous_commit = on, {:.0} s per run",
        if options.same_thread {
            "all clients on one thread"
        } else {
            "one thread per client"
        },
        if options.without_search {
            "columns, trigger and index dropped"
        } else {
            "as migrated"
        },
        options.seconds
    );
    for &connections in &options.connections {
        // A short warm-up, then the measured run.
        run(&server, &thread_ids, connections, 2.0).await;
        let (sent, failed, mut latencies, elapsed) =
            run(&server, &thread_ids, connections, options.seconds).await;
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "  {connections:>3} connections: {:>6.0} sendMessage/s, p50 {:.1} ms, p99 {:.1} ms ({sent} sent, {failed} failed)",
            sent as f64 / elapsed.as_secs_f64(),
            ms(common::percentile(&latencies, 0.50)),
            ms(common::percentile(&latencies, 0.99)),
        );
    }
}

/// `connections` clients sending for `seconds`: how many were accepted, how
/// many failed, the latencies of the accepted ones, and how long it took.
async fn run(
    server: &common::Server,
    threads: &[String],
    connections: usize,
    seconds: f64,
) -> (usize, usize, Vec<Duration>, Duration) {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut clients = Vec::new();
    for client in 0..connections {
        let http = reqwest::Client::new();
        let thread = threads[client % threads.len()].clone();
        let (address, key) = (server.address.clone(), server.key.clone());
        clients.push(tokio::spawn(async move {
            let (mut latencies, mut failed) = (Vec::new(), 0);
            let mut i = 0;
            while Instant::now() < until {
                let sending = Instant::now();
                let text = format!("write {client}-{i}");
                if common::send_message(&http, &address, &key, &thread, &text).await {
                    latencies.push(sending.elapsed());
                } else {
                    failed += 1;
                }
                i += 1;
            }
            (latencies, failed)
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for client in clients {
        if let Ok((latencies, failures)) = client.await {
            all.extend(latencies);
            failed += failures;
        }
    }
    (all.len(), failed, all, started.elapsed())
}

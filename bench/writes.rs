//! sendMessage throughput load check (not a test): C clients send messages to
//! one organization as fast as they can; prints sendMessage/s and p50/p99.
//!
//! `cargo bench --bench writes -- [--connections 16,32] [--seconds S]
//!  [--same-thread] [--without-search] [--floor]`
//!
//! Each client has its own HTTP connection and, unless `--same-thread`, its
//! own thread, so what is measured is the organization's write path (the
//! event append), not one thread's row lock. The database runs with
//! `synchronous_commit = on` (set on it, whatever the cluster's default).
//! `--without-search` drops the search trigger, generated column and GIN
//! index from this scratch database first, to measure what they cost.
//! `--floor` then runs the statements the server sends for one message
//! straight from `pgbench` (prepared, as many clients): the most this
//! database can do with no server at all.
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
    floor: bool,
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
        floor: std::env::args().any(|a| a == "--floor"),
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
    if options.floor {
        floor(&database_url, &thread_ids, &options).await;
    }
}

/// One sendMessage as the server runs it for a sender already in the
/// thread: the statements, in order, with the same kinds of parameters
/// (pgbench sends `:name`s as parameters; `:payload` is a stored event's). Each client writes to its own thread.
const SEND_MESSAGE: &str = r#"\set t :first + :client_id % :threads
BEGIN;
SELECT * FROM threads WHERE organization_id = :org AND id = :t FOR UPDATE;
SELECT id AS sub FROM thread_subscribers WHERE thread_id = :t AND api_key_id = :key AND organization_id = :org \gset
INSERT INTO messages (organization_id, public_id, thread_id, conversation_id, kind, body, event, author_subscriber_id, media_urls, resource_id, client_message_id, written_at, written_by_me) VALUES (:org, 'msg_' || md5(random()::text), :t, NULL, 'text', 'write from pgbench', NULL, :sub, '{}', NULL, NULL, NULL, NULL) RETURNING *;
WITH read_state AS (UPDATE thread_subscribers SET unread_count = CASE WHEN id = :sub THEN 0 ELSE unread_count + 1 END, viewed_at = CASE WHEN id = :sub THEN now() ELSE viewed_at END, updated_at = CASE WHEN id = :sub THEN now() ELSE updated_at END WHERE thread_id = :t AND (id = :sub OR NOT is_archived)) UPDATE threads SET updated_at = now(), last_message_at = now() WHERE id = :t RETURNING *;
WITH tx AS (SELECT pg_current_xact_id()::text::bigint * 65536 AS first), taken AS (SELECT count(*) AS n FROM events, tx WHERE organization_id = :org AND position >= tx.first AND position < tx.first + 65536), batch AS (SELECT * FROM unnest(ARRAY['message_added']::text[], ARRAY[:t::int8], ARRAY[NULL]::int8[], ARRAY[NULL]::int8[], ARRAY[:payload::jsonb]) WITH ORDINALITY AS b(kind, thread_id, conversation_id, channel_id, payload, place)), appended AS (INSERT INTO events (organization_id, position, kind, thread_id, conversation_id, channel_id, payload) SELECT :org, tx.first + taken.n + batch.place - 1, batch.kind, batch.thread_id, batch.conversation_id, batch.channel_id, batch.payload FROM tx, taken, batch WHERE taken.n + 1 <= 65536 ORDER BY batch.place RETURNING position) SELECT position FROM appended ORDER BY position;
COMMIT;
SELECT pg_notify('confab_bench_floor', :org::text || ':1');
"#;

/// Runs `SEND_MESSAGE` from pgbench on the bench's threads and prints the
/// transactions per second for each connection count.
async fn floor(database_url: &str, public_ids: &[String], options: &Options) {
    let mut conn = AsyncPgConnection::establish(database_url)
        .await
        .expect("connect");
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let mut lookup = async |sql: String| -> String {
        diesel::sql_query(sql)
            .get_result::<Setting>(&mut conn)
            .await
            .expect("floor setting")
            .value
    };
    let quoted: Vec<String> = public_ids.iter().map(|id| format!("'{id}'")).collect();
    let ids = format!("({})", quoted.join(","));
    let first = lookup(format!(
        "SELECT min(id)::text AS value FROM threads WHERE public_id IN {ids}"
    ))
    .await;
    let last = lookup(format!(
        "SELECT max(id)::text AS value FROM threads WHERE public_id IN {ids}"
    ))
    .await;
    let org = lookup(format!(
        "SELECT min(organization_id)::text AS value FROM threads WHERE public_id IN {ids}"
    ))
    .await;
    let key = lookup("SELECT min(id)::text AS value FROM api_keys".into()).await;
    let payload = lookup("SELECT payload::text AS value FROM events WHERE kind = 'message_added' ORDER BY position DESC LIMIT 1".into()).await;
    let threads = public_ids.len();
    let (first_id, last_id): (usize, usize) =
        (first.parse().expect("id"), last.parse().expect("id"));
    assert_eq!(
        last_id + 1 - first_id,
        threads,
        "the bench's threads have consecutive ids"
    );
    let script =
        std::env::temp_dir().join(format!("confab-writes-floor-{}.pgb", std::process::id()));
    std::fs::write(&script, SEND_MESSAGE).expect("write the pgbench script");
    println!("  the same statements from pgbench, no server (the floor):");
    for &connections in &options.connections {
        let output = std::process::Command::new(pgbench())
            .args(["-n", "-M", "prepared", "-j", "2"])
            .args(["-c", &connections.to_string()])
            .args(["-T", &format!("{:.0}", options.seconds.max(1.0))])
            .args([
                "-D",
                &format!("first={first}"),
                "-D",
                &format!("threads={threads}"),
            ])
            .args(["-D", &format!("org={org}"), "-D", &format!("key={key}")])
            .args(["-D", &format!("payload={payload}")])
            .arg("-f")
            .arg(&script)
            .arg(database_url)
            .output()
            .expect("run pgbench");
        let text = String::from_utf8_lossy(&output.stdout);
        match text
            .lines()
            .find_map(|line| line.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|tps| tps.parse::<f64>().ok())
        {
            Some(tps) => println!("  {connections:>3} connections: {tps:>6.0} transactions/s"),
            None => println!("  {connections:>3} connections: pgbench failed"),
        }
        if !output.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        }
    }
    let _ = std::fs::remove_file(script);
}

/// `pgbench` from `PATH`, else from the newest PostgreSQL under `/usr/lib/postgresql`.
fn pgbench() -> std::path::PathBuf {
    let on_path = std::env::var_os("PATH").into_iter().flat_map(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("pgbench"))
            .collect::<Vec<_>>()
    });
    let installed = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin/pgbench"));
    let mut found: Vec<_> = on_path
        .chain(installed)
        .filter(|path| path.exists())
        .collect();
    found.sort_by_key(|path| !path.starts_with("/usr/lib/postgresql"));
    found.into_iter().next().unwrap_or_else(|| "pgbench".into())
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

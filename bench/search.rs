//! Search latency load check (not a test): two-word `searchMessages` queries
//! over 1M messages, through the server's GraphQL API; prints q/s, p50, p99.
//!
//! `cargo bench --bench search -- [--seconds S] [--bands rare,middling,common]`
//!
//! Seeds, once, database `confab_bench_search` (kept between runs; drop it to
//! start over): the server's organization gets 1,000 threads and 1,000,000
//! messages of 12 words each, drawn from 5,000 words with Zipf frequencies
//! (the k-th commonest word in about 1 of 8.5k draws), so a word's rank says
//! how many messages hold it: rank 1 about 64%, rank 10 about 13%, rank 100
//! about 1.4%, rank 1,000 about 0.14%. Then, per band of ranks, 2 clients
//! (each its own HTTP connection) ask for the first 20 hits with snippets of
//! two random words of the band, 2 s of warm-up, then `--seconds` (10).
//! The server picks its SQL per query, so this times the server, not one
//! statement. Uses `CONFAB_BENCH_DATABASE_URL` (a maintenance database URL)
//! or a private cluster under `target/`; the server is the release `confab`
//! binary, or `CONFAB_BENCH_SERVER`.

use std::process::Command;
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Bool, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl, SimpleAsyncConnection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

#[path = "common.rs"]
#[allow(dead_code)] // what the other benches use of it
mod common;

const DATABASE: &str = "confab_bench_search";
const MESSAGES: i64 = 1_000_000;
const CLIENTS: usize = 2;
const QUERY: &str = "query($q: String!) { searchMessages(query: $q, first: 20) { edges { node { rank snippet message { id text createdAt } } } } }";

/// Bands of frequency ranks: name, lowest and highest rank, label.
const BANDS: &[(&str, i32, i32, &str)] = &[
    ("rare", 300, 5000, "rare (300-5,000: 0.03% to 0.5%)"),
    ("middling", 30, 300, "middling (30-300: 0.5% to 5%)"),
    ("common", 1, 30, "very common (1-30: 5% to 64%)"),
];

struct Options {
    seconds: f64,
    bands: Vec<String>,
}

fn options() -> Options {
    let value = common::arg;
    Options {
        seconds: value("--seconds")
            .and_then(|s| s.parse().ok())
            .unwrap_or(10.0),
        bands: value("--bands")
            .unwrap_or_else(|| "rare,middling,common".to_string())
            .split(',')
            .map(|b| b.trim().to_string())
            .filter(|b| !b.is_empty())
            .collect(),
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

#[derive(diesel::QueryableByName)]
struct Word {
    #[diesel(sql_type = Integer)]
    rank: i32,
    #[diesel(sql_type = Text)]
    word: String,
    /// PostgreSQL's parser splits it (hex like `02e74f` becomes the phrase
    /// `'02e74' <-> 'f'`), which natural words do not do.
    #[diesel(sql_type = Bool)]
    split: bool,
}

/// The vocabulary of the seed, by frequency rank.
const WORDS: &str = "SELECT k AS rank, substr(md5(k::text), 1, 3 + k % 6) AS word,
       numnode(websearch_to_tsquery('simple', substr(md5(k::text), 1, 3 + k % 6))) > 1 AS split
FROM generate_series(1, 5000) k ORDER BY k";

/// 1,000 threads and 1M messages in organization {org}, as the SQL-level
/// `bench/search` script (pgbench) that this replaces seeded them; one
/// transaction, so an interrupted seed leaves nothing.
const SEED: &str = "BEGIN;
INSERT INTO threads (organization_id, public_id, name)
SELECT {org}, 'thrd_search-' || g, 'thread ' || g FROM generate_series(1, 1000) g;
CREATE TEMP TABLE vocab ON COMMIT DROP AS
SELECT array_agg(substr(md5(k::text), 1, 3 + k % 6) ORDER BY k) AS words FROM generate_series(1, 5000) k;
INSERT INTO messages (organization_id, public_id, thread_id, kind, body, created_at)
SELECT {org}, 'msg_search-' || g, t.ids[1 + g % 1000], 'text',
       (SELECT string_agg(v.words[floor(power(5000, random()))::int + 0 * i], ' ')
        FROM generate_series(1, 12 + 0 * g) i),
       now() - g * interval '1 second'
FROM vocab v
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM threads
            WHERE organization_id = {org} AND public_id LIKE 'thrd_search-%') t
CROSS JOIN generate_series(1, 1000000) g;
COMMIT;";

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .count
}

/// Another api key for the organization the server created on its first
/// start (`default`): later starts over the same database print none.
fn create_key(database_url: &str) -> String {
    let output = Command::new(common::server_binary())
        .args([
            "key",
            "create",
            "--org",
            "default",
            "--name",
            "bench-search",
        ])
        .env("DATABASE_URL", database_url)
        .env("CONFAB_LOG", "warn")
        .output()
        .expect("run confab key create");
    assert!(
        output.status.success(),
        "confab key create --org default failed (drop database {DATABASE} to start over): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[tokio::main]
async fn main() {
    if !common::measuring("search") {
        return;
    }
    let options = options();
    for band in &options.bands {
        assert!(
            BANDS.iter().any(|(name, ..)| name == band),
            "unknown band {band:?}: rare, middling or common"
        );
    }
    let (database_url, _admin_url, _cluster) = common::kept_database(DATABASE).await;
    common::migrate(&database_url);
    let mut conn = AsyncPgConnection::establish(&database_url)
        .await
        .expect("connect");

    // The server creates organization `default` and prints its key on its
    // first start over an empty database only.
    let organizations = count(&mut conn, "SELECT count(*) AS count FROM organizations").await;
    let server = if organizations == 0 {
        common::start_server(&database_url, 16)
    } else {
        let key = create_key(&database_url);
        common::start_server_with_key(&database_url, 16, Some(&key))
    };
    let http = reqwest::Client::new();
    let viewer = common::graphql(
        &http,
        &server,
        "{ viewer { organization { id } } }",
        json!({}),
    )
    .await;
    let public_id = viewer["data"]["viewer"]["organization"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("viewer: {viewer}"))
        .replace('\'', "");
    let org = count(
        &mut conn,
        &format!("SELECT id AS count FROM organizations WHERE public_id = '{public_id}'"),
    )
    .await;

    let messages = count(
        &mut conn,
        &format!("SELECT count(*) AS count FROM messages WHERE organization_id = {org}"),
    )
    .await;
    if messages < MESSAGES {
        eprintln!(
            "search: seeding 1M messages of varied text into organization {public_id} (minutes)"
        );
        let started = Instant::now();
        conn.batch_execute(&SEED.replace("{org}", &org.to_string()))
            .await
            .expect("seed");
        conn.batch_execute("VACUUM ANALYZE messages")
            .await
            .expect("vacuum");
        eprintln!("search: seeded in {:.0} s", started.elapsed().as_secs_f64());
    }

    let words: Vec<Word> = diesel::sql_query(WORDS)
        .load(&mut conn)
        .await
        .expect("words");
    let excluded = words.iter().filter(|w| w.split).count();
    println!(
        "== Search: two-word queries over 1M messages, first page of 20 with snippets, through GraphQL ({CLIENTS} clients, {:.0} s)",
        options.seconds
    );
    println!(
        "({excluded} of the 5,000 words left out of the queries: PostgreSQL splits them into a phrase, e.g. 02e74f into 02e74 <-> f)"
    );
    println!(
        "{:<52} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "words (frequency rank: share of messages holding it)",
        "q/s",
        "p50 ms",
        "p99 ms",
        "server CPU",
        "machine"
    );
    for (name, lowest, highest, label) in BANDS {
        if !options.bands.iter().any(|b| b == name) {
            continue;
        }
        let band: Vec<&str> = words
            .iter()
            .filter(|w| !w.split && (*lowest..=*highest).contains(&w.rank))
            .map(|w| w.word.as_str())
            .collect();
        run(&server, &band, 2.0, 1).await;
        let pid = server.child.id();
        let (cpu_before, machine_before) = (common::process_cpu(pid), common::machine_cpu());
        let (mut latencies, elapsed) = run(&server, &band, options.seconds, 2).await;
        let (cpu_after, machine_after) = (common::process_cpu(pid), common::machine_cpu());
        latencies.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let server_share = (cpu_after - cpu_before).as_secs_f64() / elapsed.as_secs_f64();
        let machine_share = (machine_after.0 - machine_before.0) as f64
            / (machine_after.1 - machine_before.1).max(1) as f64;
        println!(
            "{label:<52} {:>8.0} {:>10.2} {:>10.2} {:>9.0}% {:>9.0}%",
            latencies.len() as f64 / elapsed.as_secs_f64(),
            ms(common::percentile(&latencies, 0.50)),
            ms(common::percentile(&latencies, 0.99)),
            server_share * 100.0,
            machine_share * 100.0,
        );
    }
    println!(
        "(server CPU: the confab process, 100% = one core; machine: all {} cores busy, PostgreSQL and this client included)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
}

/// `CLIENTS` clients, each its own connection, querying two random words of
/// `band` for `seconds`; the latencies, and how long it took. `seed` seeds
/// the word choice, so runs ask the same questions.
async fn run(
    server: &common::Server,
    band: &[&str],
    seconds: f64,
    seed: u64,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let clients = (0..CLIENTS).map(|client| async move {
        let http = reqwest::Client::new();
        let mut rng = StdRng::seed_from_u64(seed * 1000 + client as u64);
        let mut latencies = Vec::new();
        while Instant::now() < until {
            let q = format!(
                "{} {}",
                band[rng.random_range(0..band.len())],
                band[rng.random_range(0..band.len())]
            );
            let asking = Instant::now();
            let body: Value = common::graphql(&http, server, QUERY, json!({ "q": q })).await;
            latencies.push(asking.elapsed());
            assert!(
                body.get("errors").is_none() && body["data"]["searchMessages"]["edges"].is_array(),
                "searchMessages(query: {q:?}): {body}"
            );
        }
        latencies
    });
    let latencies = futures_util::future::join_all(clients)
        .await
        .into_iter()
        .flatten()
        .collect();
    (latencies, started.elapsed())
}

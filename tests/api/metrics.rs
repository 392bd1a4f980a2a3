//! `/metrics`, request ids and request logs, scraped and read as an operator
//! would: over HTTP from a real server, after real traffic.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Every metric the README documents.
const METRICS: [&str; 16] = [
    "confab_graphql_requests_total",
    "confab_graphql_request_duration_seconds",
    "confab_rate_limit_refusals_total",
    "confab_ws_connections",
    "confab_ws_subscriptions",
    "confab_ws_shared_executions",
    "confab_ws_results_total",
    "confab_event_fanout_lag_seconds",
    "confab_scheduler_lag_seconds",
    "confab_db_pool_connections",
    "confab_db_pool_max_connections",
    "confab_db_pool_in_use",
    "confab_db_pool_available",
    "confab_db_pool_waiting",
    "confab_db_pool_wait_seconds",
    "confab_db_statements_total",
];

const THREAD_EVENTS: &str =
    "subscription($id: ID!) { threadEvents(threadId: $id) { kind message { text } } }";

/// One scrape: each series (name and labels, as printed) and its value.
pub struct Scrape {
    text: String,
    series: HashMap<String, f64>,
}

impl Scrape {
    /// The value of `series` (name and labels, as printed).
    pub fn value(&self, series: &str) -> f64 {
        *self
            .series
            .get(series)
            .unwrap_or_else(|| panic!("no series {series} in\n{}", self.text))
    }
}

/// Reads `/metrics` as a Prometheus scraper would.
pub async fn scrape(app: &TestApp) -> Scrape {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("content type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("text");
    let series = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect();
    Scrape { text, series }
}

/// Scrapes until `ready` holds (background work lands a little later).
async fn scrape_until(app: &TestApp, ready: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..100 {
        let scraped = scrape(app).await;
        if ready(&scraped) {
            return scraped;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scraped = scrape(app).await;
    panic!("metrics never got there:\n{}", scraped.text);
}

fn requests(operation: &str, outcome: &str) -> String {
    format!(r#"confab_graphql_requests_total{{operation="{operation}",outcome="{outcome}"}}"#)
}

#[tokio::test]
async fn metrics_count_requests_refusals_sockets_and_lags() {
    let app = TestApp::spawn_with(|config| {
        config.token_rate = 1;
        config.token_burst = 30;
        config.ws_max_subscriptions = 1;
    })
    .await;
    let before = scrape(&app).await;
    for name in METRICS {
        assert!(
            before.text.contains(&format!("# TYPE {name} ")),
            "{name} is exported before any traffic:\n{}",
            before.text
        );
    }
    assert_eq!(before.value(&requests("query", "ok")), 0.0);
    assert_eq!(before.value("confab_ws_connections"), 0.0);

    // A query, mutations, a client error and an unauthenticated request.
    let thread = app.create_thread(json!({ "name": "observed" })).await;
    app.data("{ viewer { organization { name } } }", json!({}))
        .await;
    let invalid = app.graphql("{ noSuchField }", json!({})).await;
    assert!(invalid["errors"].is_array());
    let over_http = app
        .graphql("subscription { inboxEvents { kind } }", json!({}))
        .await;
    assert!(over_http["errors"].is_array(), "{over_http}");
    let (status, _) = app
        .post_raw(None, json!({ "query": "{ __typename }" }).to_string())
        .await;
    assert_eq!(status, 401);

    // A live subscription, and a second one over the socket's cap.
    let watch = json!({ "id": thread });
    let mut client = app
        .subscribe(&app.token, "1", THREAD_EVENTS, watch.clone())
        .await;
    let refused = client.refusal("2", THREAD_EVENTS, watch).await;
    assert_eq!(refused[0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS");
    tokio::time::sleep(Duration::from_millis(200)).await;

    // An event fanned out to the subscription, and a scheduled publish.
    app.send_message(&app.token, &thread, "hello").await;
    let kind = client.next_data("1").await["threadEvents"]["kind"].clone();
    assert_eq!(kind, "SUBSCRIBER_JOINED");
    let at = Utc::now() + chrono::Duration::milliseconds(300);
    let scheduled = app
        .data(
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { userErrors { code } } }",
            json!({ "input": { "threadId": thread, "text": "later", "publishToChannelAt": at.to_rfc3339() } }),
        )
        .await;
    assert_eq!(scheduled["sendMessage"]["userErrors"], json!([]));

    // Another token goes over its rate (the first one keeps its own).
    let other = app.create_organization("other").await;
    let query = json!({ "query": "{ __typename }" }).to_string();
    let mut limited = 0;
    for _ in 0..40 {
        let (status, _) = app.post_raw(Some(&other), query.clone()).await;
        if status == 429 {
            limited += 1;
        }
    }
    assert!(limited >= 5, "{limited} requests refused");

    let after = scrape_until(&app, |s| {
        s.value("confab_scheduler_lag_seconds_count") >= 1.0
            && s.value("confab_event_fanout_lag_seconds_count") >= 3.0
    })
    .await;
    assert_eq!(after.value(&requests("query", "ok")), 41.0 - limited as f64);
    assert!(after.value(&requests("mutation", "ok")) >= 3.0);
    assert_eq!(after.value(&requests("query", "client_error")), 1.0);
    assert_eq!(after.value(&requests("subscription", "client_error")), 1.0);
    assert_eq!(after.value(&requests("none", "unauthenticated")), 1.0);
    assert_eq!(
        after.value(&requests("none", "rate_limited")),
        limited as f64
    );
    assert_eq!(after.value(&requests("query", "server_error")), 0.0);
    assert_eq!(
        after.value(r#"confab_rate_limit_refusals_total{transport="http",reason="RATE_LIMITED"}"#),
        limited as f64
    );
    assert_eq!(
        after.value(
            r#"confab_rate_limit_refusals_total{transport="ws",reason="TOO_MANY_SUBSCRIPTIONS"}"#
        ),
        1.0
    );
    let answered: f64 = ["query", "mutation", "subscription", "none"]
        .iter()
        .map(|op| {
            after.value(&format!(
                r#"confab_graphql_request_duration_seconds_count{{operation="{op}"}}"#
            ))
        })
        .sum();
    let counted: f64 = after
        .series
        .iter()
        .filter(|(series, _)| series.starts_with("confab_graphql_requests_total{"))
        .map(|(_, value)| value)
        .sum();
    assert_eq!(answered, counted, "each request timed once");
    assert!(
        after.value(
            r#"confab_graphql_request_duration_seconds_bucket{operation="mutation",le="+Inf"}"#
        ) >= 3.0
    );

    // Sockets and subscriptions are live gauges.
    assert_eq!(after.value("confab_ws_connections"), 1.0);
    assert_eq!(after.value("confab_ws_subscriptions"), 1.0);
    assert_eq!(after.value("confab_ws_shared_executions"), 1.0);

    // Pools: sizes add up, checkouts were timed, statements counted.
    for pool in ["request", "background"] {
        let gauge = |name: &str| after.value(&format!(r#"{name}{{pool="{pool}"}}"#));
        assert!(gauge("confab_db_pool_max_connections") >= 1.0);
        assert!(gauge("confab_db_pool_connections") >= 1.0);
        assert_eq!(
            gauge("confab_db_pool_in_use") + gauge("confab_db_pool_available"),
            gauge("confab_db_pool_connections")
        );
        assert!(gauge("confab_db_pool_wait_seconds_count") >= 1.0);
        assert!(gauge("confab_db_statements_total") >= 1.0);
    }
    assert_eq!(
        after.value(r#"confab_db_pool_max_connections{pool="request"}"#),
        16.0
    );

    // Closing the socket releases the gauges.
    drop(client);
    scrape_until(&app, |s| {
        s.value("confab_ws_connections") == 0.0
            && s.value("confab_ws_subscriptions") == 0.0
            && s.value("confab_ws_shared_executions") == 0.0
    })
    .await;
}

#[tokio::test]
async fn applications_in_one_process_count_separately() {
    let first = TestApp::spawn().await;
    let second = first.second_instance().await;
    first
        .data("{ viewer { organization { name } } }", json!({}))
        .await;
    let ok = requests("query", "ok");
    assert_eq!(scrape(&first).await.value(&ok), 1.0);
    assert_eq!(scrape(&second).await.value(&ok), 0.0);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let id_of = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string()
    };
    let first = id_of(&app.get("/healthz").await);
    assert_eq!(first.len(), 36, "a UUID: {first}");
    let again = app.get("/healthz").await;
    assert_ne!(id_of(&again), first, "a fresh id per request");

    // A client's id is echoed, on errors too.
    let client_id = [("x-request-id", "web-7f3a:42")];
    let unauthenticated = app.post_graphql(None, &client_id, "{ __typename }").await;
    assert_eq!(unauthenticated.status(), 401);
    assert_eq!(id_of(&unauthenticated), "web-7f3a:42");

    // One that could disguise a log line is replaced.
    let disguise = [("x-request-id", "x status=200")];
    let replaced = app
        .post_graphql(Some(&app.token), &disguise, "{ __typename }")
        .await;
    assert_eq!(replaced.status(), 200);
    assert_eq!(id_of(&replaced).len(), 36);
}

/// Log output collected in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_graphql_request_logs_one_line_with_its_id_and_operation() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    // This test's runtime runs on this thread, the server included. tracing
    // caches per callsite whether anyone listens, and while one dispatcher
    // exists it asks only the default of the thread that first reaches the
    // callsite: another test's thread would switch the request span off for
    // this one too. A second, silent dispatcher makes each thread ask its own.
    let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _logging = tracing::subscriber::set_default(subscriber);
    let app = TestApp::spawn().await;
    let request_id = [("x-request-id", "log-test-1")];
    let query = "query Inbox { viewer { organization { name } } }";
    let response = app.post_graphql(Some(&app.token), &request_id, query).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["viewer"]["organization"]["name"], "acme");

    let logs = String::from_utf8(captured.0.lock().expect("log buffer").clone()).expect("utf-8");
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("log-test-1"))
        .collect();
    assert_eq!(lines.len(), 1, "one line per request:\n{logs}");
    let line = lines[0];
    for part in [
        " INFO ",
        "request_id=log-test-1",
        "method=POST",
        "path=\"/graphql\"",
        "operation=Inbox",
        "kind=query",
        "status=200",
        "latency=",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
}

//! The read gate: how many queries run at once, in arrival order, and
//! what a query that finds it full for the whole wait gets.

use std::time::{Duration, Instant};

use diesel_async::{AsyncPgConnection, SimpleAsyncConnection};
use serde_json::json;

use crate::helpers::{TestApp, connect, error_code};
use crate::metrics::scrape;

/// An app whose read gate has one place, held by a query that a lock on
/// `threads` keeps running in PostgreSQL. Commit the returned connection's
/// transaction to let it finish; the task answers its HTTP status.
async fn app_with_a_held_gate() -> (
    TestApp,
    AsyncPgConnection,
    tokio::task::JoinHandle<reqwest::Result<u16>>,
) {
    let app = TestApp::spawn_with(|config| {
        config.read_concurrency = Some(1);
        config.db_wait_timeout_ms = 300;
    })
    .await;
    let mut blocker = connect(&app.database_url).await.expect("connect");
    blocker
        .batch_execute("BEGIN; LOCK TABLE threads IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock threads");
    let held = {
        let request = app
            .client
            .post(app.graphql_url())
            .bearer_auth(&app.token)
            .json(&json!({ "query": "{ threads(first: 1) { totalCount } }" }));
        tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    (app, blocker, held)
}

#[tokio::test]
async fn a_query_waits_its_turn_at_a_full_gate_and_a_mutation_does_not() {
    let (app, mut blocker, held) = app_with_a_held_gate().await;

    let waited = Instant::now();
    let query = json!({ "query": "{ viewer { organization { name } } }" }).to_string();
    let (status, body) = app.post_raw(Some(&app.token), query.clone()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
    assert_eq!(body["errors"][0]["extensions"]["reason"], "READ_GATE_FULL");
    let refused = r#"confab_rate_limit_refusals_total{transport="http",reason="READ_GATE_FULL"}"#;
    assert_eq!(scrape(&app).await.value(refused), 1.0);
    assert!(
        waited.elapsed() >= Duration::from_millis(300),
        "{:?}",
        waited.elapsed()
    );

    let mutation = json!({
        "query": "mutation { createContact(input: {firstName: \"Ada\"}) { contact { firstName } } }"
    });
    let (status, body) = app.post_raw(Some(&app.token), mutation.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["createContact"]["contact"]["firstName"], "Ada");

    blocker.batch_execute("COMMIT").await.expect("unlock");
    assert_eq!(held.await.expect("task").expect("held query"), 200);
    let (status, body) = app.post_raw(Some(&app.token), query).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["viewer"]["organization"]["name"], "acme");
}

#[tokio::test]
async fn a_websocket_query_waits_at_the_same_gate_and_a_subscription_does_not() {
    let (app, mut blocker, held) = app_with_a_held_gate().await;
    let mut socket = app.ws_client(&app.token).await;
    let query = "{ viewer { organization { name } } }";

    let refused = socket.refusal("q1", query, json!({})).await;
    assert_eq!(
        refused[0]["extensions"]["code"], "SERVICE_UNAVAILABLE",
        "{refused}"
    );
    assert_eq!(refused[0]["extensions"]["reason"], "READ_GATE_FULL");
    let counted = r#"confab_rate_limit_refusals_total{transport="ws",reason="READ_GATE_FULL"}"#;
    assert_eq!(scrape(&app).await.value(counted), 1.0);

    // A subscription runs while the gate is full: it gets its own answer.
    let subscription =
        "subscription { conversationEvents(conversationId: \"conv_none\") { kind } }";
    let refused = socket.refusal("s", subscription, json!({})).await;
    assert_eq!(refused[0]["extensions"]["code"], "NOT_FOUND", "{refused}");

    blocker.batch_execute("COMMIT").await.expect("unlock");
    assert_eq!(held.await.expect("task").expect("held query"), 200);
    socket.subscribe("q2", query, json!({})).await;
    let data = socket.next_data("q2").await;
    assert_eq!(data["viewer"]["organization"]["name"], "acme");
}

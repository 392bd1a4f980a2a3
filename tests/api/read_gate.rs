//! The read gate: how many queries run at once, in arrival order, and
//! what a query that finds it full for the whole wait gets.

use std::time::{Duration, Instant};

use diesel_async::SimpleAsyncConnection;
use serde_json::json;

use crate::helpers::{TestApp, connect, error_code};
use crate::metrics::scrape;

#[tokio::test]
async fn a_query_waits_its_turn_at_a_full_gate_and_a_mutation_does_not() {
    let app = TestApp::spawn_with(|config| {
        config.read_concurrency = Some(1);
        config.db_wait_timeout_ms = 300;
    })
    .await;
    // A transaction holding every lock on `threads` keeps the first query
    // running in PostgreSQL, so it holds the gate's one place.
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

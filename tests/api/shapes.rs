//! Shared subscriptions: sockets asking the same thing as the same viewer
//! get every event from one execution, and exactly what one alone would.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws::WsClient;

const EVENTS: &str = "subscription($id: ID!, $after: String) {
  threadEvents(threadId: $id, after: $after) { kind message { text } thread { name } }
}";

const SOCKETS: usize = 8;
const MESSAGES: usize = 10;

/// `SOCKETS` subscriptions to a new thread, socket `i` as `tokens[i % len]`;
/// then `MESSAGES` messages sent; the subscription results the server
/// executed from the first send until every socket had every event, and
/// what each received.
async fn follow_and_send(app: &TestApp, tokens: &[String]) -> (u64, Vec<Vec<Value>>) {
    let thread = app.create_thread(json!({ "name": "shared" })).await;
    let mut clients: Vec<WsClient> = Vec::new();
    for i in 0..SOCKETS {
        let token = &tokens[i % tokens.len()];
        clients.push(
            app.subscribe(token, "1", EVENTS, json!({ "id": thread }))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = results_executed(app).await;
    for m in 0..MESSAGES {
        app.send_message(&app.token, &thread, &format!("m{m}"))
            .await;
    }
    // The api key's first message also records its join: two events more.
    let mut received = Vec::new();
    for client in &mut clients {
        let mut events = Vec::new();
        for _ in 0..MESSAGES + 2 {
            events.push(client.next_data("1").await["threadEvents"].clone());
        }
        received.push(events);
    }
    let executed = results_executed(app).await - before;
    for client in &mut clients {
        client.expect_silence(Duration::from_millis(200)).await;
    }
    (executed, received)
}

/// Subscription results the server has executed, from `/metrics`.
async fn results_executed(app: &TestApp) -> u64 {
    let text = app.get("/metrics").await.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("confab_ws_results_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no confab_ws_results_total in {text}"))
}

#[tokio::test]
async fn sockets_of_one_shape_share_one_execution() {
    let app = TestApp::spawn().await;
    let (shared, received) = follow_and_send(&app, std::slice::from_ref(&app.token)).await;
    let users = app
        .create_users(["a@acme.test", "b@acme.test", "c@acme.test", "d@acme.test"])
        .await;
    let (alone, received_alone) = follow_and_send(&app, &users).await;

    // Every socket got every event once, in order, the same as the others.
    for events in received.iter().chain(&received_alone) {
        assert_eq!(events, &received[0]);
    }
    let texts: Vec<&Value> = received[0].iter().map(|e| &e["message"]["text"]).collect();
    assert_eq!(texts[2], "m0");
    assert_eq!(texts[MESSAGES + 1], &json!(format!("m{}", MESSAGES - 1)));
    assert_eq!(received[0][2]["thread"]["name"], "shared");

    // One execution per event for eight sockets of one shape; four users on
    // eight sockets are four shapes, four executions per event.
    let events = (MESSAGES + 2) as u64;
    assert_eq!(shared, events, "one shape");
    assert_eq!(alone, 4 * events, "four shapes");
}

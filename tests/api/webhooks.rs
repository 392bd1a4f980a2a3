//! Webhooks end to end: a real server delivering to a real HTTP receiver in
//! this process (axum on 127.0.0.1), over a real database.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2_hmac::Sha256;

use crate::helpers::{TestApp, at, error_code, run_to_success, user_errors};
use crate::metrics::scrape;

const CREATE: &str = "mutation($input: CreateWebhookInput!) {
  createWebhook(input: $input) {
    webhook { id url events enabled description }
    secret
    userErrors { field code message }
  }
}";

const DELIVERIES: &str = "query($id: ID!, $status: WebhookDeliveryStatus) {
  webhookDeliveries(webhookId: $id, filter: { status: $status }, first: 100) {
    totalCount
    edges { node { id eventCursor eventKind status attempts responseStatus lastError } }
  }
}";

/// The subscription the webhook body is compared with: a selection of the
/// fields the body carries.
const THREAD_EVENTS: &str = "subscription($id: ID!) {
  threadEvents(threadId: $id) {
    cursor kind occurredAt threadId messageId emoji subscriber { id }
    message { id type text createdAt editedAt mediaUrls author { id kind name } }
    thread { id name chatbotPaused lastMessageAt updatedAt }
  }
}";

/// Asserts that every field of `subscribed` (recursively) has the same
/// value in `delivered`, which may carry more.
#[track_caller]
fn assert_same_fields(subscribed: &Value, delivered: &Value) {
    match subscribed {
        Value::Object(fields) => {
            for (name, value) in fields {
                assert_same_fields(value, &delivered[name]);
            }
        }
        value => assert_eq!(
            value, delivered,
            "subscription {subscribed} vs webhook {delivered}"
        ),
    }
}

const WEBHOOK: &str = "query($id: ID!) {
  webhook(id: $id) { id enabled disabledAt disabledReason }
}";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: String,
    /// What the receiver answered.
    status: u16,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    /// The message text the delivered event carries.
    fn text(&self) -> String {
        at(&self.json(), "/event/message/text")
            .as_str()
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Inbox {
    received: Vec<Received>,
    /// Statuses to answer next, in order; then `otherwise`.
    plan: VecDeque<u16>,
    otherwise: u16,
    /// How long to take before answering.
    delay: Duration,
}

/// An HTTP endpoint in the test process that records what it is sent and
/// answers as planned.
#[derive(Clone)]
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let (status, delay) = {
        let mut inbox = inbox.lock().expect("inbox");
        let status = inbox.plan.pop_front().unwrap_or(inbox.otherwise);
        inbox.received.push(Received {
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            status,
        });
        (status, inbox.delay)
    };
    tokio::time::sleep(delay).await;
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl Receiver {
    /// A receiver answering `plan` in order, then `otherwise`.
    async fn start(plan: &[u16], otherwise: u16) -> Receiver {
        let inbox = Arc::new(Mutex::new(Inbox {
            received: Vec::new(),
            plan: plan.iter().copied().collect(),
            otherwise,
            delay: Duration::ZERO,
        }));
        let router = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inbox.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("receiver address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://{address}/hook"),
            inbox,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.inbox.lock().expect("inbox").received.clone()
    }

    fn answer_slowly(&self, delay: Duration) {
        self.inbox.lock().expect("inbox").delay = delay;
    }

    fn answer_from_now(&self, status: u16) {
        self.inbox.lock().expect("inbox").otherwise = status;
    }

    /// Waits until at least `count` requests came (at most 20 s).
    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..400 {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} requests, got {:?}", self.received());
    }

    /// The successful deliveries' message texts, in the order received.
    fn delivered_texts(&self) -> Vec<String> {
        let received = self.received();
        received
            .iter()
            .filter(|r| r.status == 200)
            .map(Received::text)
            .collect()
    }
}

/// A server that may call 127.0.0.1 and retries quickly.
async fn spawn_app() -> TestApp {
    TestApp::spawn_with(fast_webhooks).await
}

fn fast_webhooks(config: &mut confab::Config) {
    config.webhooks_allow_private = true;
    config.webhook_poll_ms = 50;
    config.webhook_retry_base_ms = 100;
    config.webhook_retry_max_ms = 400;
    config.webhook_lease_ms = 11_000;
}

/// Creates a webhook for MESSAGE_ADDED events to `url`; returns its id and secret.
async fn create_webhook(app: &TestApp, url: &str) -> (String, String) {
    let input = json!({ "url": url, "events": ["MESSAGE_ADDED"], "description": "test" });
    let data = app.data(CREATE, json!({ "input": input })).await;
    let payload = &data["createWebhook"];
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    let id = payload["webhook"]["id"]
        .as_str()
        .expect("webhook id")
        .to_string();
    let secret = payload["secret"].as_str().expect("secret").to_string();
    (id, secret)
}

/// A thread the api key has already written to (its first message adds it
/// as a subscriber, with a META message of its own): create webhooks after
/// this, and they see only the messages the test sends.
async fn joined_thread(app: &TestApp) -> String {
    let thread = app.create_thread(json!({ "name": "Hooks" })).await;
    app.send_message(&app.token, &thread, "warm-up").await;
    thread
}

/// Sends `texts` to `thread` as the api key, in order.
async fn send(app: &TestApp, thread: &str, texts: &[&str]) {
    for text in texts {
        app.send_message(&app.token, thread, text).await;
    }
}

/// The webhook's deliveries in `status`, once there are `count` (the
/// receiver sees a request before the worker records its answer).
async fn deliveries_once(app: &TestApp, id: &str, status: &str, count: usize) -> Vec<Value> {
    let mut listed = Vec::new();
    for _ in 0..200 {
        let data = app
            .data(DELIVERIES, json!({ "id": id, "status": status }))
            .await;
        listed = deliveries(&data);
        if listed.len() >= count {
            return listed;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {count} {status} deliveries, got {listed:?}");
}

fn deliveries(data: &Value) -> Vec<Value> {
    data["webhookDeliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"].clone())
        .collect()
}

/// The README's verification, as a receiver would write it.
fn signature_is_valid(secret: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    signature == format!("v1={expected}")
}

/// The README's signature check (the block between `<!-- webhook-verify -->`
/// markers), run by node on a delivery as received.
async fn readme_verify_accepts(secret: &str, delivery: &Received) -> bool {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let snippet = readme
        .split_once("<!-- webhook-verify -->")
        .and_then(|(_, rest)| rest.split_once("<!-- /webhook-verify -->"))
        .and_then(|(block, _)| block.trim().strip_prefix("```js"))
        .and_then(|code| code.strip_suffix("```"))
        .expect("the webhook-verify block in README.md");
    let script = format!(
        "{snippet}\nconst e = process.env;\n\
         process.stdout.write(String(verify(e.SECRET, \
         {{ 'confab-timestamp': e.TS, 'confab-signature': e.SIG }}, Buffer.from(e.BODY))));"
    );
    let mut node = std::process::Command::new("node");
    node.args(["--input-type=module", "-e", &script])
        .env("SECRET", secret)
        .env("TS", delivery.header("confab-timestamp"))
        .env("SIG", delivery.header("confab-signature"))
        .env("BODY", &delivery.body);
    let (stdout, _) = run_to_success(node, "node with the README's verify()").await;
    stdout == "true"
}

#[tokio::test]
async fn a_delivery_is_signed_and_carries_the_subscription_event() {
    let app = spawn_app().await;
    let receiver = Receiver::start(&[], 200).await;
    let thread = joined_thread(&app).await;
    let (id, secret) = create_webhook(&app, &receiver.url).await;
    // A subscriber of the same thread, to compare the event's shape with.
    let mut live = app
        .subscribe(&app.token, "1", THREAD_EVENTS, json!({ "id": thread }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    send(&app, &thread, &["hello hooks"]).await;

    let received = receiver.wait_for(1).await;
    let delivery = &received[0];
    let timestamp = delivery.header("confab-timestamp");
    let signature = delivery.header("confab-signature");
    assert!(
        signature_is_valid(&secret, timestamp, &delivery.body, signature),
        "{delivery:?}"
    );
    assert!(!signature_is_valid(
        "whsec_wrong",
        timestamp,
        &delivery.body,
        signature
    ));
    assert!(readme_verify_accepts(&secret, delivery).await);
    assert!(!readme_verify_accepts("whsec_wrong", delivery).await);
    let now = chrono::Utc::now().timestamp();
    let signed_at: i64 = timestamp.parse().expect("a Unix timestamp");
    assert!((now - signed_at).abs() < 60, "{timestamp}");

    let body = delivery.json();
    assert_eq!(body["webhookId"], json!(id));
    assert_eq!(body["kind"], "MESSAGE_ADDED");
    assert_eq!(body["event"]["kind"], "MESSAGE_ADDED");
    assert_eq!(body["cursor"], body["event"]["cursor"]);
    assert_eq!(body["occurredAt"], body["event"]["occurredAt"]);
    assert_eq!(delivery.header("idempotency-key"), body["cursor"]);
    assert_eq!(delivery.header("confab-event"), "MESSAGE_ADDED");
    assert_eq!(delivery.header("content-type"), "application/json");
    assert_eq!(body["event"]["message"]["text"], "hello hooks");
    assert!(
        body["event"]["thread"]["id"]
            .as_str()
            .is_some_and(|t| t.starts_with("thrd_"))
    );

    // The same event, in the same shape, as the subscription gives it.
    let subscribed = live.next_data("1").await["threadEvents"].clone();
    assert_eq!(subscribed["message"]["text"], "hello hooks");
    assert_same_fields(&subscribed, &body["event"]);

    let listed = deliveries_once(&app, &id, "SUCCEEDED", 1).await;
    let all = app.data_of(DELIVERIES, &id).await;
    assert_eq!(all["webhookDeliveries"]["totalCount"], 1, "{all}");
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["responseStatus"], 200);
    assert_eq!(listed[0]["eventCursor"], body["cursor"]);
    assert_eq!(listed[0]["eventKind"], "MESSAGE_ADDED");
    assert_eq!(delivery.header("confab-delivery"), listed[0]["id"]);
}

#[tokio::test]
async fn only_api_keys_manage_webhooks_and_the_secret_is_shown_once() {
    let app = spawn_app().await;
    let [user] = app.create_users(["agent@acme.test"]).await;
    let contact = app.create_contact("Ada", None).await;
    let contact_token = app.contact_token(&contact).await;
    let input = json!({ "url": "http://127.0.0.1:9/hook" });
    for token in [&user, &contact_token] {
        let body = app
            .graphql_as(token, CREATE, json!({ "input": input }))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
        let body = app
            .graphql_as(token, "{ webhooks { totalCount } }", json!({}))
            .await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{body}");
    }

    let (id, secret) = create_webhook(&app, "http://127.0.0.1:9/hook").await;
    assert!(secret.starts_with("whsec_"));
    let listed = app
        .data(
            "{ webhooks(first: 10) { totalCount edges { node { id url events enabled } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["webhooks"]["totalCount"], 1);
    assert_eq!(
        listed["webhooks"]["edges"][0]["node"],
        json!({ "id": id, "url": "http://127.0.0.1:9/hook", "events": ["MESSAGE_ADDED"], "enabled": true })
    );
    let node = app
        .data_of("query($id: ID!) { node(id: $id) { id } }", &id)
        .await;
    assert_eq!(node["node"]["id"], json!(id));

    let rotated = app
        .data_of("mutation($id: ID!) { rotateWebhookSecret(input: {id: $id}) { secret userErrors { code } } }", &id)
        .await;
    let new_secret = rotated["rotateWebhookSecret"]["secret"]
        .as_str()
        .expect("new secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    let updated = app
        .data(
            "mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { events description enabled } userErrors { code } } }",
            json!({ "input": { "id": id, "events": null, "description": null, "enabled": false } }),
        )
        .await;
    assert_eq!(
        updated["updateWebhook"],
        json!({ "webhook": { "events": null, "description": null, "enabled": false }, "userErrors": [] })
    );
    let bad = app
        .data(
            "mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { userErrors { field code } } }",
            json!({ "input": { "id": id, "events": ["TYPING"] } }),
        )
        .await;
    assert_eq!(
        user_errors(&bad["updateWebhook"]),
        vec![(json!(["input", "events", "0"]), "INVALID_VALUE".to_string())]
    );

    // Another organization's key sees none of it.
    let other = app.create_organization("globex").await;
    let foreign = app
        .graphql_as(&other, "query($id: ID!) { node(id: $id) { id } webhook(id: $id) { id } webhooks { totalCount } webhookDeliveries(webhookId: $id) { totalCount } }", json!({ "id": id }))
        .await;
    assert_eq!(
        foreign["data"],
        json!({ "node": null, "webhook": null, "webhooks": { "totalCount": 0 }, "webhookDeliveries": { "totalCount": 0 } })
    );
    let foreign_delete = app
        .graphql_as(
            &other,
            "mutation($id: ID!) { deleteWebhook(input: {id: $id}) { userErrors { field code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        user_errors(&foreign_delete["data"]["deleteWebhook"]),
        vec![(json!(["input", "id"]), "NOT_FOUND".to_string())]
    );
    let too_long = format!("http://127.0.0.1/{}", "a".repeat(2048));
    let refused = app
        .data(
            CREATE,
            json!({ "input": { "url": too_long, "events": [] } }),
        )
        .await;
    assert_eq!(
        user_errors(&refused["createWebhook"]),
        vec![
            (json!(["input", "url"]), "TOO_LONG".to_string()),
            (json!(["input", "events"]), "REQUIRED".to_string()),
        ]
    );

    app.assert_deleted_once(
        "mutation($id: ID!) { deleteWebhook(input: {id: $id}) { deletedWebhookId userErrors { field code } } }",
        &id,
        "deleteWebhook",
        "deletedWebhookId",
    )
    .await;
}

#[tokio::test]
async fn failed_attempts_are_retried_until_the_endpoint_answers() {
    let app = spawn_app().await;
    let receiver = Receiver::start(&[500, 503], 200).await;
    let thread = joined_thread(&app).await;
    let (id, _) = create_webhook(&app, &receiver.url).await;
    send(&app, &thread, &["retry me"]).await;

    let received = receiver.wait_for(3).await;
    let statuses: Vec<u16> = received.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 503, 200]);
    // The same event each time: same idempotency key and body.
    assert!(
        received
            .iter()
            .all(|r| r.header("idempotency-key") == received[0].header("idempotency-key"))
    );
    assert!(received.iter().all(|r| r.body == received[0].body));

    let listed = deliveries_once(&app, &id, "SUCCEEDED", 1).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["attempts"], 3);
    let pending = app
        .data(DELIVERIES, json!({ "id": id, "status": "PENDING" }))
        .await;
    assert_eq!(pending["webhookDeliveries"]["totalCount"], 0);
}

#[tokio::test]
async fn events_arrive_in_order_even_when_one_must_be_retried() {
    let app = spawn_app().await;
    // The first event fails twice; the others must wait for it.
    let receiver = Receiver::start(&[500, 500], 200).await;
    let thread = joined_thread(&app).await;
    create_webhook(&app, &receiver.url).await;
    let texts = ["one", "two", "three", "four", "five"];
    send(&app, &thread, &texts).await;

    let received = receiver.wait_for(texts.len() + 2).await;
    let attempted: Vec<String> = received.iter().map(Received::text).collect();
    assert_eq!(attempted[..3], ["one", "one", "one"], "{attempted:?}");
    assert_eq!(receiver.delivered_texts(), texts);
}

#[tokio::test]
async fn a_slow_endpoint_slows_neither_writes_nor_other_endpoints() {
    let app = spawn_app().await;
    let slow = Receiver::start(&[], 200).await;
    // Never answers within the 10 s timeout: the first attempt is in flight throughout.
    slow.answer_slowly(Duration::from_secs(30));
    let fast = Receiver::start(&[], 200).await;
    let thread = joined_thread(&app).await;
    create_webhook(&app, &slow.url).await;
    create_webhook(&app, &fast.url).await;

    let started = std::time::Instant::now();
    send(&app, &thread, &["one", "two", "three"]).await;
    let written = started.elapsed();
    assert!(written < Duration::from_secs(3), "writes took {written:?}");
    fast.wait_for(3).await;
    let delivered = started.elapsed();
    assert!(
        delivered < Duration::from_secs(6),
        "the fast endpoint waited {delivered:?}"
    );
    assert_eq!(fast.delivered_texts(), ["one", "two", "three"]);
    // The slow one is still on its first event: the others wait their turn.
    let stuck = slow.received();
    assert_eq!(stuck.len(), 1, "{stuck:?}");
    assert_eq!(stuck[0].text(), "one");
}

#[tokio::test]
async fn nothing_is_lost_when_the_server_restarts_mid_retry() {
    let slow_retry = |config: &mut confab::Config| {
        fast_webhooks(config);
        config.webhook_retry_base_ms = 3_000;
        config.webhook_retry_max_ms = 3_000;
        // A stop between recording the attempt and giving the lease back
        // leaves it held until it runs out; the receiver answers at once.
        config.webhook_lease_ms = 3_000;
    };
    let mut app = TestApp::spawn_with(slow_retry).await;
    let receiver = Receiver::start(&[500], 200).await;
    let thread = joined_thread(&app).await;
    let (id, _) = create_webhook(&app, &receiver.url).await;
    send(&app, &thread, &["survives restarts"]).await;

    // The first attempt failed; stop before the retry is due.
    receiver.wait_for(1).await;
    let recorded = async {
        for _ in 0..100 {
            let data = app
                .data(DELIVERIES, json!({ "id": id, "status": "PENDING" }))
                .await;
            if deliveries(&data)
                .first()
                .is_some_and(|d| d["attempts"] == 1)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the failed attempt was not recorded");
    };
    recorded.await;
    app.stop().await;
    assert_eq!(receiver.received().len(), 1);

    let restarted = TestApp::start(&app.database_url, slow_retry).await;
    let received = receiver.wait_for(2).await;
    assert_eq!(received[1].status, 200);
    assert_eq!(received[1].body, received[0].body);
    let mut restarted = restarted;
    restarted.token = app.token.clone();
    let succeeded = deliveries_once(&restarted, &id, "SUCCEEDED", 1).await;
    assert_eq!(succeeded[0]["attempts"], 2, "{succeeded:?}");
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_is_disabled_and_can_be_enabled_again() {
    let give_up_fast = |config: &mut confab::Config| {
        fast_webhooks(config);
        config.webhook_give_up_after_ms = 1_000;
    };
    let app = TestApp::spawn_with(give_up_fast).await;
    let receiver = Receiver::start(&[], 500).await;
    let thread = joined_thread(&app).await;
    let (id, _) = create_webhook(&app, &receiver.url).await;
    send(&app, &thread, &["doomed"]).await;

    let mut webhook = Value::Null;
    for _ in 0..200 {
        webhook = app.data_of(WEBHOOK, &id).await["webhook"].clone();
        if webhook["enabled"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(webhook["enabled"], false, "{webhook}");
    assert!(webhook["disabledAt"].is_string(), "{webhook}");
    assert!(
        webhook["disabledReason"]
            .as_str()
            .is_some_and(|r| r.contains("500")),
        "{webhook}"
    );
    let attempts = receiver.received().len();
    assert!(attempts >= 2, "retried before giving up: {attempts}");
    let failed = deliveries_once(&app, &id, "FAILED", 1).await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["responseStatus"], 500);

    // Disabled: nothing more is sent, even for new events.
    send(&app, &thread, &["while disabled"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), attempts);

    // Fixed and re-enabled: the failed event can be redelivered, and delivery resumes.
    receiver.answer_from_now(200);
    let redelivered = app
        .data(
            "mutation($id: ID!) { redeliverWebhook(input: {deliveryId: $id}) { delivery { id eventCursor status } userErrors { code } } }",
            json!({ "id": failed[0]["id"] }),
        )
        .await;
    let redelivery = &redelivered["redeliverWebhook"]["delivery"];
    assert_eq!(redelivery["status"], "PENDING");
    assert_eq!(redelivery["eventCursor"], failed[0]["eventCursor"]);
    let enabled = app
        .data(
            "mutation($input: UpdateWebhookInput!) { updateWebhook(input: $input) { webhook { enabled disabledAt } userErrors { code } } }",
            json!({ "input": { "id": id, "enabled": true } }),
        )
        .await;
    assert_eq!(
        enabled["updateWebhook"]["webhook"],
        json!({ "enabled": true, "disabledAt": null })
    );
    receiver.wait_for(attempts + 2).await;
    assert_eq!(receiver.delivered_texts(), ["doomed", "while disabled"]);
}

#[tokio::test]
async fn an_idle_webhook_is_not_claimed_until_its_organization_has_new_events() {
    let app = spawn_app().await;
    let receiver = Receiver::start(&[], 200).await;
    let thread = joined_thread(&app).await;
    let (id, _) = create_webhook(&app, &receiver.url).await;
    send(&app, &thread, &["first"]).await;
    deliveries_once(&app, &id, "SUCCEEDED", 1).await;

    // Caught up: every poll (50 ms here) is one claim that finds nothing,
    // where a pass would also read its pending deliveries and the log and
    // release its lease.
    let statements = r#"confab_db_statements_total{pool="webhooks"}"#;
    let before = scrape(&app).await.value(statements);
    let idle = Instant::now();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let spent = scrape(&app).await.value(statements) - before;
    let polls = (idle.elapsed().as_millis() / 50 + 1) as f64;
    assert!(spent <= 1.5 * polls, "{spent} statements in {polls} polls");

    send(&app, &thread, &["second"]).await;
    receiver.wait_for(2).await;
    assert_eq!(receiver.delivered_texts(), ["first", "second"]);
}

#[tokio::test]
async fn webhooks_with_nothing_to_send_do_not_keep_others_waiting() {
    // One endpoint at a time per instance, and the idle webhook claimed
    // first if idle ones were claimed at all (the lower id).
    let app = TestApp::spawn_with(|config| {
        fast_webhooks(config);
        config.webhook_concurrency = 1;
    })
    .await;
    let idle = Receiver::start(&[], 200).await;
    create_webhook(&app, &idle.url).await;

    let globex = app.create_organization("globex").await;
    let thread = app
        .create_thread_as(&globex, json!({ "name": "Busy" }))
        .await;
    app.send_message(&globex, &thread, "warm-up").await;
    let busy = Receiver::start(&[], 200).await;
    let input = json!({ "url": busy.url, "events": ["MESSAGE_ADDED"] });
    let created = app
        .graphql_as(&globex, CREATE, json!({ "input": input }))
        .await;
    assert_eq!(
        created["data"]["createWebhook"]["userErrors"],
        json!([]),
        "{created}"
    );
    app.send_message(&globex, &thread, "for globex").await;

    busy.wait_for(1).await;
    assert_eq!(busy.delivered_texts(), ["for globex"]);
    assert!(idle.received().is_empty());
}

/// Asserts `createWebhook` refuses `url` with `code` on `input.url`.
async fn assert_url_refused(app: &TestApp, url: &str, code: &str) {
    let data = app.data(CREATE, json!({ "input": { "url": url } })).await;
    assert_eq!(
        user_errors(&data["createWebhook"]),
        vec![(json!(["input", "url"]), code.to_string())],
        "{url}: {data}"
    );
    assert_eq!(data["createWebhook"]["webhook"], Value::Null);
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let app = TestApp::spawn_with(|config| config.webhooks_allow_private = false).await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://10.0.0.1/hook",
        "http://192.168.1.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost:8080/hook",
    ] {
        assert_url_refused(&app, url, "PRIVATE_ADDRESS").await;
    }
    for url in [
        "ftp://example.com/",
        "not a url",
        "https://user:secret@example.com/",
    ] {
        assert_url_refused(&app, url, "INVALID_URL").await;
    }
    let listed = app.data("{ webhooks { totalCount } }", json!({})).await;
    assert_eq!(listed["webhooks"]["totalCount"], 0);
}

#[tokio::test]
async fn delivery_rechecks_the_resolved_address() {
    // A webhook saved while private targets were allowed (or whose name
    // later resolves to a private address) is refused at connection time,
    // by the resolver the client connects through.
    let receiver = Receiver::start(&[], 200).await;
    let app = spawn_app().await;
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let thread = joined_thread(&app).await;
    let (id, _) = create_webhook(&app, &by_name).await;
    let mut app = app;
    app.stop().await;
    let guarded = TestApp::start(&app.database_url, |config| {
        fast_webhooks(config);
        config.webhooks_allow_private = false;
    })
    .await;
    let mut guarded = guarded;
    guarded.token = app.token.clone();
    send(&guarded, &thread, &["never sent"]).await;

    let mut listed = Vec::new();
    for _ in 0..200 {
        let data = guarded
            .data(DELIVERIES, json!({ "id": id, "status": "PENDING" }))
            .await;
        listed = deliveries(&data);
        if listed
            .first()
            .is_some_and(|d| d["attempts"].as_i64() >= Some(1))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let error = listed[0]["lastError"].as_str().unwrap_or_default();
    assert!(error.contains("refused"), "{listed:?}");
    assert!(receiver.received().is_empty());
}

#[tokio::test]
async fn two_instances_deliver_each_event_exactly_once() {
    let first = spawn_app().await;
    let second = TestApp::start(&first.database_url, fast_webhooks).await;
    let receiver = Receiver::start(&[], 200).await;
    let other = Receiver::start(&[], 200).await;
    let thread = joined_thread(&first).await;
    create_webhook(&first, &receiver.url).await;
    create_webhook(&first, &other.url).await;
    let texts: Vec<String> = (0..20).map(|n| format!("message {n}")).collect();
    for (n, text) in texts.iter().enumerate() {
        let app = if n % 2 == 0 { &first } else { &second };
        app.send_message(&first.token, &thread, text).await;
    }

    for receiver in [&receiver, &other] {
        receiver.wait_for(texts.len()).await;
        // Both instances were polling all along: any duplicate would be here by now.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let received = receiver.received();
        let keys: Vec<&str> = received
            .iter()
            .map(|r| r.header("idempotency-key"))
            .collect();
        let unique: std::collections::HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(unique.len(), keys.len(), "a duplicate delivery: {keys:?}");
        assert_eq!(receiver.delivered_texts(), texts);
    }
}

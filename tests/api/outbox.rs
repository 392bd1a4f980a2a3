//! The event log as an outbox: writers of one organization commit side by
//! side, and subscribers on every instance still see each event exactly once.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use confab::db::ids::{OrganizationId, ThreadId};
use confab::domain::events::{EventKind, EventPayload, NewEvent};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde_json::{Value, json};

use crate::helpers::{TestApp, replace_database};
use crate::metrics::scrape;
use crate::ws::{LEGACY_WS, WsClient};

const THREAD_EVENTS: &str = "subscription($id: ID!, $after: String) {
  threadEvents(threadId: $id, after: $after) { cursor kind emoji message { text } }
}";

const INBOX_EVENTS: &str = "subscription($after: String) {
  inboxEvents(after: $after) { cursor kind emoji message { text } }
}";

/// A cursor's position (`e1:<n>`).
fn position(event: &Value) -> i64 {
    let cursor = event["cursor"]
        .as_str()
        .expect("a stored event has a cursor");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).expect("base64")).expect("utf-8");
    text.strip_prefix("e1:")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cursor {text}"))
}

/// What identifies an event in these tests: a message's text or a reaction's emoji.
fn label(event: &Value) -> String {
    event["message"]["text"]
        .as_str()
        .or_else(|| event["emoji"].as_str())
        .unwrap_or_else(|| panic!("no label in {event}"))
        .to_string()
}

/// The next `count` events of subscription `id` (whose field is `field`).
async fn events(client: &mut WsClient, id: &str, field: &str, count: usize) -> Vec<Value> {
    let mut events = Vec::new();
    while events.len() < count {
        events.push(client.next_data(id).await[field].clone());
    }
    events
}

async fn connect(url: &str) -> AsyncPgConnection {
    AsyncPgConnection::establish(url).await.expect("connect")
}

async fn execute(conn: &mut AsyncPgConnection, sql: &str) {
    diesel::sql_query(sql)
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

#[derive(QueryableByName)]
struct Ids {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    organization_id: i64,
}

/// A transaction on its own connection that has taken its transaction id.
struct OpenTransaction {
    conn: AsyncPgConnection,
    /// What it appended: each organization's last position.
    appended: Vec<(OrganizationId, i64)>,
}

impl OpenTransaction {
    async fn begin(url: &str) -> OpenTransaction {
        let mut conn = connect(url).await;
        execute(&mut conn, "BEGIN").await;
        execute(&mut conn, "SELECT pg_current_xact_id()").await;
        OpenTransaction {
            conn,
            appended: Vec::new(),
        }
    }

    /// Appends a reaction event labelled `emoji` to the thread, as `Tx` does at commit.
    async fn append(&mut self, thread: &str, emoji: &str) {
        let ids: Ids =
            diesel::sql_query("SELECT id, organization_id FROM threads WHERE public_id = $1")
                .bind::<Text, _>(thread)
                .get_result(&mut self.conn)
                .await
                .expect("the thread");
        let event = NewEvent {
            kind: EventKind::ReactionAdded,
            thread_id: Some(ThreadId(ids.id)),
            conversation_id: None,
            channel_id: None,
            payload: EventPayload {
                thread_public_id: Some(thread.to_string()),
                emoji: Some(emoji.to_string()),
                ..EventPayload::default()
            },
        };
        let organization_id = OrganizationId(ids.organization_id);
        let positions =
            confab::domain::events::append(&mut self.conn, organization_id, vec![event])
                .await
                .expect("append");
        self.appended
            .extend(positions.last().map(|last| (organization_id, *last)));
    }

    /// Ends the transaction with `how` (`COMMIT` or `ROLLBACK`); after a
    /// commit, announces what it appended, as `Tx` does.
    async fn end(mut self, how: &str) {
        execute(&mut self.conn, how).await;
        if how == "COMMIT" {
            confab::domain::events::model::announce(&mut self.conn, &self.appended)
                .await
                .expect("announce");
        }
    }
}

/// An api-key subscriber of `thread` on each instance, registered.
async fn watchers(apps: [&TestApp; 2], thread: &str) -> [WsClient; 2] {
    let first = apps[0]
        .subscribe(&apps[0].token, "t", THREAD_EVENTS, json!({ "id": thread }))
        .await;
    let mut second = WsClient::connect_as(&apps[1].ws_url(), LEGACY_WS, &apps[1].token).await;
    second
        .subscribe("t", THREAD_EVENTS, json!({ "id": thread }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    [first, second]
}

/// Two instances over one database, a thread named `name` (with a first
/// message `warm_up`, if any) and its `watchers` on both.
async fn watched_on_two_instances(
    name: &str,
    warm_up: Option<&str>,
) -> (TestApp, TestApp, String, [WsClient; 2]) {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let thread = app.create_thread(json!({ "name": name })).await;
    if let Some(text) = warm_up {
        app.send_message(&app.token, &thread, text).await;
    }
    let clients = watchers([&app, &second], &thread).await;
    (app, second, thread, clients)
}

/// A subscriber of `thread` that replays its events from the first.
async fn replay_from_start(app: &TestApp, thread: &str) -> WsClient {
    let variables = json!({ "id": thread, "after": "ZTE6MA" });
    app.subscribe(&app.token, "r", THREAD_EVENTS, variables)
        .await
}

#[tokio::test]
async fn a_transaction_that_appends_first_and_commits_last_is_not_skipped() {
    let (app, _second, thread, mut clients) = watched_on_two_instances("order", None).await;

    // `older` takes its transaction id first; `younger` appends first, then
    // `older` appends and commits while `younger` is still open.
    let mut older = OpenTransaction::begin(&app.database_url).await;
    let mut younger = OpenTransaction::begin(&app.database_url).await;
    younger.append(&thread, "younger").await;
    older.append(&thread, "older").await;
    older.end("COMMIT").await;
    for client in &mut clients {
        let seen = events(client, "t", "threadEvents", 1).await;
        assert_eq!(label(&seen[0]), "older");
    }
    younger.end("COMMIT").await;
    let mut cursors = Vec::new();
    for client in &mut clients {
        let seen = events(client, "t", "threadEvents", 1).await;
        assert_eq!(label(&seen[0]), "younger");
        cursors.push(seen[0]["cursor"].clone());
        client.expect_silence(Duration::from_millis(200)).await;
    }
    assert_eq!(cursors[0], cursors[1]);

    // The log holds both after the thread's creation, in the order delivered.
    let mut replay = replay_from_start(&app, &thread).await;
    let replayed = events(&mut replay, "r", "threadEvents", 3).await;
    assert_eq!(replayed[0]["kind"], "THREAD_CREATED");
    assert_eq!(label(&replayed[1]), "older");
    assert_eq!(label(&replayed[2]), "younger");
    assert_eq!(replayed[2]["cursor"], cursors[0]);
    assert!(position(&replayed[1]) < position(&replayed[2]));
}

#[tokio::test]
async fn events_wait_for_an_older_transaction_even_one_that_writes_no_event() {
    let (app, _second, thread, mut clients) =
        watched_on_two_instances("horizon", Some("warm-up")).await;

    // A transaction below the message holds it back: it could still append.
    let holder = OpenTransaction::begin(&app.database_url).await;
    app.send_message(&app.token, &thread, "held").await;
    for client in &mut clients {
        client.expect_silence(Duration::from_millis(300)).await;
    }
    // It ends with no event and no NOTIFY: the servers must read again by themselves.
    holder.end("ROLLBACK").await;
    for client in &mut clients {
        let seen = events(client, "t", "threadEvents", 1).await;
        assert_eq!(label(&seen[0]), "held");
    }

    // Events below the horizon are read at once, even while it is held.
    let holder = OpenTransaction::begin(&app.database_url).await;
    let mut resumed = replay_from_start(&app, &thread).await;
    let mut texts = Vec::new();
    while texts.last().map(String::as_str) != Some("held") {
        let event = events(&mut resumed, "r", "threadEvents", 1).await;
        if event[0]["kind"] == "MESSAGE_ADDED" {
            texts.push(label(&event[0]));
        }
    }
    assert_eq!(texts, ["default joined", "warm-up", "held"]);
    holder.end("COMMIT").await;
}

#[tokio::test]
async fn an_event_whose_writer_died_before_announcing_it_is_still_delivered() {
    let (app, _second, thread, mut clients) = watched_on_two_instances("unannounced", None).await;

    // Committed, but the NOTIFY that should follow never goes out.
    let mut writer = OpenTransaction::begin(&app.database_url).await;
    writer.append(&thread, "unannounced").await;
    execute(&mut writer.conn, "COMMIT").await;
    drop(writer);
    for client in &mut clients {
        let seen = events(client, "t", "threadEvents", 1).await;
        assert_eq!(label(&seen[0]), "unannounced");
    }
}

#[tokio::test]
async fn the_sweep_asks_once_however_many_organizations_are_followed() {
    let app = TestApp::spawn().await;
    let background = r#"confab_db_statements_total{pool="background"}"#;
    // Statements on the background pool over two sweeps (every 2 s), with
    // the scheduler's ticks in both windows alike.
    let quiet_window = async || {
        let before = scrape(&app).await.value(background);
        tokio::time::sleep(Duration::from_millis(4_100)).await;
        scrape(&app).await.value(background) - before
    };
    let mut followers = vec![
        app.subscribe(&app.token, "inbox", INBOX_EVENTS, json!({}))
            .await,
    ];
    tokio::time::sleep(Duration::from_millis(500)).await;
    let one = quiet_window().await;

    for index in 0..20 {
        let token = app.create_organization(&format!("org{index}")).await;
        followers.push(
            app.subscribe(&token, "inbox", INBOX_EVENTS, json!({}))
                .await,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let twenty_one = quiet_window().await;
    // One read per followed organization and sweep would be 40 more.
    assert!(
        twenty_one - one < 15.0,
        "{one} statements following one organization, {twenty_one} following 21"
    );
    drop(followers);
}

#[tokio::test]
async fn a_transaction_in_another_database_holds_nothing_back() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "elsewhere" })).await;
    app.send_message(&app.token, &thread, "warm-up").await;
    let [mut client, _] = watchers([&app, &app], &thread).await;

    // Below every later transaction in the cluster, but not in this database.
    let elsewhere = OpenTransaction::begin(&replace_database(&app.database_url, "postgres")).await;
    app.send_message(&app.token, &thread, "not held").await;
    let seen = events(&mut client, "t", "threadEvents", 1).await;
    assert_eq!(label(&seen[0]), "not held");
    elsewhere.end("ROLLBACK").await;
}

/// Random delays inside every write transaction: after its id is taken
/// (each message insert) and after its events are appended, before commit.
const COMMIT_DELAYS: &[&str] = &[
    "CREATE FUNCTION test_delay() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN PERFORM pg_sleep(random() * 0.03); RETURN NULL; END $$",
    "CREATE TRIGGER test_delay_message AFTER INSERT ON messages
     FOR EACH ROW EXECUTE FUNCTION test_delay()",
    "CREATE TRIGGER test_delay_events AFTER INSERT ON events
     FOR EACH STATEMENT EXECUTE FUNCTION test_delay()",
];

const WRITERS: usize = 16;
const MESSAGES_PER_WRITER: usize = 8;
const THREADS: usize = 4;

#[tokio::test]
async fn sixteen_writers_with_random_commit_delays_are_seen_exactly_once_on_two_instances() {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let apps = [&app, &second];
    let mut threads = Vec::new();
    for i in 0..THREADS {
        let thread = app.create_thread(json!({ "name": format!("t{i}") })).await;
        // The api key joins each thread with its first message.
        app.send_message(&app.token, &thread, &format!("warm-up {i}"))
            .await;
        threads.push(thread);
    }
    let mut conn = connect(&app.database_url).await;
    for statement in COMMIT_DELAYS {
        execute(&mut conn, statement).await;
    }

    // On each instance: the inbox, and the first thread's events.
    let mut subscribers = Vec::new();
    for instance in apps {
        let mut client = instance.ws_client(&instance.token).await;
        client.subscribe("inbox", INBOX_EVENTS, json!({})).await;
        client
            .subscribe("thread", THREAD_EVENTS, json!({ "id": threads[0] }))
            .await;
        subscribers.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Writers on both instances, and transactions that hold the horizon
    // for a while and append nothing.
    let stop = Arc::new(AtomicBool::new(false));
    let mut holders = Vec::new();
    for _ in 0..2 {
        let (url, stop) = (app.database_url.clone(), stop.clone());
        holders.push(tokio::spawn(async move {
            let mut conn = connect(&url).await;
            while !AtomicBool::load(&stop, Ordering::Relaxed) {
                execute(&mut conn, "BEGIN").await;
                execute(
                    &mut conn,
                    "SELECT pg_current_xact_id(), pg_sleep(random() * 0.05)",
                )
                .await;
                execute(&mut conn, "ROLLBACK").await;
            }
        }));
    }
    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let instance = apps[writer % 2];
        let (address, token) = (instance.graphql_url(), instance.token.clone());
        let thread = threads[writer % THREADS].clone();
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for k in 0..MESSAGES_PER_WRITER {
                let body = json!({
                    "query": "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } } }",
                    "variables": { "input": { "threadId": thread, "text": format!("w{writer}-{k}") } },
                });
                let response: Value = client
                    .post(&address)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("JSON");
                assert!(
                    response["data"]["sendMessage"]["message"]["id"].is_string(),
                    "{response}"
                );
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    stop.store(true, Ordering::Relaxed);
    for holder in holders {
        holder.await.expect("holder");
    }

    // Every subscriber: each message once, in log order, each writer's in the order sent.
    let mut inboxes = Vec::new();
    for client in &mut subscribers {
        let mut inbox = Vec::new();
        let mut thread = Vec::new();
        while inbox.len() < WRITERS * MESSAGES_PER_WRITER
            || thread.len() < WRITERS / THREADS * MESSAGES_PER_WRITER
        {
            let message = client.receive().await;
            assert_eq!(message["type"], "next", "{message}");
            match message["id"].as_str() {
                Some("inbox") => inbox.push(message["payload"]["data"]["inboxEvents"].clone()),
                Some("thread") => thread.push(message["payload"]["data"]["threadEvents"].clone()),
                _ => panic!("{message}"),
            }
        }
        client.expect_silence(Duration::from_millis(300)).await;
        assert_exactly_once_in_order(&inbox, WRITERS);
        assert_exactly_once_in_order(&thread, WRITERS / THREADS);
        inboxes.push(inbox);
    }
    let positions = |events: &[Value]| events.iter().map(position).collect::<Vec<_>>();
    assert_eq!(positions(&inboxes[0]), positions(&inboxes[1]));

    // The log, from the beginning: the warm-ups, then what the subscribers saw.
    let mut replay = second.ws_client(&second.token).await;
    replay
        .subscribe("all", INBOX_EVENTS, json!({ "after": "ZTE6MA" }))
        .await;
    let last = inboxes[0].last().map(|event| event["cursor"].clone());
    let mut log = Vec::new();
    while log.last().map(|event: &Value| event["cursor"].clone()) != last {
        log.extend(events(&mut replay, "all", "inboxEvents", 1).await);
    }
    replay.expect_silence(Duration::from_millis(200)).await;
    let log: Vec<Value> = log
        .into_iter()
        .filter(|event| event["kind"] == "MESSAGE_ADDED" && !label(event).ends_with("joined"))
        .collect();
    let labels = |events: &[Value]| events.iter().map(label).collect::<Vec<_>>();
    assert!(
        labels(&log[..THREADS])
            .iter()
            .all(|l| l.starts_with("warm-up"))
    );
    assert_eq!(labels(&log[THREADS..]), labels(&inboxes[0]));

    // Resuming from any cursor replays exactly the rest.
    for from in [
        0,
        1,
        17,
        64,
        100,
        inboxes[0].len() - 2,
        inboxes[0].len() - 1,
    ] {
        let rest = &inboxes[0][from + 1..];
        let instance = apps[from % 2];
        let mut client = instance.ws_client(&instance.token).await;
        let after = inboxes[0][from]["cursor"].clone();
        client
            .subscribe("rest", INBOX_EVENTS, json!({ "after": after }))
            .await;
        let replayed = events(&mut client, "rest", "inboxEvents", rest.len()).await;
        assert_eq!(labels(&replayed), labels(rest), "after event {from}");
        client.expect_silence(Duration::from_millis(200)).await;
    }
}

/// Each label `w<writer>-<k>` once, positions increasing, and each writer's
/// `k` in the order it sent them.
fn assert_exactly_once_in_order(events: &[Value], writers: usize) {
    let labels: Vec<String> = events.iter().map(label).collect();
    let distinct: HashSet<&String> = labels.iter().collect();
    assert_eq!(distinct.len(), labels.len(), "duplicates in {labels:?}");
    assert_eq!(labels.len(), writers * MESSAGES_PER_WRITER, "{labels:?}");
    let positions: Vec<i64> = events.iter().map(position).collect();
    assert!(
        positions.windows(2).all(|pair| pair[0] < pair[1]),
        "positions out of order: {positions:?}"
    );
    let mut next: HashMap<&str, usize> = HashMap::new();
    for label in &labels {
        let (writer, k) = label.split_once('-').expect("w<writer>-<k>");
        let expected = next.entry(writer).or_default();
        assert_eq!(k.parse::<usize>().ok(), Some(*expected), "{labels:?}");
        *expected += 1;
    }
}

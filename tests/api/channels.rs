//! Channels: one per subscriber set, fed by threads, now or on schedule.

use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use sha2::Digest;

use crate::helpers::{TestApp, is_id};

const SEND: &str = "mutation($input: SendMessageInput!) {
  sendMessage(input: $input) {
    message { id text publishToChannelAt publishedAt channel { id } }
    userErrors { field message code }
  }
}";

const PUBLISH: &str = "mutation($input: PublishMessageInput!) {
  publishMessage(input: $input) { message { id publishedAt publishToChannelAt } channel { id } userErrors { field code } }
}";

const CHANNEL: &str = "query($id: ID!) { channel(id: $id) {
  id name subscriberHash publisherIds phoneHashes
  subscribers { kind name }
  messages { edges { node { text publishedAt } } }
  recentMessages { text } hasMore
  pendingMessages { text publishToChannelAt }
  scheduledPublishAt
} }";

const CHANNEL_EVENTS: &str = "subscription($id: ID!, $after: String) {
  channelEvents(channelId: $id, after: $after) { kind cursor message { text publishedAt } }
}";

async fn send(app: &TestApp, input: Value) -> Value {
    let data = app.data(SEND, json!({ "input": input })).await;
    data["sendMessage"].clone()
}

/// Sends `text` to `thread` with the api key, to be published to its
/// channel at `at` (RFC 3339); returns the payload.
async fn schedule(app: &TestApp, thread: &str, text: &str, at: &str) -> Value {
    send(
        app,
        json!({ "threadId": thread, "text": text, "publishToChannelAt": at }),
    )
    .await
}

/// Publishes a message with the api key (`input` as `publishMessage` takes
/// it); returns the payload.
async fn publish(app: &TestApp, input: Value) -> Value {
    let data = app.data(PUBLISH, json!({ "input": input })).await;
    data["publishMessage"].clone()
}

async fn channel(app: &TestApp, id: &Value) -> Value {
    app.data_of(CHANNEL, &id).await["channel"].clone()
}

fn texts(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("list")
        .iter()
        .map(|item| {
            let item = item.get("node").unwrap_or(item);
            item["text"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// A user and a contact with a phone, both members of two resource threads.
async fn two_threads(app: &TestApp) -> (String, String, String, String) {
    let agent = app.create_user("acme", "ada@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let contact = app.create_contact("Bob", Some("+14155550100")).await;
    let first = app
        .create_thread(json!({ "resourceId": "shipment-1", "memberIds": [agent_id, contact] }))
        .await;
    let second = app
        .create_thread(json!({ "resourceId": "shipment-2", "memberIds": [contact, agent_id] }))
        .await;
    (agent, contact, first, second)
}

#[tokio::test]
async fn threads_with_the_same_subscribers_publish_into_one_channel() {
    let app = TestApp::spawn().await;
    let (agent, _contact, first, second) = two_threads(&app).await;
    let one = app
        .graphql_as(&agent, SEND, json!({ "input": { "threadId": first, "text": "picked up", "publishToChannel": true } }))
        .await["data"]["sendMessage"]
        .clone();
    assert_eq!(one["userErrors"], json!([]), "{one}");
    assert!(one["message"]["publishedAt"].is_string());
    let two = app
        .graphql_as(&agent, SEND, json!({ "input": { "threadId": second, "text": "delivered", "publishToChannel": true } }))
        .await["data"]["sendMessage"]
        .clone();
    let channel_id = one["message"]["channel"]["id"].clone();
    assert!(is_id(&channel_id, "chan_"), "{channel_id}");
    assert_eq!(
        two["message"]["channel"]["id"], channel_id,
        "one channel for one subscriber set"
    );

    let data = channel(&app, &channel_id).await;
    assert_eq!(data["name"], "Bob, Test User");
    assert_eq!(data["publisherIds"], json!(["shipment-1", "shipment-2"]));
    assert_eq!(
        texts(&data["messages"]["edges"]),
        vec!["picked up", "delivered"]
    );
    assert_eq!(
        texts(&data["recentMessages"]),
        vec!["picked up", "delivered"]
    );
    assert_eq!(data["hasMore"], false);
    assert_eq!(data["pendingMessages"], json!([]));
    assert_eq!(data["scheduledPublishAt"], Value::Null);
    let kinds: Vec<&str> = data["subscribers"]
        .as_array()
        .expect("subscribers")
        .iter()
        .filter_map(|s| s["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 2);
    let phone_hash: String = sha2::Sha256::digest(b"+14155550100")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(data["phoneHashes"], json!([phone_hash]));
    assert_eq!(data["subscriberHash"].as_str().map(str::len), Some(64));

    // Unpublished messages stay in their thread only.
    send(&app, json!({ "threadId": first, "text": "internal" })).await;
    let data = channel(&app, &channel_id).await;
    assert_eq!(texts(&data["messages"]["edges"]).len(), 2);

    // Another set of subscribers is another channel.
    let solo = app.create_thread(json!({ "name": "solo" })).await;
    let other = send(
        &app,
        json!({ "threadId": solo, "text": "just me", "publishToChannel": true }),
    )
    .await;
    assert_ne!(other["message"]["channel"]["id"], channel_id);
    let listed = app
        .data(
            "{ channels { totalCount edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["channels"]["totalCount"], 2);
}

#[tokio::test]
async fn concurrent_first_publishes_create_one_channel() {
    let app = TestApp::spawn().await;
    let (agent, _, first, second) = two_threads(&app).await;
    let (a, b) = tokio::join!(
        app.graphql_as(
            &agent,
            SEND,
            json!({ "input": { "threadId": first, "text": "a", "publishToChannel": true } })
        ),
        app.graphql_as(
            &agent,
            SEND,
            json!({ "input": { "threadId": second, "text": "b", "publishToChannel": true } })
        ),
    );
    let channel_a = &a["data"]["sendMessage"]["message"]["channel"]["id"];
    assert!(channel_a.is_string(), "{a}");
    assert_eq!(
        channel_a,
        &b["data"]["sendMessage"]["message"]["channel"]["id"]
    );
    let listed = app.data("{ channels { totalCount } }", json!({})).await;
    assert_eq!(listed["channels"]["totalCount"], 1);
}

async fn wait_until_published(app: &TestApp, channel_id: &Value, count: usize) -> Value {
    for _ in 0..50 {
        let data = channel(app, channel_id).await;
        if texts(&data["messages"]["edges"]).len() >= count {
            return data;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not published in time");
}

#[tokio::test]
async fn a_scheduled_message_is_published_once_on_time_by_one_of_several_servers() {
    let app = TestApp::spawn().await;
    let second = app.second_instance().await;
    let thread = app.create_thread(json!({ "name": "t" })).await;
    send(
        &app,
        json!({ "threadId": thread, "text": "now", "publishToChannel": true }),
    )
    .await;
    let at = Utc::now() + chrono::Duration::milliseconds(1500);
    let scheduled = schedule(&app, &thread, "later", &at.to_rfc3339()).await;
    assert_eq!(scheduled["userErrors"], json!([]), "{scheduled}");
    assert_eq!(scheduled["message"]["publishedAt"], Value::Null);
    let channel_id = scheduled["message"]["channel"]["id"].clone();

    // Pending: listed as such, not among the channel's messages.
    let data = channel(&app, &channel_id).await;
    assert_eq!(texts(&data["messages"]["edges"]), vec!["now"]);
    assert_eq!(texts(&data["pendingMessages"]), vec!["later"]);
    assert!(data["scheduledPublishAt"].is_string());

    // A channel subscriber hears of it when it is published, not before.
    let of_channel = json!({ "id": channel_id });
    let mut client = second
        .subscribe(&second.token, "c", CHANNEL_EVENTS, of_channel)
        .await;
    let event = client.next_data("c").await["channelEvents"].clone();
    assert_eq!(event["kind"], "MESSAGE_PUBLISHED");
    assert_eq!(event["message"]["text"], "later");
    let published_at: chrono::DateTime<Utc> = event["message"]["publishedAt"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("published at");
    assert!(published_at >= at, "not before its time");
    assert!(
        published_at - at < chrono::Duration::milliseconds(1000),
        "within a second: {}",
        published_at - at
    );

    // Exactly once, though both servers run the scheduler.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let data = channel(&app, &channel_id).await;
    assert_eq!(texts(&data["messages"]["edges"]), vec!["now", "later"]);
    assert_eq!(data["pendingMessages"], json!([]));
    let replay_all = "subscription { inboxEvents(after: \"ZTE6MA\") { kind message { text } } }";
    let mut replay = app
        .subscribe(&app.token, "all", replay_all, json!({}))
        .await;
    let mut published = Vec::new();
    loop {
        let event = replay.next_data("all").await["inboxEvents"].clone();
        if event["kind"] == "MESSAGE_PUBLISHED" {
            published.push(event["message"]["text"].clone());
            if published.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(published, vec![json!("now"), json!("later")]);
    replay.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_message_due_while_no_server_ran_goes_out_on_restart() {
    let mut app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "t" })).await;
    let at = Utc::now() + chrono::Duration::milliseconds(800);
    let scheduled = schedule(&app, &thread, "while down", &at.to_rfc3339()).await;
    let channel_id = scheduled["message"]["channel"]["id"].clone();
    app.stop().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    let restarted = app.second_instance().await;
    let data = wait_until_published(&restarted, &channel_id, 1).await;
    assert_eq!(texts(&data["messages"]["edges"]), vec!["while down"]);
}

#[tokio::test]
async fn a_pending_message_can_be_edited_or_cancelled_before_it_goes_out() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "t" })).await;
    let soon = (Utc::now() + chrono::Duration::milliseconds(1200)).to_rfc3339();
    let edited = schedule(&app, &thread, "tpyo", &soon).await;
    let edited_id = edited["message"]["id"].clone();
    let channel_id = edited["message"]["channel"]["id"].clone();
    app.data_of("mutation($id: ID!) { editMessage(input: {id: $id, text: \"typo fixed\"}) { userErrors { code } } }", &edited_id).await;
    let later = (Utc::now() + chrono::Duration::milliseconds(1200)).to_rfc3339();
    let cancelled = schedule(&app, &thread, "never mind", &later).await;
    let cancelled_id = cancelled["message"]["id"].clone();
    let cancel = "mutation($id: ID!) { cancelPublish(input: {messageId: $id}) { message { publishToChannelAt channel { id } } userErrors { field code } } }";
    let done = app.data_of(cancel, &cancelled_id).await;
    assert_eq!(
        done["cancelPublish"],
        json!({ "message": { "publishToChannelAt": null, "channel": null }, "userErrors": [] })
    );

    let data = wait_until_published(&app, &channel_id, 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let data_after = channel(&app, &channel_id).await;
    assert_eq!(texts(&data["messages"]["edges"]), vec!["typo fixed"]);
    assert_eq!(
        texts(&data_after["messages"]["edges"]),
        vec!["typo fixed"],
        "the cancelled one never went out"
    );

    let again = app.data_of(cancel, &cancelled_id).await;
    assert_eq!(
        again["cancelPublish"]["userErrors"],
        json!([{ "field": ["input", "messageId"], "code": "NOT_PENDING" }])
    );
    let published = app.data_of(cancel, &edited_id).await;
    assert_eq!(
        published["cancelPublish"]["userErrors"][0]["code"],
        "NOT_PENDING"
    );
}

#[tokio::test]
async fn bad_publish_requests_are_user_errors() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "t" })).await;
    let past = (Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let sent = schedule(&app, &thread, "x", &past).await;
    assert_eq!(sent["message"], Value::Null);
    assert_eq!(sent["userErrors"][0]["code"], "PUBLISH_TIME_IN_PAST");
    let count = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { messages { edges { node { text } } } } }",
            &thread,
        )
        .await;
    assert_eq!(
        count["thread"]["messages"]["edges"],
        json!([]),
        "nothing was written"
    );

    let message = app.send_message(&app.token, &thread, "plain").await;
    let empty = publish(&app, json!({ "messageId": message, "memberIds": [] })).await;
    assert_eq!(
        empty["userErrors"],
        json!([{ "field": ["input", "memberIds"], "code": "EMPTY_SUBSCRIBER_SET" }])
    );

    // A channel of another organization reads as not found.
    let globex = app.create_organization("globex").await;
    let their_thread = {
        let body = app
            .graphql_as(
                &globex,
                "mutation { createThread(input: {name: \"g\"}) { thread { id } } }",
                json!({}),
            )
            .await;
        body["data"]["createThread"]["thread"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let theirs = app
        .graphql_as(
            &globex,
            SEND,
            json!({ "input": { "threadId": their_thread, "text": "g", "publishToChannel": true } }),
        )
        .await;
    let their_channel = theirs["data"]["sendMessage"]["message"]["channel"]["id"].clone();
    let foreign = publish(
        &app,
        json!({ "messageId": message, "channelId": their_channel }),
    )
    .await;
    assert_eq!(
        foreign["userErrors"],
        json!([{ "field": ["input", "channelId"], "code": "NOT_FOUND" }])
    );
    let read = app
        .data_of(
            "query($id: ID!) { channel(id: $id) { id } node(id: $id) { id } }",
            &their_channel,
        )
        .await;
    assert_eq!(read, json!({ "channel": null, "node": null }));

    let now = publish(&app, json!({ "messageId": message })).await;
    assert_eq!(now["userErrors"], json!([]));
    let twice = publish(&app, json!({ "messageId": message })).await;
    assert_eq!(twice["userErrors"][0]["code"], "INVALID_VALUE");
}

#[tokio::test]
async fn explicit_members_choose_the_channel_and_contacts_see_theirs() {
    let app = TestApp::spawn().await;
    let (_, contact, first, _) = two_threads(&app).await;
    let message = app.send_message(&app.token, &first, "to Bob only").await;
    let published = publish(
        &app,
        json!({ "messageId": message, "memberIds": [contact] }),
    )
    .await;
    let channel_id = published["channel"]["id"].clone();
    assert_eq!(channel(&app, &channel_id).await["name"], "Bob");

    let token = app.contact_token(&contact).await;
    let mine = app
        .graphql_as(
            &token,
            "{ channels { totalCount edges { node { id name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        mine["data"]["channels"],
        json!({ "totalCount": 1, "edges": [{ "node": { "id": channel_id, "name": "Bob" } }] })
    );
}

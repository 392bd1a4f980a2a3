//! Live subscriptions over WebSocket, with real clients against real servers.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws::{LEGACY_WS, TRANSPORT_WS, WsClient};

const THREAD_EVENTS: &str = "subscription($id: ID!, $after: String) {
  threadEvents(threadId: $id, after: $after) {
    cursor kind threadId messageId message { text author { name } } subscriber { name } emoji isTyping
  }
}";

const INBOX_EVENTS: &str = "subscription($after: String) {
  inboxEvents(after: $after) { cursor kind threadId message { text } thread { name unreadCount } }
}";

const CONVERSATION_EVENTS: &str = "subscription($id: ID!) {
  conversationEvents(conversationId: $id) { kind conversationId message { text writtenByMe } conversation { happenedAt } }
}";

async fn event(client: &mut WsClient, id: &str, field: &str) -> Value {
    client.next_data(id).await[field].clone()
}

/// A graphql-transport-ws client as `token`, subscribed as `id` to the
/// events of `thread`, given a moment to register before anything is written.
async fn watching_thread(app: &TestApp, token: &str, id: &str, thread: &str) -> WsClient {
    let client = app
        .subscribe(token, id, THREAD_EVENTS, json!({ "id": thread }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    client
}

/// A new thread named `name`, and an api-key client watching it as subscription `1`.
async fn new_watched_thread(app: &TestApp, name: &str) -> (String, WsClient) {
    let thread = app.create_thread(json!({ "name": name })).await;
    let client = watching_thread(app, &app.token, "1", &thread).await;
    (thread, client)
}

#[tokio::test]
async fn a_message_sent_on_one_connection_arrives_on_another() {
    let app = TestApp::spawn().await;
    let (thread, mut client) = new_watched_thread(&app, "live").await;

    let message = app.send_message(&app.token, &thread, "hello, live").await;
    // The sender's first message also records its join.
    let joined = event(&mut client, "1", "threadEvents").await;
    assert_eq!(joined["kind"], "SUBSCRIBER_JOINED");
    assert_eq!(joined["subscriber"]["name"], "default");
    let meta = event(&mut client, "1", "threadEvents").await;
    assert_eq!(meta["kind"], "MESSAGE_ADDED");
    assert_eq!(meta["message"]["text"], "default joined");
    let added = event(&mut client, "1", "threadEvents").await;
    assert_eq!(added["kind"], "MESSAGE_ADDED");
    assert_eq!(added["threadId"], thread.as_str());
    assert_eq!(added["messageId"], message.as_str());
    assert_eq!(
        added["message"],
        json!({ "text": "hello, live", "author": { "name": "default" } })
    );
    assert!(added["cursor"].is_string());
    assert_ne!(added["cursor"], meta["cursor"]);
}

#[tokio::test]
async fn every_change_to_a_thread_is_an_event_in_order() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let thread = app
        .create_thread(json!({ "name": "t", "memberIds": [agent_id] }))
        .await;
    let mut client = watching_thread(&app, &agent, "t", &thread).await;

    let message = app.send_message(&agent, &thread, "draft").await;
    // Each change in turn, on the message or the thread: as the agent, or as
    // the api key (`None`, which must get no errors).
    let changes = [
        (
            Some(&agent),
            "mutation($id: ID!) { editMessage(input: {id: $id, text: \"final\"}) { userErrors { code } } }",
            &message,
        ),
        (
            Some(&agent),
            "mutation($id: ID!) { addReaction(input: {messageId: $id, emoji: \"🎉\"}) { userErrors { code } } }",
            &message,
        ),
        (
            Some(&agent),
            "mutation($id: ID!) { removeReaction(input: {messageId: $id, emoji: \"🎉\"}) { userErrors { code } } }",
            &message,
        ),
        (
            Some(&agent),
            "mutation($id: ID!) { markThreadRead(input: {id: $id}) { userErrors { code } } }",
            &thread,
        ),
        (
            None,
            "mutation($id: ID!) { updateThread(input: {id: $id, isResolved: true}) { userErrors { code } } }",
            &thread,
        ),
        (
            Some(&agent),
            "mutation($id: ID!) { setTyping(input: {threadId: $id}) { ok } }",
            &thread,
        ),
        (
            Some(&agent),
            "mutation($id: ID!) { deleteMessage(input: {id: $id}) { userErrors { code } } }",
            &message,
        ),
        (
            None,
            "mutation($id: ID!) { removeThreadSubscribers(input: {threadId: $id, memberIds: [\"nobody\"]}) { userErrors { code } } }",
            &thread,
        ),
        (
            None,
            "mutation($id: ID!) { deleteThread(input: {id: $id}) { userErrors { code } } }",
            &thread,
        ),
    ];
    for (token, mutation, id) in changes {
        match token {
            Some(token) => app.graphql_as(token, mutation, json!({ "id": id })).await,
            None => app.data_of(mutation, &id).await,
        };
    }

    let mut kinds = Vec::new();
    let mut last_cursor = String::new();
    loop {
        let event = event(&mut client, "t", "threadEvents").await;
        let kind = event["kind"].as_str().expect("kind").to_string();
        match event["cursor"].as_str() {
            Some(cursor) => {
                assert_ne!(cursor, last_cursor);
                last_cursor = cursor.to_string();
            }
            None => assert_eq!(kind, "TYPING", "only ephemeral events have no cursor"),
        }
        match kind.as_str() {
            "MESSAGE_EDITED" => assert_eq!(event["message"]["text"], "final"),
            "REACTION_ADDED" | "REACTION_REMOVED" => assert_eq!(event["emoji"], "🎉"),
            "READ_RECEIPT" => assert_eq!(event["subscriber"]["name"], "Test User"),
            "TYPING" => assert_eq!(event["isTyping"], true),
            "MESSAGE_DELETED" => assert_eq!(event["messageId"], message.as_str()),
            _ => {}
        }
        kinds.push(kind);
        if kinds.last().map(String::as_str) == Some("THREAD_DELETED") {
            break;
        }
    }
    assert_eq!(
        kinds,
        vec![
            "MESSAGE_ADDED",
            "MESSAGE_EDITED",
            "REACTION_ADDED",
            "REACTION_REMOVED",
            "READ_RECEIPT",
            "THREAD_UPDATED",
            "TYPING",
            "MESSAGE_DELETED",
            "THREAD_DELETED",
        ]
    );
    // The thread is gone: its subscription completes.
    let complete = client.receive().await;
    assert_eq!(complete, json!({ "id": "t", "type": "complete" }));
}

#[tokio::test]
async fn subscribing_on_one_instance_sees_writes_made_on_another() {
    let first = TestApp::spawn().await;
    let second = first.second_instance().await;
    let thread = first.create_thread(json!({ "name": "shared" })).await;
    let mut on_first = first
        .subscribe(&first.token, "a", INBOX_EVENTS, json!({}))
        .await;
    let mut on_second = WsClient::connect_as(&second.ws_url(), LEGACY_WS, &second.token).await;
    on_second
        .subscribe("b", THREAD_EVENTS, json!({ "id": thread }))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    second
        .send_message(&second.token, &thread, "via second")
        .await;
    first.send_message(&first.token, &thread, "via first").await;
    for client_id in ["a", "b"] {
        let client = if client_id == "a" {
            &mut on_first
        } else {
            &mut on_second
        };
        let field = if client_id == "a" {
            "inboxEvents"
        } else {
            "threadEvents"
        };
        let texts: Vec<Value> = {
            let mut texts = Vec::new();
            while texts.len() < 2 {
                let event = event(client, client_id, field).await;
                if event["kind"] == "MESSAGE_ADDED" && event["message"]["text"] != "default joined"
                {
                    texts.push(event["message"]["text"].clone());
                }
            }
            texts
        };
        assert_eq!(
            texts,
            vec![json!("via second"), json!("via first")],
            "client {client_id}"
        );
    }
}

#[tokio::test]
async fn resuming_with_a_cursor_replays_exactly_what_was_missed() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "resume" })).await;
    app.send_message(&app.token, &thread, "m1").await;
    let mut client = watching_thread(&app, &app.token, "1", &thread).await;
    app.send_message(&app.token, &thread, "m2").await;
    let seen = event(&mut client, "1", "threadEvents").await;
    assert_eq!(seen["message"]["text"], "m2");
    let cursor = seen["cursor"].clone();
    drop(client);

    // Written while the client was away.
    for text in ["m3", "m4", "m5"] {
        app.send_message(&app.token, &thread, text).await;
    }
    let mut client = WsClient::connect_as(&app.ws_url(), LEGACY_WS, &app.token).await;
    client
        .subscribe("2", THREAD_EVENTS, json!({ "id": thread, "after": cursor }))
        .await;
    let mut texts = Vec::new();
    for _ in 0..3 {
        texts.push(event(&mut client, "2", "threadEvents").await["message"]["text"].clone());
    }
    assert_eq!(texts, vec![json!("m3"), json!("m4"), json!("m5")]);
    // Then live, with no duplicate across the switch.
    app.send_message(&app.token, &thread, "m6").await;
    let live = event(&mut client, "2", "threadEvents").await;
    assert_eq!(live["message"]["text"], "m6");
    client.expect_silence(Duration::from_millis(300)).await;

    // Resuming from the very first event replays everything since it, in order.
    let mut client = app
        .subscribe(&app.token, "3", INBOX_EVENTS, json!({ "after": cursor }))
        .await;
    let mut texts = Vec::new();
    for _ in 0..4 {
        texts.push(event(&mut client, "3", "inboxEvents").await["message"]["text"].clone());
    }
    assert_eq!(
        texts,
        vec![json!("m3"), json!("m4"), json!("m5"), json!("m6")]
    );
}

#[tokio::test]
async fn writes_during_a_lost_listen_connection_are_caught_up() {
    let app = TestApp::spawn().await;
    let (thread, mut client) = new_watched_thread(&app, "t").await;
    app.send_message(&app.token, &thread, "before").await;
    let mut texts = Vec::new();
    while texts.is_empty() {
        let event = event(&mut client, "1", "threadEvents").await;
        if event["message"]["text"] == "before" {
            texts.push("before");
        }
    }

    // Cut the server's LISTEN connection, then write while it reconnects.
    app.terminate_listeners().await;
    app.send_message(&app.token, &thread, "during").await;
    app.send_message(&app.token, &thread, "after").await;
    let during = event(&mut client, "1", "threadEvents").await;
    let after = event(&mut client, "1", "threadEvents").await;
    assert_eq!(
        (
            during["message"]["text"].clone(),
            after["message"]["text"].clone()
        ),
        (json!("during"), json!("after"))
    );
}

#[tokio::test]
async fn a_cursor_older_than_the_retention_window_must_refetch() {
    let app = TestApp::spawn().await;
    let (thread, mut client) = new_watched_thread(&app, "t").await;
    app.send_message(&app.token, &thread, "old").await;
    let cursor = event(&mut client, "1", "threadEvents").await["cursor"].clone();
    app.send_message(&app.token, &thread, "newer").await;
    app.prune_events_older_than(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await;

    let errors = client
        .refusal("2", THREAD_EVENTS, json!({ "id": thread, "after": cursor }))
        .await;
    assert_eq!(
        errors[0]["extensions"]["code"], "CURSOR_EXPIRED",
        "{errors}"
    );
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refetch"))
    );

    let garbage = json!({ "id": thread, "after": "garbage" });
    let errors = client.refusal("3", THREAD_EVENTS, garbage).await;
    assert_eq!(
        errors[0]["extensions"]["reason"], "INVALID_CURSOR",
        "{errors}"
    );
}

#[tokio::test]
async fn connections_without_a_valid_token_are_refused() {
    let app = TestApp::spawn().await;
    for (protocol, payload) in [
        (TRANSPORT_WS, json!({})),
        (TRANSPORT_WS, json!({ "Authorization": "Bearer cfk_wrong" })),
        (TRANSPORT_WS, json!({ "authorization": "Basic nope" })),
        (LEGACY_WS, json!({ "Authorization": "Bearer cfk_wrong" })),
    ] {
        let mut client = WsClient::connect(&app.ws_url(), protocol).await;
        client
            .send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        assert_eq!(
            client.closed().await,
            (4403, "Forbidden".to_string()),
            "{protocol} {payload}"
        );
    }
    // The token's case-insensitive key works, and so does /graphql with an Upgrade.
    let url = format!("{}/graphql", app.address.replacen("http", "ws", 1));
    let mut client = WsClient::connect(&url, TRANSPORT_WS).await;
    client.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", app.token) } })).await;
    assert_eq!(client.receive().await["type"], "connection_ack");
}

#[tokio::test]
async fn a_connection_that_never_initialises_is_closed() {
    let app = TestApp::spawn_with(|config| config.ws_init_timeout_ms = 300).await;
    let mut client = WsClient::connect(&app.ws_url(), TRANSPORT_WS).await;
    assert_eq!(
        client.closed().await,
        (4408, "Connection initialisation timeout".to_string())
    );
}

#[tokio::test]
async fn pings_are_answered() {
    let app = TestApp::spawn().await;
    let mut client = app.ws_client(&app.token).await;
    client.send(json!({ "type": "ping" })).await;
    assert_eq!(client.receive().await["type"], "pong");
}

#[tokio::test]
async fn subscribers_see_only_their_own_organization_and_threads() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let ada_thread = app
        .create_thread(json!({ "name": "ada's", "memberIds": [ada] }))
        .await;
    let other_thread = app.create_thread(json!({ "name": "internal" })).await;
    let globex = app.create_organization("globex").await;

    // Another organization cannot subscribe to the thread, and its inbox stays quiet.
    let mut intruder = app.ws_client(&globex).await;
    let refused = intruder
        .refusal("x", THREAD_EVENTS, json!({ "id": ada_thread }))
        .await;
    assert_eq!(refused[0]["extensions"]["code"], "NOT_FOUND");
    intruder.subscribe("inbox", INBOX_EVENTS, json!({})).await;

    // The contact's inbox has only the thread it subscribes to.
    let token = app.contact_token(&ada).await;
    let mut contact = app
        .subscribe(&token, "inbox", INBOX_EVENTS, json!({}))
        .await;
    let other = json!({ "id": other_thread });
    let refused = contact.refusal("other", THREAD_EVENTS, other).await;
    assert_eq!(refused[0]["extensions"]["code"], "NOT_FOUND");
    tokio::time::sleep(Duration::from_millis(200)).await;

    app.send_message(&app.token, &other_thread, "internal note")
        .await;
    app.send_message(&app.token, &ada_thread, "hi Ada").await;
    let mut seen = Vec::new();
    while !seen.contains(&json!("hi Ada")) {
        let event = event(&mut contact, "inbox", "inboxEvents").await;
        assert_eq!(event["threadId"], ada_thread.as_str(), "{event}");
        seen.push(event["message"]["text"].clone());
    }
    assert!(!seen.contains(&json!("internal note")));
    intruder.expect_silence(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn conversation_events_follow_one_conversation() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let created = app
        .data(
            "mutation($c: ID!) { createConversation(input: {contactId: $c, channel: PHONE, happenedAt: \"2026-11-20\"}) { conversation { id } } }",
            json!({ "c": contact }),
        )
        .await;
    let conversation = created["createConversation"]["conversation"]["id"].clone();
    let of_conversation = json!({ "id": conversation });
    let mut client = app
        .subscribe(&app.token, "c", CONVERSATION_EVENTS, of_conversation)
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.data_of("mutation($id: ID!) { addConversationMessage(input: {conversationId: $id, content: \"Called back\", writtenAt: \"2026-11-20T10:00:00Z\", writtenByMe: true}) { userErrors { code } } }", &conversation).await;
    app.data_of("mutation($id: ID!) { updateConversation(input: {id: $id, happenedAt: \"2026-11-19\"}) { userErrors { code } } }", &conversation).await;
    let added = event(&mut client, "c", "conversationEvents").await;
    assert_eq!(added["kind"], "MESSAGE_ADDED");
    assert_eq!(added["conversationId"], conversation);
    assert_eq!(
        added["message"],
        json!({ "text": "Called back", "writtenByMe": true })
    );
    let updated = event(&mut client, "c", "conversationEvents").await;
    assert_eq!(updated["kind"], "CONVERSATION_UPDATED");
    assert_eq!(updated["conversation"]["happenedAt"], "2026-11-19");
}

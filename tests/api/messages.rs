//! Messages: send (idempotent), edit (author only), delete, reactions, pages.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_created, user_errors};

const SEND: &str = "mutation($input: SendMessageInput!) {
  sendMessage(input: $input) {
    message { id text type event mediaUrls resourceId clientMessageId createdAt editedAt
              author { kind name apiKey { name } user { email } } thread { id } }
    thread { id updatedAt }
    userErrors { field message code }
  }
}";

async fn new_thread(app: &TestApp, member_ids: Value) -> String {
    app.create_thread(json!({ "name": "t", "memberIds": member_ids }))
        .await
}

async fn send_as(app: &TestApp, token: &str, input: Value) -> Value {
    let body = app.graphql_as(token, SEND, json!({ "input": input })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["sendMessage"].clone()
}

async fn send_text(app: &TestApp, token: &str, thread: &str, text: &str) -> String {
    let sent = send_as(app, token, json!({ "threadId": thread, "text": text })).await;
    assert_eq!(sent["userErrors"], json!([]), "{sent}");
    sent["message"]["id"]
        .as_str()
        .expect("message id")
        .to_string()
}

#[tokio::test]
async fn sending_writes_a_message_by_the_caller() {
    let app = TestApp::spawn().await;
    let thread = new_thread(&app, json!([])).await;
    let sent = send_as(
        &app,
        &app.token,
        json!({ "threadId": thread, "text": "Your parcel left the depot", "type": "TRACKING_UPDATE",
                "event": "parcel.departed", "mediaUrls": ["https://example.com/map.png"], "resourceId": "parcel-9" }),
    )
    .await;
    let expected = json!({
        "text": "Your parcel left the depot", "type": "TRACKING_UPDATE", "event": "parcel.departed",
        "mediaUrls": ["https://example.com/map.png"], "resourceId": "parcel-9", "editedAt": null,
        "thread": { "id": thread },
    });
    let message = assert_created(&sent, "message", "msg_", expected);
    assert_eq!(message["author"]["kind"], "API_KEY");
    assert_eq!(message["author"]["apiKey"]["name"], "default");
    assert_eq!(sent["thread"]["updatedAt"], message["createdAt"]);

    // The sender joined the thread on its first message, recorded by a meta message.
    let data = app.data_of("query($id: ID!) { thread(id: $id) { subscribers { kind } recentMessages { type text author { kind } } } }", &thread).await;
    assert_eq!(
        data["thread"]["subscribers"],
        json!([{ "kind": "API_KEY" }])
    );
    assert_eq!(
        data["thread"]["recentMessages"],
        json!([
            { "type": "META", "text": "default joined", "author": null },
            { "type": "TRACKING_UPDATE", "text": "Your parcel left the depot", "author": { "kind": "API_KEY" } },
        ])
    );
}

#[tokio::test]
async fn bad_messages_are_user_errors_and_write_nothing() {
    let app = TestApp::spawn().await;
    let thread = new_thread(&app, json!([])).await;
    let cases = [
        (
            json!({ "threadId": thread, "text": "  " }),
            vec![(json!(["input", "text"]), "REQUIRED")],
        ),
        (
            json!({ "threadId": thread, "text": "x", "type": "META" }),
            vec![(json!(["input", "type"]), "INVALID_VALUE")],
        ),
        (
            json!({ "threadId": thread, "text": "x", "mediaUrls": ["https://ok.example/a.png", "javascript:alert(1)"] }),
            vec![(json!(["input", "mediaUrls", "1"]), "INVALID_URL")],
        ),
        (
            json!({ "threadId": thread, "text": "x".repeat(20_001) }),
            vec![(json!(["input", "text"]), "TOO_LONG")],
        ),
        (
            json!({ "threadId": "thrd_nope", "text": "x" }),
            vec![(json!(["input", "threadId"]), "NOT_FOUND")],
        ),
    ];
    for (input, expected) in cases {
        let sent = send_as(&app, &app.token, input).await;
        assert_eq!(sent["message"], Value::Null);
        let expected: Vec<(Value, String)> = expected
            .into_iter()
            .map(|(f, c)| (f, c.to_string()))
            .collect();
        assert_eq!(user_errors(&sent), expected);
    }
    // Media alone is a message.
    let media_only = send_as(
        &app,
        &app.token,
        json!({ "threadId": thread, "mediaUrls": ["https://example.com/p.jpg"] }),
    )
    .await;
    assert_eq!(media_only["userErrors"], json!([]));
    let count = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { messages { edges { node { type } } } } }",
            &thread,
        )
        .await;
    assert_eq!(
        count["thread"]["messages"]["edges"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "join + the media message"
    );
}

#[tokio::test]
async fn the_same_client_message_id_returns_the_first_message() {
    let app = TestApp::spawn().await;
    let thread = new_thread(&app, json!([])).await;
    let input = json!({ "threadId": thread, "text": "once", "clientMessageId": "tmp-123" });
    let first = send_as(&app, &app.token, input.clone()).await;
    let second = send_as(
        &app,
        &app.token,
        json!({ "threadId": thread, "text": "retry", "clientMessageId": "tmp-123" }),
    )
    .await;
    assert_eq!(second["userErrors"], json!([]));
    assert_eq!(second["message"]["id"], first["message"]["id"]);
    assert_eq!(second["message"]["text"], "once");
    assert_eq!(second["message"]["clientMessageId"], "tmp-123");
    // Concurrent retries too.
    let (a, b) = tokio::join!(
        send_as(
            &app,
            &app.token,
            json!({ "threadId": thread, "text": "race", "clientMessageId": "tmp-456" })
        ),
        send_as(
            &app,
            &app.token,
            json!({ "threadId": thread, "text": "race", "clientMessageId": "tmp-456" })
        ),
    );
    assert_eq!(a["message"]["id"], b["message"]["id"]);
    let texts = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { messages { edges { node { text } } } } }",
            &thread,
        )
        .await;
    let texts: Vec<&str> = texts["thread"]["messages"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .filter_map(|e| e["node"]["text"].as_str())
        .collect();
    assert_eq!(texts, vec!["default joined", "once", "race"]);
}

const EDIT: &str = "mutation($input: EditMessageInput!) { editMessage(input: $input) { message { text editedAt mediaUrls } userErrors { field code } } }";
const DELETE: &str = "mutation($id: ID!) { deleteMessage(input: {id: $id}) { deletedMessageId userErrors { field code } } }";

#[tokio::test]
async fn only_the_author_edits_and_deletes() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.create_users(["ada@acme.test", "bob@acme.test"]).await;
    let thread = new_thread(&app, json!([])).await;
    let message = send_text(&app, &ada, &thread, "frist").await;

    // Nobody authored the meta message recording Ada's join.
    let meta = app.data_of("query($id: ID!) { thread(id: $id) { messages(first: 1) { edges { node { id type } } } } }", &thread).await;
    let meta_id = meta["thread"]["messages"]["edges"][0]["node"]["id"].clone();
    let edit = |id: &Value, text: &str| json!({ "input": { "id": id, "text": text } });
    let message_id = json!(message);

    let by_ada = app.graphql_as(&ada, EDIT, edit(&message_id, "first")).await;
    let edited = &by_ada["data"]["editMessage"];
    assert_eq!(edited["userErrors"], json!([]));
    assert_eq!(edited["message"]["text"], "first");
    assert!(edited["message"]["editedAt"].is_string());

    let (edit_code, delete_code) = (
        "/data/editMessage/userErrors/0/code",
        "/data/deleteMessage/userErrors/0/code",
    );
    let by_id = json!({ "id": message });
    app.assert_answers(vec![
        (
            &bob,
            EDIT,
            edit(&message_id, "hacked"),
            "/data/editMessage",
            json!({ "message": null, "userErrors": [{ "field": ["input", "id"], "code": "NOT_AUTHOR" }] }),
        ),
        (&app.token, EDIT, edit(&message_id, "hacked"), edit_code, json!("NOT_AUTHOR")),
        (
            &ada,
            EDIT,
            edit(&message_id, ""),
            "/data/editMessage/userErrors",
            json!([{ "field": ["input", "text"], "code": "REQUIRED" }]),
        ),
        (&ada, EDIT, edit(&meta_id, "x"), edit_code, json!("NOT_AUTHOR")),
        (&bob, DELETE, by_id.clone(), delete_code, json!("NOT_AUTHOR")),
        (
            &ada,
            DELETE,
            by_id.clone(),
            "/data/deleteMessage",
            json!({ "deletedMessageId": message, "userErrors": [] }),
        ),
        (&ada, DELETE, by_id, delete_code, json!("NOT_FOUND")),
    ])
    .await;

    // Api keys act for the organization and may delete (moderation).
    let other = send_text(&app, &bob, &thread, "spam").await;
    let moderated = app
        .graphql_as(&app.token, DELETE, json!({ "id": other }))
        .await;
    assert_eq!(
        moderated["data"]["deleteMessage"]["deletedMessageId"],
        other.as_str()
    );
}

const REACT: &str = "mutation($input: ReactionInput!) { addReaction(input: $input) { message { id } userErrors { field code } } }";
const UNREACT: &str = "mutation($input: ReactionInput!) { removeReaction(input: $input) { message { id } userErrors { field code } } }";
/// Sends `mutation` (REACT or UNREACT) for `emoji` on `message` as `token`; returns the body.
async fn reaction(app: &TestApp, token: &str, mutation: &str, message: &str, emoji: &str) -> Value {
    let input = json!({ "messageId": message, "emoji": emoji });
    app.graphql_as(token, mutation, json!({ "input": input }))
        .await
}

const REACTIONS: &str = "query($id: ID!) { node(id: $id) { ... on Message { reactions { emoji count viewerReacted subscribers { name } } } } }";

#[tokio::test]
async fn reactions_are_grouped_by_emoji() {
    let app = TestApp::spawn().await;
    let [ada, bob] = app.create_users(["ada@acme.test", "bob@acme.test"]).await;
    let outsider = app.create_user("acme", "eve@acme.test").await;
    let members = json!([app.user_id(&ada).await, app.user_id(&bob).await]);
    let thread = new_thread(&app, members).await;
    let message = send_text(&app, &ada, &thread, "ship it?").await;

    for (token, emoji) in [(&ada, "👍"), (&bob, "👍"), (&bob, "🎉"), (&bob, "👍")] {
        let body = reaction(&app, token, REACT, &message, emoji).await;
        assert_eq!(
            body["data"]["addReaction"]["userErrors"],
            json!([]),
            "{body}"
        );
    }
    let as_ada = app
        .graphql_as(&ada, REACTIONS, json!({ "id": message }))
        .await;
    assert_eq!(
        as_ada["data"]["node"]["reactions"],
        json!([
            { "emoji": "👍", "count": 2, "viewerReacted": true, "subscribers": [{ "name": "Test User" }, { "name": "Test User" }] },
            { "emoji": "🎉", "count": 1, "viewerReacted": false, "subscribers": [{ "name": "Test User" }] },
        ])
    );
    let as_bob = app
        .graphql_as(&bob, REACTIONS, json!({ "id": message }))
        .await;
    assert_eq!(
        as_bob["data"]["node"]["reactions"][1]["viewerReacted"],
        true
    );

    let removed = reaction(&app, &bob, UNREACT, &message, "👍").await;
    assert_eq!(removed["data"]["removeReaction"]["userErrors"], json!([]));
    let after = app
        .graphql_as(&bob, REACTIONS, json!({ "id": message }))
        .await;
    assert_eq!(after["data"]["node"]["reactions"][0]["count"], 1);
    assert_eq!(
        after["data"]["node"]["reactions"][0]["viewerReacted"],
        false
    );

    let not_member = reaction(&app, &outsider, REACT, &message, "👀").await;
    assert_eq!(
        not_member["data"]["addReaction"]["userErrors"],
        json!([{ "field": ["input", "messageId"], "code": "NOT_A_SUBSCRIBER" }])
    );
    let bad_emoji = reaction(&app, &ada, REACT, &message, "two words").await;
    assert_eq!(
        bad_emoji["data"]["addReaction"]["userErrors"],
        json!([{ "field": ["input", "emoji"], "code": "INVALID_VALUE" }])
    );
}

const REACTION_IDS: &str =
    "query($id: ID!) { node(id: $id) { ... on Message { reactions { id emoji count } } } }";

async fn reaction_ids(app: &TestApp, message: &str) -> Vec<(String, String)> {
    let data = app.data_of(REACTION_IDS, &message).await;
    data["node"]["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .map(|group| {
            (
                group["emoji"].as_str().expect("emoji").to_string(),
                group["id"].as_str().expect("id").to_string(),
            )
        })
        .collect()
}

/// Adds `emoji` to `message` as `token` (`mutation` REACT), or removes it
/// (UNREACT); asserts there are no errors.
async fn react(app: &TestApp, token: &str, mutation: &str, message: &str, emoji: &str) {
    let body = reaction(app, token, mutation, message, emoji).await;
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test]
async fn reaction_groups_have_stable_ids_for_client_caches() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let app = TestApp::spawn().await;
    let [ada, bob] = app.create_users(["ada@acme.test", "bob@acme.test"]).await;
    let members = json!([app.user_id(&ada).await, app.user_id(&bob).await]);
    let thread = new_thread(&app, members).await;
    let first = send_text(&app, &ada, &thread, "ship it?").await;
    let second = send_text(&app, &bob, &thread, "shipped").await;

    react(&app, &ada, REACT, &first, "👍").await;
    react(&app, &bob, REACT, &first, ":tada:").await;
    react(&app, &ada, REACT, &second, "👍").await;
    let groups = reaction_ids(&app, &first).await;
    assert_eq!(groups.len(), 2);
    let thumbs = groups[0].1.clone();
    let tada = groups[1].1.clone();
    for (emoji, id) in &groups {
        let encoded = id.strip_prefix("rxn_").expect("rxn_ prefix");
        let decoded = URL_SAFE_NO_PAD.decode(encoded).expect("base64url");
        assert_eq!(
            String::from_utf8(decoded).expect("utf-8"),
            format!("{first}:{emoji}")
        );
    }
    assert_ne!(thumbs, tada);
    let other_message = reaction_ids(&app, &second).await;
    assert_eq!(other_message.len(), 1);
    assert_ne!(other_message[0].1, thumbs, "one id per message and emoji");

    // The id does not move as the group grows or shrinks, or for another viewer.
    react(&app, &bob, REACT, &first, "👍").await;
    react(&app, &bob, UNREACT, &first, ":tada:").await;
    react(&app, &bob, REACT, &first, ":tada:").await;
    let again = reaction_ids(&app, &first).await;
    assert_eq!(
        again,
        vec![
            ("👍".to_string(), thumbs.clone()),
            (":tada:".to_string(), tada.clone())
        ]
    );
    let as_bob = app
        .graphql_as(&bob, REACTION_IDS, json!({ "id": first }))
        .await;
    assert_eq!(
        as_bob["data"]["node"]["reactions"][0]["id"],
        thumbs.as_str()
    );

    // node(id:) refetches a group while it exists.
    let refetch = "query($id: ID!) { node(id: $id) { id ... on ReactionGroup { emoji count viewerReacted } } }";
    let found = app.graphql_as(&ada, refetch, json!({ "id": thumbs })).await;
    assert_eq!(
        found["data"]["node"],
        json!({ "id": thumbs, "emoji": "👍", "count": 2, "viewerReacted": true })
    );
    react(&app, &ada, UNREACT, &first, "👍").await;
    react(&app, &bob, UNREACT, &first, "👍").await;
    let gone = app.data_of(refetch, &thumbs).await;
    assert_eq!(gone["node"], Value::Null);
    for junk in ["rxn_", "rxn_!!!", "rxn_bXNnX3g", "rxn_Y3RjX3g6OmE"] {
        let none = app.data_of(refetch, &junk).await;
        assert_eq!(none["node"], Value::Null, "{junk}");
    }
    // Nor can a contact outside the thread, or another organization.
    let eve = app.create_contact("Eve", None).await;
    let eve_token = app.contact_token(&eve).await;
    let outside = app
        .graphql_as(&eve_token, refetch, json!({ "id": tada }))
        .await;
    assert_eq!(outside["data"]["node"], Value::Null, "{outside}");
    let other = app.create_organization("globex").await;
    let hidden = app.graphql_as(&other, refetch, json!({ "id": tada })).await;
    assert_eq!(hidden["data"]["node"], Value::Null, "{hidden}");
}

const PAGE: &str = "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  thread(id: $id) {
    hasMore
    recentMessages { text }
    messages(first: $first, after: $after, last: $last, before: $before) {
      edges { node { text } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}";

fn texts(data: &Value, path: &str) -> Vec<String> {
    let list = if path == "recent" {
        data["thread"]["recentMessages"].as_array()
    } else {
        data["thread"]["messages"]["edges"].as_array()
    };
    list.expect("list")
        .iter()
        .map(|item| {
            let node = if path == "recent" {
                item
            } else {
                &item["node"]
            };
            node["text"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

#[tokio::test]
async fn messages_page_both_ways_and_recent_messages_holds_the_newest_150() {
    let app = TestApp::spawn().await;
    let ada = app.create_user("acme", "ada@acme.test").await;
    let thread = new_thread(&app, json!([app.user_id(&ada).await])).await;
    // Message 0 is the meta message recording Ada's join.
    for i in 1..=151 {
        send_text(&app, &ada, &thread, &format!("m{i:03}")).await;
    }

    let newest = app.data(PAGE, json!({ "id": thread, "last": 3 })).await;
    assert_eq!(texts(&newest, "messages"), vec!["m149", "m150", "m151"]);
    assert_eq!(
        newest["thread"]["messages"]["pageInfo"]["hasPreviousPage"],
        true
    );
    let older = app
        .data(PAGE, json!({ "id": thread, "last": 3, "before": newest["thread"]["messages"]["pageInfo"]["startCursor"] }))
        .await;
    assert_eq!(texts(&older, "messages"), vec!["m146", "m147", "m148"]);

    let oldest = app.data(PAGE, json!({ "id": thread, "first": 2 })).await;
    assert_eq!(texts(&oldest, "messages"), vec!["Test User joined", "m001"]);
    let next = app
        .data(PAGE, json!({ "id": thread, "first": 2, "after": oldest["thread"]["messages"]["pageInfo"]["endCursor"] }))
        .await;
    assert_eq!(texts(&next, "messages"), vec!["m002", "m003"]);

    // 152 messages: recentMessages has the newest 150, oldest first, and more exist.
    let recent = texts(&newest, "recent");
    assert_eq!(recent.len(), 150);
    assert_eq!(recent.first().map(String::as_str), Some("m002"));
    assert_eq!(recent.last().map(String::as_str), Some("m151"));
    assert_eq!(newest["thread"]["hasMore"], true);

    let small = new_thread(&app, json!([])).await;
    send_text(&app, &app.token, &small, "only").await;
    let few = app.data_of(PAGE, &small).await;
    assert_eq!(few["thread"]["hasMore"], false);
    assert_eq!(texts(&few, "recent"), vec!["default joined", "only"]);
}

#[tokio::test]
async fn another_organization_cannot_touch_messages() {
    let app = TestApp::spawn().await;
    let thread = new_thread(&app, json!([])).await;
    let message = send_text(&app, &app.token, &thread, "private").await;
    let other = app.create_organization("globex").await;
    let react = reaction(&app, &other, REACT, &message, "👍").await;
    assert_eq!(
        react["data"]["addReaction"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let by_id = json!({ "id": message });
    let edit = json!({ "input": { "id": message, "text": "x" } });
    app.assert_answers(vec![
        (
            &other,
            "query($id: ID!) { node(id: $id) { id } }",
            by_id.clone(),
            "/data/node",
            Value::Null,
        ),
        (
            &other,
            EDIT,
            edit,
            "/data/editMessage/userErrors/0/code",
            json!("NOT_FOUND"),
        ),
        (
            &other,
            DELETE,
            by_id,
            "/data/deleteMessage/userErrors/0/code",
            json!("NOT_FOUND"),
        ),
    ])
    .await;
}

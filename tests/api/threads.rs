//! Threads: the Recrubo, Threads/Channels and Mews rules, subscribers and read state.

use serde_json::{Value, json};

use crate::helpers::{
    TestApp, assert_created, assert_fields, created_id, input_error, user_errors,
};

const THREAD_FIELDS: &str =
    "id name subject originalSender channel identifier chatbotPaused isResolved
  resourceId locationId contact { id } createdAt updatedAt lastMessageAt";

fn create_mutation() -> String {
    format!(
        "mutation($input: CreateThreadInput!) {{ createThread(input: $input) {{ created thread {{ {THREAD_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
}

fn update_mutation() -> String {
    format!(
        "mutation($input: UpdateThreadInput!) {{ updateThread(input: $input) {{ thread {{ {THREAD_FIELDS} }} userErrors {{ field message code }} }} }}"
    )
}

async fn create(app: &TestApp, input: Value) -> Value {
    app.data(&create_mutation(), json!({ "input": input }))
        .await["createThread"]
        .clone()
}

async fn create_thread(app: &TestApp, input: Value) -> String {
    created_id(&create(app, input).await, "thread")
}

async fn update(app: &TestApp, input: Value) -> Value {
    app.data(&update_mutation(), json!({ "input": input }))
        .await["updateThread"]
        .clone()
}

/// Which mutation `assert_refused` sends.
#[derive(Clone, Copy, Debug)]
enum Mutation {
    Create,
    Update,
}
use Mutation::{Create, Update};

/// Asserts that `mutation` with `input` is refused with the one user error
/// `code` on input `field`, and returns no thread.
async fn assert_refused(app: &TestApp, mutation: Mutation, input: Value, field: &str, code: &str) {
    let payload = match mutation {
        Create => create(app, input.clone()).await,
        Update => update(app, input.clone()).await,
    };
    assert_eq!(
        payload["thread"],
        Value::Null,
        "{mutation:?} {input}: {payload}"
    );
    assert_eq!(
        user_errors(&payload),
        input_error(field, code),
        "{mutation:?} {input}"
    );
}

async fn thread_count(app: &TestApp) -> i64 {
    app.data("{ threads { totalCount } }", json!({})).await["threads"]["totalCount"]
        .as_i64()
        .expect("count")
}

async fn send(app: &TestApp, token: &str, thread_id: &str, text: &str) -> Value {
    let body = app
        .graphql_as(
            token,
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id text } userErrors { field code } } }",
            json!({ "input": { "threadId": thread_id, "text": text } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["sendMessage"].clone()
}

#[tokio::test]
async fn a_thread_carries_every_source_apis_fields() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let payload = create(
        &app,
        json!({
            "name": "Shipment 42", "subject": "Where is my parcel?", "originalSender": "ada@example.com",
            "channel": "WHATSAPP", "identifier": "+44 20 7946 0958", "chatbotPaused": true,
            "locationId": "warehouse-1", "contactId": contact
        }),
    )
    .await;
    assert_eq!(payload["created"], true);
    let expected = json!({
        "name": "Shipment 42", "subject": "Where is my parcel?", "originalSender": "ada@example.com",
        "channel": "WHATSAPP", "chatbotPaused": true, "isResolved": false,
        "locationId": "warehouse-1", "contact": { "id": contact }, "lastMessageAt": null,
    });
    let thread = assert_created(&payload, "thread", "thrd_", expected);
    assert_eq!(thread["identifier"], "+442079460958", "normalised to E.164");

    let found = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { id } node(id: $id) { id ... on Thread { name } }
               threadByChannel(channel: WHATSAPP, identifier: \"+442079460958\") { id } }",
            &thread["id"],
        )
        .await;
    assert_eq!(found["thread"]["id"], thread["id"]);
    assert_eq!(found["node"]["name"], "Shipment 42", "{found}");
    assert_eq!(found["threadByChannel"]["id"], thread["id"]);
}

#[tokio::test]
async fn a_resource_thread_has_a_predictable_id_and_is_created_once() {
    let app = TestApp::spawn().await;
    let first = create(
        &app,
        json!({ "resourceId": "order-1001", "name": "Order 1001" }),
    )
    .await;
    assert_eq!(first["created"], true);
    assert_eq!(first["thread"]["id"], "thrd_order-1001");
    assert_eq!(first["thread"]["resourceId"], "order-1001");

    let again = create(
        &app,
        json!({ "resourceId": "order-1001", "name": "ignored" }),
    )
    .await;
    assert_eq!(again["created"], false);
    assert_eq!(again["thread"]["id"], "thrd_order-1001");
    assert_eq!(
        again["thread"]["name"], "Order 1001",
        "the existing thread, unchanged"
    );
    assert_eq!(thread_count(&app).await, 1);

    let found = app
        .data(
            "{ threadByResource(resourceId: \"order-1001\") { id } thread(id: \"thrd_order-1001\") { name } }",
            json!({}),
        )
        .await;
    assert_eq!(found["threadByResource"]["id"], "thrd_order-1001");
    assert_eq!(found["thread"]["name"], "Order 1001");

    // The same resource id in another organization is another thread.
    let other = app.create_organization("globex").await;
    let body = app
        .graphql_as(
            &other,
            &create_mutation(),
            json!({ "input": { "resourceId": "order-1001" } }),
        )
        .await;
    assert_eq!(body["data"]["createThread"]["created"], true);
    assert_eq!(
        body["data"]["createThread"]["thread"]["id"],
        "thrd_order-1001"
    );
}

#[tokio::test]
async fn phone_channels_need_e164_identifiers() {
    let app = TestApp::spawn().await;
    for channel in ["WHATSAPP", "SMS"] {
        let payload = create(
            &app,
            json!({ "channel": channel, "identifier": "020 7946 0958" }),
        )
        .await;
        assert_eq!(payload["thread"], Value::Null);
        assert_eq!(
            user_errors(&payload),
            input_error("identifier", "INVALID_PHONE")
        );
        let message = payload["userErrors"][0]["message"]
            .as_str()
            .unwrap_or_default();
        assert!(
            message.contains("country code") && message.contains("E.164"),
            "{message}"
        );
    }
    for (input, field, code) in [
        (
            json!({ "channel": "EMAIL", "identifier": "not an address" }),
            "identifier",
            "INVALID_EMAIL",
        ),
        (
            json!({ "identifier": "+14155550100" }),
            "channel",
            "REQUIRED",
        ),
    ] {
        assert_refused(&app, Create, input, field, code).await;
    }
    let messenger = create(
        &app,
        json!({ "channel": "MESSENGER", "identifier": "profile-77" }),
    )
    .await;
    assert_eq!(messenger["thread"]["identifier"], "profile-77");
    assert_eq!(
        thread_count(&app).await,
        1,
        "only the valid one was written"
    );
}

#[tokio::test]
async fn channel_and_identifier_are_unique_per_organization() {
    let app = TestApp::spawn().await;
    create_thread(
        &app,
        json!({ "channel": "SMS", "identifier": "+14155550100" }),
    )
    .await;
    let input = json!({ "channel": "SMS", "identifier": "+1 415 555 0100", "name": "dup" });
    assert_refused(&app, Create, input, "identifier", "DUPLICATE").await;
    // Same identifier on another channel is fine.
    create_thread(
        &app,
        json!({ "channel": "WHATSAPP", "identifier": "+14155550100" }),
    )
    .await;
    assert_eq!(thread_count(&app).await, 2);

    // Moving a thread onto a taken pair is refused too, and nothing changes.
    let third = create_thread(
        &app,
        json!({ "channel": "SMS", "identifier": "+14155550199" }),
    )
    .await;
    let input = json!({ "id": third, "identifier": "+14155550100", "name": "renamed" });
    assert_refused(&app, Update, input, "identifier", "DUPLICATE").await;
    let unchanged = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { identifier name } }",
            &third,
        )
        .await;
    assert_eq!(
        unchanged["thread"],
        json!({ "identifier": "+14155550199", "name": null })
    );

    // Another organization may use the same pair.
    let other = app.create_organization("globex").await;
    let body = app
        .graphql_as(
            &other,
            &create_mutation(),
            json!({ "input": { "channel": "SMS", "identifier": "+14155550100" } }),
        )
        .await;
    assert_eq!(body["data"]["createThread"]["userErrors"], json!([]));
}

#[tokio::test]
async fn updates_change_the_allowed_fields() {
    let app = TestApp::spawn().await;
    let id = create_thread(
        &app,
        json!({ "channel": "SMS", "identifier": "+14155550100", "name": "A" }),
    )
    .await;
    let payload = update(
        &app,
        json!({ "id": id, "identifier": "+14155550111", "chatbotPaused": true, "subject": "Hi",
                "name": "B", "isResolved": true, "locationId": "dock-2" }),
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]));
    let thread = &payload["thread"];
    assert_fields(
        thread,
        json!({ "identifier": "+14155550111", "chatbotPaused": true, "subject": "Hi",
                "name": "B", "isResolved": true, "locationId": "dock-2" }),
    );
    assert_ne!(thread["updatedAt"], thread["createdAt"]);

    // Changing the channel re-checks the identifier it keeps.
    let input = json!({ "id": id, "channel": "EMAIL" });
    assert_refused(&app, Update, input, "identifier", "INVALID_EMAIL").await;
    let to_whatsapp = update(&app, json!({ "id": id, "channel": "WHATSAPP" })).await;
    assert_eq!(to_whatsapp["thread"]["channel"], "WHATSAPP");
    let input = json!({ "id": id, "identifier": "12345" });
    assert_refused(&app, Update, input, "identifier", "INVALID_PHONE").await;
    let cleared = update(
        &app,
        json!({ "id": id, "identifier": null, "subject": null }),
    )
    .await;
    assert_eq!(cleared["thread"]["identifier"], Value::Null);
    assert_eq!(cleared["thread"]["subject"], Value::Null);

    let input = json!({ "id": "thrd_nope", "name": "x" });
    assert_refused(&app, Update, input, "id", "NOT_FOUND").await;
}

#[tokio::test]
async fn a_contact_is_linked_once_and_then_cannot_change() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let grace = app.create_contact("Grace", None).await;
    let id = create_thread(&app, json!({ "name": "t" })).await;

    let linked = update(&app, json!({ "id": id, "contactId": ada })).await;
    assert_eq!(linked["thread"]["contact"]["id"], ada.as_str());
    let same_again = update(&app, json!({ "id": id, "contactId": ada })).await;
    assert_eq!(same_again["userErrors"], json!([]));

    for (input, code) in [
        (
            json!({ "id": id, "contactId": grace, "name": "renamed" }),
            "CONTACT_IMMUTABLE",
        ),
        (json!({ "id": id, "contactId": "ctc_unknown" }), "NOT_FOUND"),
    ] {
        assert_refused(&app, Update, input, "contactId", code).await;
    }
    let after = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { name contact { id } } }",
            &id,
        )
        .await;
    assert_eq!(
        after["thread"],
        json!({ "name": "t", "contact": { "id": ada } })
    );

    // The contact lists its threads.
    let threads = app
        .data_of(
            "query($id: ID!) { contact(id: $id) { threads { totalCount edges { node { id } } } } }",
            &ada,
        )
        .await;
    assert_eq!(
        threads["contact"]["threads"],
        json!({ "totalCount": 1, "edges": [{ "node": { "id": id } }] })
    );
}

#[tokio::test]
async fn a_linked_contact_cannot_be_cleared_with_null() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let id = create_thread(&app, json!({ "name": "t" })).await;

    // Without a contact, null has nothing to clear.
    let nothing = update(&app, json!({ "id": id, "contactId": null, "name": "u" })).await;
    assert_eq!(nothing["userErrors"], json!([]));
    assert_eq!(nothing["thread"]["contact"], Value::Null);
    assert_eq!(nothing["thread"]["name"], "u");

    let linked = update(&app, json!({ "id": id, "contactId": ada })).await;
    assert_eq!(linked["thread"]["contact"]["id"], ada.as_str());
    let before = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { name updatedAt contact { id } } }",
            &id,
        )
        .await;

    let input = json!({ "id": id, "contactId": null, "name": "renamed" });
    assert_refused(&app, Update, input, "contactId", "CONTACT_IMMUTABLE").await;
    let after = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { name updatedAt contact { id } } }",
            &id,
        )
        .await;
    assert_eq!(after, before, "nothing was written");

    // The same contact again stays a no-op success; omitting it changes nothing.
    let same = update(&app, json!({ "id": id, "contactId": ada, "name": "v" })).await;
    assert_eq!(same["userErrors"], json!([]));
    assert_eq!(same["thread"]["contact"]["id"], ada.as_str());
    let omitted = update(&app, json!({ "id": id, "name": "w" })).await;
    assert_eq!(omitted["thread"]["contact"]["id"], ada.as_str());
}

#[tokio::test]
async fn phone_identifiers_may_omit_the_plus_but_not_the_country_code() {
    let app = TestApp::spawn().await;
    let payload = create(
        &app,
        json!({ "channel": "WHATSAPP", "identifier": "31612345678" }),
    )
    .await;
    assert_eq!(payload["userErrors"], json!([]), "{payload}");
    assert_eq!(payload["thread"]["identifier"], "+31612345678");
    let id = payload["thread"]["id"].clone();

    // The same number written either way is the same identifier.
    let found = app
        .data(
            "{ a: threadByChannel(channel: WHATSAPP, identifier: \"31612345678\") { id }
               b: threadByChannel(channel: WHATSAPP, identifier: \"+31 6 1234 5678\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(found, json!({ "a": { "id": id }, "b": { "id": id } }));
    let input = json!({ "channel": "WHATSAPP", "identifier": "+31 6 12345678" });
    assert_refused(&app, Create, input, "identifier", "DUPLICATE").await;

    // A national number has no country code.
    for (channel, national) in [("SMS", "0612345678"), ("WHATSAPP", "06 1234 5678")] {
        let input = json!({ "channel": channel, "identifier": national });
        assert_refused(&app, Create, input, "identifier", "INVALID_PHONE").await;
    }
    // Right length, but not a number anywhere.
    let input = json!({ "channel": "SMS", "identifier": "+44 99 7946 0958" });
    assert_refused(&app, Create, input, "identifier", "INVALID_PHONE").await;

    let sms = create_thread(
        &app,
        json!({ "channel": "SMS", "identifier": "+14155550100" }),
    )
    .await;
    let moved = update(&app, json!({ "id": sms, "identifier": "1 (415) 555-0123" })).await;
    assert_eq!(moved["userErrors"], json!([]));
    assert_eq!(moved["thread"]["identifier"], "+14155550123");
    assert_eq!(
        thread_count(&app).await,
        2,
        "only the valid ones were written"
    );
}

#[tokio::test]
async fn delete_returns_the_id_and_removes_the_messages() {
    let app = TestApp::spawn().await;
    let id = create_thread(&app, json!({ "name": "t" })).await;
    let sent = send(&app, &app.token, &id, "hello").await;
    let message_id = sent["message"]["id"].clone();
    let delete = "mutation($id: ID!) { deleteThread(input: {id: $id}) { deletedThreadId userErrors { field code } } }";
    app.assert_deleted_once(delete, &id, "deleteThread", "deletedThreadId")
        .await;
    let gone = app
        .data(
            "query($t: ID!, $m: ID!) { thread(id: $t) { id } node(id: $m) { id } }",
            json!({ "t": id, "m": message_id }),
        )
        .await;
    assert_eq!(gone, json!({ "thread": null, "node": null }));
}

const SUBSCRIBERS: &str = "query($id: ID!) { thread(id: $id) {
  subscribers { kind name email phone isArchived }
  archived: subscribers(includeArchived: true) { kind name isArchived }
  recentMessages { type event text author { name } }
} }";

#[tokio::test]
async fn subscribers_join_and_leave_with_meta_messages() {
    let app = TestApp::spawn().await;
    let user_token = app.create_user("acme", "agent@acme.test").await;
    let user = app.user_id(&user_token).await;
    let contact = app.create_contact("Ada", Some("+14155550100")).await;
    let id = create_thread(&app, json!({ "name": "t", "memberIds": [user] })).await;

    let add = "mutation($input: ThreadSubscribersInput!) { addThreadSubscribers(input: $input) { thread { id } userErrors { field code } } }";
    let remove = "mutation($input: ThreadSubscribersInput!) { removeThreadSubscribers(input: $input) { thread { id } userErrors { field code } } }";
    let added = app
        .data(
            add,
            json!({ "input": { "threadId": id, "memberIds": [contact, user] } }),
        )
        .await;
    assert_eq!(added["addThreadSubscribers"]["userErrors"], json!([]));

    let data = app.data_of(SUBSCRIBERS, &id).await;
    assert_eq!(
        data["thread"]["subscribers"],
        json!([
            { "kind": "USER", "name": "Test User", "email": "agent@acme.test", "phone": null, "isArchived": false },
            { "kind": "CONTACT", "name": "Ada", "email": null, "phone": "+14155550100", "isArchived": false },
        ])
    );
    let meta: Vec<(Value, Value)> = data["thread"]["recentMessages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["event"].clone(), m["text"].clone()))
        .collect();
    assert_eq!(
        meta,
        vec![
            (json!("subscriber_joined"), json!("Test User joined")),
            (json!("subscriber_joined"), json!("Ada joined")),
        ],
        "adding an existing subscriber again records nothing"
    );

    let unknown = app
        .data(
            add,
            json!({ "input": { "threadId": id, "memberIds": [contact, "ctc_nobody"] } }),
        )
        .await;
    assert_eq!(
        unknown["addThreadSubscribers"]["userErrors"],
        json!([{ "field": ["input", "memberIds", "1"], "code": "NOT_FOUND" }])
    );

    // The contact writes, then leaves: archived, and still the author.
    let contact_token = app.contact_token(&contact).await;
    send(&app, &contact_token, &id, "hi from Ada").await;
    let removed = app
        .data(
            remove,
            json!({ "input": { "threadId": id, "memberIds": [contact] } }),
        )
        .await;
    assert_eq!(removed["removeThreadSubscribers"]["userErrors"], json!([]));
    let data = app.data_of(SUBSCRIBERS, &id).await;
    assert_eq!(
        data["thread"]["subscribers"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        data["thread"]["archived"][1],
        json!({ "kind": "CONTACT", "name": "Ada", "isArchived": true })
    );
    let messages = data["thread"]["recentMessages"]
        .as_array()
        .expect("messages");
    let last_two: Vec<(Value, Value)> = messages[messages.len() - 2..]
        .iter()
        .map(|m| (m["text"].clone(), m["author"]["name"].clone()))
        .collect();
    assert_eq!(
        last_two,
        vec![
            (json!("hi from Ada"), json!("Ada")),
            (json!("Ada left"), Value::Null)
        ]
    );
    assert_eq!(
        messages.last().map(|m| m["type"].clone()),
        Some(json!("META"))
    );

    let not_subscribed = app
        .data(
            remove,
            json!({ "input": { "threadId": id, "memberIds": [contact] } }),
        )
        .await;
    assert_eq!(
        not_subscribed["removeThreadSubscribers"]["userErrors"],
        json!([{ "field": ["input", "memberIds", "0"], "code": "NOT_A_SUBSCRIBER" }])
    );
    // A removed contact no longer sees the thread.
    let hidden = app
        .graphql_as(
            &contact_token,
            "query($id: ID!) { thread(id: $id) { id } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(hidden["data"]["thread"], Value::Null);
}

const READ_STATE: &str = "query($id: ID!) { thread(id: $id) {
  unreadCount
  unreadBy { name unreadCount }
  subscribers { name viewedAt unreadCount }
} }";

#[tokio::test]
async fn sending_updates_unread_state_and_mark_read_clears_it() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let id = create_thread(&app, json!({ "name": "t", "memberIds": [agent_id] })).await;

    let before = app
        .data_of("query($id: ID!) { thread(id: $id) { updatedAt } }", &id)
        .await;
    send(&app, &app.token, &id, "one").await;
    send(&app, &app.token, &id, "two").await;

    let as_agent = app
        .graphql_as(&agent, READ_STATE, json!({ "id": id }))
        .await;
    let thread = &as_agent["data"]["thread"];
    assert_eq!(thread["unreadCount"], 2);
    assert_eq!(
        thread["unreadBy"],
        json!([{ "name": "Test User", "unreadCount": 2 }])
    );
    let as_key = app.data_of(READ_STATE, &id).await;
    assert_eq!(
        as_key["thread"]["unreadCount"], 0,
        "the sender has read its own messages"
    );
    let after = app
        .data_of(
            "query($id: ID!) { thread(id: $id) { updatedAt lastMessageAt } }",
            &id,
        )
        .await;
    assert!(after["thread"]["updatedAt"].as_str() > before["thread"]["updatedAt"].as_str());
    assert_eq!(
        after["thread"]["lastMessageAt"],
        after["thread"]["updatedAt"]
    );

    let unread_only =
        "{ threads(filter: {unreadOnly: true}) { totalCount edges { node { id } } } }";
    let listed = app.graphql_as(&agent, unread_only, json!({})).await;
    assert_eq!(listed["data"]["threads"]["totalCount"], 1);

    let mark = "mutation($id: ID!) { markThreadRead(input: {id: $id}) { thread { unreadCount } userErrors { field code } } }";
    let marked = app.graphql_as(&agent, mark, json!({ "id": id })).await;
    assert_eq!(
        marked["data"]["markThreadRead"],
        json!({ "thread": { "unreadCount": 0 }, "userErrors": [] })
    );
    let state = app
        .graphql_as(&agent, READ_STATE, json!({ "id": id }))
        .await;
    assert_eq!(state["data"]["thread"]["unreadBy"], json!([]));
    assert!(state["data"]["thread"]["subscribers"][0]["viewedAt"].is_string());
    let listed = app.graphql_as(&agent, unread_only, json!({})).await;
    assert_eq!(listed["data"]["threads"]["totalCount"], 0);

    let unmark = "mutation($id: ID!) { markThreadUnread(input: {id: $id}) { thread { unreadCount } userErrors { code } } }";
    let unmarked = app.graphql_as(&agent, unmark, json!({ "id": id })).await;
    assert_eq!(
        unmarked["data"]["markThreadUnread"]["thread"]["unreadCount"],
        1
    );

    // Someone who does not subscribe cannot mark it.
    let outsider = app.create_user("acme", "outsider@acme.test").await;
    let refused = app.graphql_as(&outsider, mark, json!({ "id": id })).await;
    assert_eq!(
        refused["data"]["markThreadRead"],
        json!({ "thread": null, "userErrors": [{ "field": ["input", "id"], "code": "NOT_A_SUBSCRIBER" }] })
    );
}

const UNREAD_BY: &str = "query($id: ID!) { thread(id: $id) {
  unreadCount
  unreadBy { kind unreadCount }
  subscribers { kind unreadCount viewedAt }
} }";

fn kinds(list: &Value) -> Vec<(String, i64)> {
    let mut kinds: Vec<(String, i64)> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap_or_default().to_string(),
                s["unreadCount"].as_i64().unwrap_or_default(),
            )
        })
        .collect();
    kinds.sort();
    kinds
}

#[tokio::test]
async fn unread_by_names_staff_only_while_contacts_keep_their_read_state() {
    let app = TestApp::spawn().await;
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let ada = app.create_contact("Ada", Some("+31612345678")).await;
    let ada_token = app.contact_token(&ada).await;
    let id = create_thread(
        &app,
        json!({ "name": "t", "channel": "WHATSAPP", "identifier": "31612345678",
                "memberIds": [agent_id, ada] }),
    )
    .await;

    // The api key writes (and so subscribes); the agent and Ada have unread.
    send(&app, &app.token, &id, "one").await;
    send(&app, &app.token, &id, "two").await;
    let state = app.data_of(UNREAD_BY, &id).await;
    assert_eq!(
        kinds(&state["thread"]["unreadBy"]),
        vec![("USER".to_string(), 2)],
        "the contact is not listed: {state}"
    );
    assert_eq!(
        kinds(&state["thread"]["subscribers"]),
        vec![
            ("API_KEY".to_string(), 0),
            ("CONTACT".to_string(), 2),
            ("USER".to_string(), 2)
        ]
    );

    // Ada's widget still sees her own unread count and can mark it read.
    let widget = app
        .graphql_as(&ada_token, UNREAD_BY, json!({ "id": id }))
        .await;
    assert_eq!(widget["data"]["thread"]["unreadCount"], 2, "{widget}");
    assert_eq!(
        kinds(&widget["data"]["thread"]["unreadBy"]),
        vec![("USER".to_string(), 2)]
    );
    let mark = "mutation($id: ID!) { markThreadRead(input: {id: $id}) { thread { unreadCount } userErrors { code } } }";
    let marked = app.graphql_as(&ada_token, mark, json!({ "id": id })).await;
    assert_eq!(
        marked["data"]["markThreadRead"],
        json!({ "thread": { "unreadCount": 0 }, "userErrors": [] })
    );
    let read = app.data_of(UNREAD_BY, &id).await;
    let contact = read["thread"]["subscribers"]
        .as_array()
        .expect("subscribers")
        .iter()
        .find(|s| s["kind"] == "CONTACT")
        .expect("contact subscriber")
        .clone();
    assert_eq!(contact["unreadCount"], 0);
    assert!(contact["viewedAt"].is_string(), "{contact}");

    // When Ada writes, the staff who have not read it are listed: the api key too.
    send(&app, &ada_token, &id, "thanks").await;
    let after = app.data_of(UNREAD_BY, &id).await;
    assert_eq!(
        kinds(&after["thread"]["unreadBy"]),
        vec![("API_KEY".to_string(), 1), ("USER".to_string(), 3)]
    );
    assert_eq!(after["thread"]["unreadCount"], 1);
}

const LIST: &str = "query($first: Int, $after: String, $last: Int, $before: String, $filter: ThreadsFilter) {
  threads(first: $first, after: $after, last: $last, before: $before, filter: $filter) {
    totalCount edges { node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn names(data: &Value) -> Vec<String> {
    data["threads"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn threads_list_newest_first_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let mut input = json!({ "name": format!("t{i}") });
        if i % 2 == 0 {
            input["channel"] = json!("EMAIL");
            input["identifier"] = json!(format!("t{i}@example.com"));
        }
        if i == 3 {
            input["contactId"] = json!(ada);
            input["isResolved"] = json!(true);
        }
        ids.push(create_thread(&app, input).await);
    }

    let all = app.data(LIST, json!({})).await;
    assert_eq!(names(&all), vec!["t6", "t5", "t4", "t3", "t2", "t1", "t0"]);
    assert_eq!(all["threads"]["totalCount"], 7);

    // Forward pages of 3, then backward from the end.
    let page1 = app.data(LIST, json!({ "first": 3 })).await;
    assert_eq!(names(&page1), vec!["t6", "t5", "t4"]);
    let page2 = app
        .data(
            LIST,
            json!({ "first": 3, "after": page1["threads"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(names(&page2), vec!["t3", "t2", "t1"]);
    assert_eq!(page2["threads"]["pageInfo"]["hasNextPage"], true);
    let page3 = app
        .data(
            LIST,
            json!({ "first": 3, "after": page2["threads"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(names(&page3), vec!["t0"]);
    assert_eq!(page3["threads"]["pageInfo"]["hasNextPage"], false);
    let tail = app.data(LIST, json!({ "last": 2 })).await;
    assert_eq!(names(&tail), vec!["t1", "t0"]);
    let before = app
        .data(
            LIST,
            json!({ "last": 2, "before": tail["threads"]["pageInfo"]["startCursor"] }),
        )
        .await;
    assert_eq!(names(&before), vec!["t3", "t2"]);

    let filtered = |filter: Value| {
        let app = &app;
        async move { names(&app.data(LIST, json!({ "filter": filter })).await) }
    };
    assert_eq!(
        filtered(json!({ "channel": "EMAIL" })).await,
        vec!["t6", "t4", "t2", "t0"]
    );
    assert_eq!(filtered(json!({ "contactId": ada })).await, vec!["t3"]);
    assert_eq!(
        filtered(json!({ "contactId": "ctc_nobody" })).await,
        Vec::<String>::new()
    );
    assert_eq!(filtered(json!({ "isResolved": true })).await, vec!["t3"]);
    assert_eq!(
        filtered(json!({ "ids": [ids[1], ids[5], "thrd_unknown"] })).await,
        vec!["t5", "t1"]
    );
    let now = chrono::Utc::now();
    let window = json!({ "start": (now - chrono::Duration::hours(1)).to_rfc3339(), "end": (now + chrono::Duration::hours(1)).to_rfc3339() });
    assert_eq!(
        filtered(json!({ "createdAt": window, "updatedAt": window }))
            .await
            .len(),
        7
    );
    let past = json!({ "start": (now - chrono::Duration::days(60)).to_rfc3339(), "end": (now - chrono::Duration::days(30)).to_rfc3339() });
    assert_eq!(
        filtered(json!({ "createdAt": past })).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn out_of_range_list_arguments_are_clear_errors() {
    let app = TestApp::spawn().await;
    let now = chrono::Utc::now();
    let too_many: Vec<String> = (0..1001).map(|i| format!("thrd_{i}")).collect();
    let cases = [
        (json!({ "first": 0 }), "PAGE_SIZE_OUT_OF_RANGE"),
        (json!({ "first": 1001 }), "PAGE_SIZE_OUT_OF_RANGE"),
        (json!({ "last": 5000 }), "PAGE_SIZE_OUT_OF_RANGE"),
        (json!({ "after": "bm9wZQ" }), "INVALID_CURSOR"),
        (json!({ "filter": { "ids": too_many } }), "TOO_MANY_IDS"),
        (
            json!({ "filter": { "createdAt": { "start": now.to_rfc3339(), "end": (now - chrono::Duration::seconds(1)).to_rfc3339() } } }),
            "INTERVAL_REVERSED",
        ),
        (
            json!({ "filter": { "updatedAt": { "start": (now - chrono::Duration::days(95)).to_rfc3339(), "end": now.to_rfc3339() } } }),
            "INTERVAL_TOO_LONG",
        ),
    ];
    for (variables, reason) in cases {
        let body = app.graphql(LIST, variables.clone()).await;
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {body}"
        );
        assert_eq!(
            body["errors"][0]["extensions"]["reason"], reason,
            "{variables}: {body}"
        );
    }
    let thousand: Vec<String> = (0..1000).map(|i| format!("thrd_{i}")).collect();
    let ok = app
        .graphql(
            LIST,
            json!({ "first": 1000, "filter": { "ids": thousand } }),
        )
        .await;
    assert!(ok.get("errors").is_none(), "{ok}");
    let three_months = json!({ "start": "2026-01-31T00:00:00Z", "end": "2026-04-30T00:00:00Z" });
    let ok = app
        .graphql(LIST, json!({ "filter": { "createdAt": three_months } }))
        .await;
    assert!(
        ok.get("errors").is_none(),
        "exactly three months is allowed: {ok}"
    );
}

#[tokio::test]
async fn threads_of_another_organization_read_as_not_found() {
    let app = TestApp::spawn().await;
    let id = create_thread(
        &app,
        json!({ "resourceId": "r1", "channel": "SMS", "identifier": "+14155550100" }),
    )
    .await;
    let other = app.create_organization("globex").await;
    let read = app
        .graphql_as(
            &other,
            "query($id: ID!) { thread(id: $id) { id } node(id: $id) { id } threadByResource(resourceId: \"r1\") { id }
               threadByChannel(channel: SMS, identifier: \"+14155550100\") { id } threads { totalCount } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        read["data"],
        json!({ "thread": null, "node": null, "threadByResource": null, "threadByChannel": null, "threads": { "totalCount": 0 } })
    );
    let update = app
        .graphql_as(
            &other,
            &update_mutation(),
            json!({ "input": { "id": id, "name": "x" } }),
        )
        .await;
    assert_eq!(
        update["data"]["updateThread"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
    let sent = send(&app, &other, &id, "intruder").await;
    assert_eq!(
        sent["userErrors"],
        json!([{ "field": ["input", "threadId"], "code": "NOT_FOUND" }])
    );
    let add = app
        .graphql_as(
            &other,
            "mutation($id: ID!) { addThreadSubscribers(input: {threadId: $id, memberIds: []}) { userErrors { field code } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        add["data"]["addThreadSubscribers"]["userErrors"][0]["code"],
        "NOT_FOUND"
    );
}

#[tokio::test]
async fn a_contact_token_sees_only_the_threads_it_subscribes_to() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let mine = create_thread(&app, json!({ "name": "mine", "memberIds": [ada] })).await;
    let other = create_thread(&app, json!({ "name": "other" })).await;
    let token = app.contact_token(&ada).await;
    assert!(token.starts_with("cfc_"));

    let listed = app
        .graphql_as(
            &token,
            "{ viewer { contact { id } } threads { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await;
    assert_eq!(listed["data"]["viewer"]["contact"]["id"], ada.as_str());
    assert_eq!(
        listed["data"]["threads"],
        json!({ "totalCount": 1, "edges": [{ "node": { "name": "mine" } }] })
    );
    let hidden = app
        .graphql_as(
            &token,
            "query($id: ID!) { thread(id: $id) { id } node(id: $id) { id } }",
            json!({ "id": other }),
        )
        .await;
    assert_eq!(hidden["data"], json!({ "thread": null, "node": null }));

    let sent = send(&app, &token, &mine, "hello from the widget").await;
    assert_eq!(sent["userErrors"], json!([]));
    let refused = send(&app, &token, &other, "sneaky").await;
    assert_eq!(refused["userErrors"][0]["code"], "NOT_FOUND");

    let forbidden = app
        .graphql_as(
            &token,
            &create_mutation(),
            json!({ "input": { "name": "x" } }),
        )
        .await;
    assert_eq!(forbidden["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let contacts = app
        .graphql_as(&token, "{ contacts { totalCount } }", json!({}))
        .await;
    assert_eq!(contacts["errors"][0]["extensions"]["code"], "FORBIDDEN");
}

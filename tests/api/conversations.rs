//! Conversations (Monica-style logged conversations with a contact) and
//! their messages: create, list, paginate, update, delete, tenancy and access.

use serde_json::{Value, json};

use crate::helpers::{
    BACKWARDS, Connection, FORWARDS, TestApp, assert_fields, at, created_id, error_code,
    node_strings,
};

const CONVERSATION: &str = "id contact { id firstName } channel happenedAt createdAt updatedAt";

const MESSAGE: &str = "id text type author { id } writtenAt writtenByMe conversation { id }";

fn create_query() -> String {
    format!(
        "mutation($input: CreateConversationInput!) {{
  createConversation(input: $input) {{ conversation {{ {CONVERSATION} }} userErrors {{ field code }} }}
}}"
    )
}

fn update_query() -> String {
    format!(
        "mutation($input: UpdateConversationInput!) {{
  updateConversation(input: $input) {{ conversation {{ {CONVERSATION} }} userErrors {{ field code }} }}
}}"
    )
}

const DELETE: &str = "mutation($id: ID!) {
  deleteConversation(input: {id: $id}) { deletedConversationId userErrors { field code } }
}";

fn add_message_query() -> String {
    format!(
        "mutation($input: AddConversationMessageInput!) {{
  addConversationMessage(input: $input) {{
    message {{ {MESSAGE} }}
    conversation {{ id createdAt updatedAt }}
    userErrors {{ field code }}
  }}
}}"
    )
}

fn update_message_query() -> String {
    format!(
        "mutation($input: UpdateConversationMessageInput!) {{
  updateConversationMessage(input: $input) {{
    message {{ {MESSAGE} }}
    conversation {{ id updatedAt }}
    userErrors {{ field code }}
  }}
}}"
    )
}

const DELETE_MESSAGE: &str = "mutation($id: ID!) {
  deleteConversationMessage(input: {id: $id}) {
    deletedMessageId
    conversation { id }
    userErrors { field code }
  }
}";

const MESSAGES: &str = "query($id: ID!) {
  conversation(id: $id) {
    messages(first: 50) { edges { node { id text writtenAt writtenByMe } } }
  }
}";

const LIST: &str =
    "query($contactId: ID, $first: Int, $after: String, $last: Int, $before: String) {
  conversations(contactId: $contactId, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { id happenedAt } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

const CONTACT_LIST: &str =
    "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  contact(id: $id) {
    conversations(first: $first, after: $after, last: $last, before: $before) {
      totalCount
      edges { cursor node { id happenedAt } }
      pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    }
  }
}";

fn not_found(field: &str) -> Value {
    json!([{ "field": ["input", field], "code": "NOT_FOUND" }])
}

async fn create(app: &TestApp, contact_id: &str, channel: &str, happened_at: &str) -> Value {
    app.data(
        &create_query(),
        json!({ "input": { "contactId": contact_id, "channel": channel, "happenedAt": happened_at } }),
    )
    .await["createConversation"]
        .clone()
}

async fn create_id(app: &TestApp, contact_id: &str, happened_at: &str) -> String {
    let payload = create(app, contact_id, "PHONE", happened_at).await;
    created_id(&payload, "conversation")
}

/// A contact Ada, and a phone conversation with her on 2024-03-15; their ids.
async fn ada_and_a_conversation(app: &TestApp) -> (String, String) {
    let contact = app.create_contact("Ada", None).await;
    let conversation = create_id(app, &contact, "2024-03-15").await;
    (contact, conversation)
}

async fn update(app: &TestApp, input: Value) -> Value {
    let data = app.data(&update_query(), json!({ "input": input })).await;
    data["updateConversation"].clone()
}

async fn update_message(app: &TestApp, input: Value) -> Value {
    let data = app
        .data(&update_message_query(), json!({ "input": input }))
        .await;
    data["updateConversationMessage"].clone()
}

async fn add_message(
    app: &TestApp,
    conversation_id: &str,
    content: &str,
    written_at: &str,
    written_by_me: bool,
) -> Value {
    app.data(
        &add_message_query(),
        json!({ "input": {
            "conversationId": conversation_id,
            "content": content,
            "writtenAt": written_at,
            "writtenByMe": written_by_me,
        } }),
    )
    .await["addConversationMessage"]
        .clone()
}

async fn add_message_id(app: &TestApp, conversation_id: &str, content: &str) -> String {
    let payload = add_message(app, conversation_id, content, "2024-03-15T10:00:00Z", true).await;
    created_id(&payload, "message")
}

async fn total_count(app: &TestApp) -> i64 {
    app.data("{ conversations { totalCount } }", json!({}))
        .await["conversations"]["totalCount"]
        .as_i64()
        .expect("count")
}

/// The messages of a conversation, as `(text, writtenAt, writtenByMe)`.
async fn messages(app: &TestApp, conversation_id: &str) -> Vec<Value> {
    let data = app.data_of(MESSAGES, &conversation_id).await;
    data["conversation"]["messages"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            json!([
                e["node"]["text"],
                e["node"]["writtenAt"],
                e["node"]["writtenByMe"]
            ])
        })
        .collect()
}

fn ids(connection: &Value) -> Vec<String> {
    node_strings(connection, "id")
}

#[tokio::test]
async fn create_logs_a_conversation_with_a_contact() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let payload = create(&app, &contact, "WHATSAPP", "2024-03-15").await;
    assert_eq!(payload["userErrors"], json!([]));
    let conversation = &payload["conversation"];
    let id = conversation["id"].as_str().expect("id");
    assert!(id.starts_with("conv_"), "{id}");
    assert_eq!(
        conversation["contact"],
        json!({ "id": contact, "firstName": "Ada" })
    );
    assert_eq!(conversation["channel"], "WHATSAPP");
    assert_eq!(conversation["happenedAt"], "2024-03-15");
    assert!(conversation["createdAt"].is_string());
    assert_eq!(conversation["createdAt"], conversation["updatedAt"]);

    // Reads back the same through `conversation`, `node` and the list.
    let fetched = app
        .data(
            &format!(
                "query($id: ID!) {{
  conversation(id: $id) {{ {CONVERSATION} }}
  node(id: $id) {{ id ... on Conversation {{ channel happenedAt }} }}
  conversations {{ totalCount nodes {{ id }} }}
}}"
            ),
            json!({ "id": id }),
        )
        .await;
    assert_eq!(&fetched["conversation"], conversation);
    assert_eq!(
        fetched["node"],
        json!({ "id": id, "channel": "WHATSAPP", "happenedAt": "2024-03-15" })
    );
    assert_eq!(
        fetched["conversations"],
        json!({ "totalCount": 1, "nodes": [{ "id": id }] })
    );
}

#[tokio::test]
async fn create_for_an_unknown_contact_is_not_found_and_writes_nothing() {
    let app = TestApp::spawn().await;
    app.create_contact("Ada", None).await;
    for contact_id in ["ctc_doesnotexist", "garbage"] {
        let payload = create(&app, contact_id, "EMAIL", "2024-03-15").await;
        assert_eq!(
            payload,
            json!({ "conversation": null, "userErrors": not_found("contactId") }),
            "{contact_id}"
        );
    }
    assert_eq!(total_count(&app).await, 0);
}

#[tokio::test]
async fn lists_newest_first_and_filters_by_contact() {
    let app = TestApp::spawn().await;
    let [ada, grace, lonely] = app.create_contacts(["Ada", "Grace", "Alan"]).await;
    let mut created = Vec::new();
    for (contact, day) in [(&ada, 1), (&grace, 2), (&ada, 3), (&ada, 4), (&grace, 5)] {
        created.push(create_id(&app, contact, &format!("2024-01-0{day}")).await);
    }
    let [a1, g1, a2, a3, g2] = <[String; 5]>::try_from(created).expect("five");

    let all = app.data(LIST, json!({})).await;
    assert_eq!(all["conversations"]["totalCount"], 5);
    assert_eq!(
        ids(&all["conversations"]),
        [&g2, &a3, &a2, &g1, &a1].map(String::clone),
        "newest first"
    );
    assert_eq!(
        all["conversations"]["pageInfo"]["hasNextPage"], false,
        "{all}"
    );

    let of_ada = app.data(LIST, json!({ "contactId": ada })).await;
    assert_eq!(of_ada["conversations"]["totalCount"], 3);
    assert_eq!(
        ids(&of_ada["conversations"]),
        [&a3, &a2, &a1].map(String::clone)
    );
    assert_eq!(
        of_ada["conversations"]["edges"][0]["node"]["happenedAt"],
        "2024-01-04"
    );
    let of_grace = app.data(LIST, json!({ "contactId": grace })).await;
    assert_eq!(of_grace["conversations"]["totalCount"], 2);
    assert_eq!(
        ids(&of_grace["conversations"]),
        [&g2, &g1].map(String::clone)
    );

    // `Contact.conversations` gives the same.
    let through_contact = app.data_of(CONTACT_LIST, &ada).await;
    assert_eq!(
        through_contact["contact"]["conversations"],
        of_ada["conversations"]
    );
    let through_grace = app.data_of(CONTACT_LIST, &grace).await;
    assert_eq!(
        through_grace["contact"]["conversations"],
        of_grace["conversations"]
    );

    // A contact without conversations, and a contactId that names nothing.
    let empty = json!({
        "totalCount": 0,
        "edges": [],
        "pageInfo": { "hasNextPage": false, "hasPreviousPage": false, "startCursor": null, "endCursor": null }
    });
    let of_lonely = app.data(LIST, json!({ "contactId": lonely })).await;
    assert_eq!(of_lonely["conversations"], empty);
    let through_lonely = app.data_of(CONTACT_LIST, &lonely).await;
    assert_eq!(through_lonely["contact"]["conversations"], empty);
    for nobody in ["ctc_nobody", "garbage"] {
        let of_nobody = app.data(LIST, json!({ "contactId": nobody })).await;
        assert_eq!(of_nobody["conversations"], empty, "{nobody}");
    }
}

#[tokio::test]
async fn pages_forwards_and_backwards() {
    let app = TestApp::spawn().await;
    let [ada, grace] = app.create_contacts(["Ada", "Grace"]).await;
    let mut of_ada = Vec::new();
    let mut everything = Vec::new();
    for day in 1..=8 {
        let id = create_id(&app, &ada, &format!("2024-02-{day:02}")).await;
        of_ada.push(id.clone());
        everything.push(id);
        if day % 3 == 0 {
            everything.push(create_id(&app, &grace, &format!("2024-03-{day:02}")).await);
        }
    }
    of_ada.reverse();
    everything.reverse();
    assert_eq!(everything.len(), 10);

    // All conversations, 3 at a time; one contact's, 3 at a time, through
    // `conversations(contactId:)`; and through `Contact.conversations`, 2 at a time.
    let cases = [
        (LIST, json!({}), &["conversations"][..], 3, &everything, 4),
        (
            LIST,
            json!({ "contactId": ada }),
            &["conversations"][..],
            3,
            &of_ada,
            3,
        ),
        (
            CONTACT_LIST,
            json!({ "id": ada }),
            &["contact", "conversations"][..],
            2,
            &of_ada,
            4,
        ),
    ];
    for (query, variables, path, size, expected, pages) in cases {
        let connection = Connection {
            query,
            variables,
            path,
            field: "id",
        };
        for direction in [&FORWARDS, &BACKWARDS] {
            let total = expected.len() as i64;
            let (seen, pages_seen) = connection.walk(&app, direction, size, total).await;
            assert_eq!(&seen, expected, "{path:?} {size} at a time");
            assert_eq!(pages_seen, pages, "{path:?} {size} at a time");
        }
    }

    // An edge's cursor continues from that edge, both ways.
    let first = app
        .data(LIST, json!({ "contactId": ada, "first": 3 }))
        .await;
    let cursor = first["conversations"]["edges"][1]["cursor"].clone();
    let next = app
        .data(
            LIST,
            json!({ "contactId": ada, "first": 2, "after": cursor }),
        )
        .await;
    assert_eq!(ids(&next["conversations"]), of_ada[2..4].to_vec());
    let previous = app
        .data(
            LIST,
            json!({ "contactId": ada, "last": 5, "before": cursor }),
        )
        .await;
    assert_eq!(ids(&previous["conversations"]), of_ada[..1].to_vec());
    assert_eq!(
        previous["conversations"]["pageInfo"]["hasPreviousPage"],
        false
    );
    assert_eq!(previous["conversations"]["pageInfo"]["hasNextPage"], true);
}

#[tokio::test]
async fn update_changes_happened_at_and_channel() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let created = create(&app, &contact, "PHONE", "2024-03-15").await;
    let id = created["conversation"]["id"].as_str().expect("id");
    let created_at = created["conversation"]["createdAt"].clone();

    let moved = update(&app, json!({ "id": id, "happenedAt": "2024-02-29" })).await;
    assert_eq!(moved["userErrors"], json!([]));
    assert_eq!(moved["conversation"]["id"], id);
    assert_eq!(moved["conversation"]["happenedAt"], "2024-02-29");
    assert_eq!(moved["conversation"]["channel"], "PHONE");
    assert_eq!(moved["conversation"]["createdAt"], created_at);
    assert_ne!(moved["conversation"]["updatedAt"], created_at);

    let rechanneled = update(&app, json!({ "id": id, "channel": "TELEGRAM" })).await;
    assert_eq!(rechanneled["userErrors"], json!([]));
    assert_eq!(rechanneled["conversation"]["channel"], "TELEGRAM");
    assert_eq!(rechanneled["conversation"]["happenedAt"], "2024-02-29");

    let both = update(
        &app,
        json!({ "id": id, "channel": "EMAIL", "happenedAt": "2023-12-31" }),
    )
    .await;
    assert_eq!(both["conversation"]["channel"], "EMAIL");
    assert_eq!(both["conversation"]["happenedAt"], "2023-12-31");

    // Nothing to change: returned as it is.
    let unchanged = update(&app, json!({ "id": id })).await;
    assert_eq!(unchanged, both);

    let read = app
        .data_of(
            "query($id: ID!) { conversation(id: $id) { channel happenedAt contact { id } } }",
            &id,
        )
        .await;
    assert_eq!(
        read["conversation"],
        json!({ "channel": "EMAIL", "happenedAt": "2023-12-31", "contact": { "id": contact } })
    );

    let missing = update(
        &app,
        json!({ "id": "conv_doesnotexist", "happenedAt": "2024-01-01" }),
    )
    .await;
    assert_eq!(
        missing,
        json!({ "conversation": null, "userErrors": not_found("id") })
    );
}

#[tokio::test]
async fn messages_are_added_listed_updated_and_deleted() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let created = create(&app, &contact, "SMS", "2024-03-15").await;
    let conversation_id = created["conversation"]["id"]
        .as_str()
        .expect("id")
        .to_string();

    let first = add_message(
        &app,
        &conversation_id,
        "Hello Ada",
        "2024-03-15T10:30:00Z",
        true,
    )
    .await;
    let first_id = created_id(&first, "message");
    let message = &first["message"];
    assert!(first_id.starts_with("msg_"), "{first_id}");
    assert_eq!(
        message,
        &json!({
            "id": first_id,
            "text": "Hello Ada",
            "type": "TEXT",
            "author": null,
            "writtenAt": "2024-03-15T10:30:00+00:00",
            "writtenByMe": true,
            "conversation": { "id": conversation_id },
        })
    );
    assert_eq!(first["conversation"]["id"], conversation_id);
    assert_eq!(
        first["conversation"]["createdAt"],
        created["conversation"]["createdAt"]
    );
    assert_ne!(
        first["conversation"]["updatedAt"], created["conversation"]["updatedAt"],
        "adding a message touches the conversation"
    );

    // A time with an offset is kept as the same instant, in UTC.
    let (text, at) = ("Hi! Long time no see.", "2024-03-15T12:45:00+02:00");
    let second = add_message(&app, &conversation_id, text, at, false).await;
    let second_id = created_id(&second, "message");
    assert_eq!(second["message"]["writtenAt"], "2024-03-15T10:45:00+00:00");
    assert_eq!(second["message"]["writtenByMe"], false);

    // Listed in the order they were added.
    assert_eq!(
        messages(&app, &conversation_id).await,
        vec![
            json!(["Hello Ada", "2024-03-15T10:30:00+00:00", true]),
            json!(["Hi! Long time no see.", "2024-03-15T10:45:00+00:00", false]),
        ]
    );
    let node = app.data_of("query($id: ID!) { node(id: $id) { id ... on Message { text conversation { id } thread { id } } } }", &first_id).await;
    assert_eq!(
        node["node"],
        json!({ "id": first_id, "text": "Hello Ada", "conversation": { "id": conversation_id }, "thread": null })
    );

    // Content only: the rest is left alone.
    let edited = update_message(&app, json!({ "id": first_id, "content": "Hello, Ada!" })).await;
    assert_eq!(edited["userErrors"], json!([]));
    let kept = json!({ "text": "Hello, Ada!", "writtenAt": "2024-03-15T10:30:00+00:00", "writtenByMe": true });
    assert_fields(&edited["message"], kept);
    assert_eq!(edited["conversation"]["id"], conversation_id);
    assert_ne!(
        edited["conversation"]["updatedAt"], second["conversation"]["updatedAt"],
        "editing a message touches the conversation"
    );

    // When and who, not the content.
    let when_and_who =
        json!({ "id": first_id, "writtenAt": "2024-03-14T09:00:00Z", "writtenByMe": false });
    let reattributed = update_message(&app, when_and_who).await;
    assert_eq!(reattributed["userErrors"], json!([]));
    let moved = json!({ "text": "Hello, Ada!", "writtenAt": "2024-03-14T09:00:00+00:00", "writtenByMe": false });
    assert_fields(&reattributed["message"], moved);
    assert_eq!(
        messages(&app, &conversation_id).await,
        vec![
            json!(["Hello, Ada!", "2024-03-14T09:00:00+00:00", false]),
            json!(["Hi! Long time no see.", "2024-03-15T10:45:00+00:00", false]),
        ]
    );

    let deleted = app.data_of(DELETE_MESSAGE, &second_id).await;
    assert_eq!(
        deleted["deleteConversationMessage"],
        json!({ "deletedMessageId": second_id, "conversation": { "id": conversation_id }, "userErrors": [] })
    );
    assert_eq!(
        messages(&app, &conversation_id).await,
        vec![json!(["Hello, Ada!", "2024-03-14T09:00:00+00:00", false])]
    );
    let again = app.data_of(DELETE_MESSAGE, &second_id).await;
    assert_eq!(
        again["deleteConversationMessage"],
        json!({ "deletedMessageId": null, "conversation": null, "userErrors": not_found("id") })
    );
    let gone = app
        .data_of("query($id: ID!) { node(id: $id) { id } }", &second_id)
        .await;
    assert_eq!(gone["node"], Value::Null);
}

#[tokio::test]
async fn blank_message_content_is_required_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let (_, conversation_id) = ada_and_a_conversation(&app).await;

    for blank in ["", "   \n\t"] {
        let payload =
            add_message(&app, &conversation_id, blank, "2024-03-15T10:00:00Z", true).await;
        assert_eq!(
            payload,
            json!({
                "message": null,
                "conversation": null,
                "userErrors": [{ "field": ["input", "content"], "code": "REQUIRED" }],
            }),
            "{blank:?}"
        );
    }
    assert_eq!(messages(&app, &conversation_id).await, Vec::<Value>::new());

    // An update to blank content is refused too, and changes nothing.
    let id = add_message_id(&app, &conversation_id, "Hello").await;
    let blank = json!({ "id": id, "content": " ", "writtenByMe": false });
    let refused = update_message(&app, blank).await;
    assert_eq!(
        refused,
        json!({
            "message": null,
            "conversation": null,
            "userErrors": [{ "field": ["input", "content"], "code": "REQUIRED" }],
        })
    );
    assert_eq!(
        messages(&app, &conversation_id).await,
        vec![json!(["Hello", "2024-03-15T10:00:00+00:00", true])]
    );
}

#[tokio::test]
async fn unknown_and_thread_message_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let (_, conversation_id) = ada_and_a_conversation(&app).await;

    // Adding to a conversation that does not exist.
    let payload = add_message(
        &app,
        "conv_doesnotexist",
        "Hello",
        "2024-03-15T10:00:00Z",
        true,
    )
    .await;
    assert_eq!(
        payload,
        json!({ "message": null, "conversation": null, "userErrors": not_found("conversationId") })
    );

    // A message id that names nothing.
    for id in ["msg_doesnotexist", "garbage"] {
        let updated = update_message(&app, json!({ "id": id, "content": "x" })).await;
        assert_eq!(
            updated,
            json!({ "message": null, "conversation": null, "userErrors": not_found("id") }),
            "{id}"
        );
        let deleted = app.data_of(DELETE_MESSAGE, &id).await;
        assert_eq!(
            deleted["deleteConversationMessage"],
            json!({ "deletedMessageId": null, "conversation": null, "userErrors": not_found("id") }),
            "{id}"
        );
    }

    // A thread's message is not a conversation message.
    let thread = app
        .data(
            "mutation { createThread(input: {name: \"x\"}) { thread { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert_eq!(thread["createThread"]["userErrors"], json!([]));
    let thread_id = thread["createThread"]["thread"]["id"].clone();
    let sent = app
        .data(
            "mutation($threadId: ID!) { sendMessage(input: {threadId: $threadId, text: \"in a thread\"}) { message { id } userErrors { code } } }",
            json!({ "threadId": thread_id }),
        )
        .await;
    assert_eq!(sent["sendMessage"]["userErrors"], json!([]));
    let thread_message = sent["sendMessage"]["message"]["id"]
        .as_str()
        .expect("message id")
        .to_string();
    let hijack = json!({ "id": thread_message, "content": "hijacked", "writtenByMe": true });
    let updated = update_message(&app, hijack).await;
    assert_eq!(
        updated,
        json!({ "message": null, "conversation": null, "userErrors": not_found("id") })
    );
    let deleted = app.data_of(DELETE_MESSAGE, &thread_message).await;
    assert_eq!(
        deleted["deleteConversationMessage"],
        json!({ "deletedMessageId": null, "conversation": null, "userErrors": not_found("id") })
    );
    // The thread message is untouched, and no conversation gained it.
    let read = app.data_of("query($id: ID!) { node(id: $id) { ... on Message { text writtenAt writtenByMe conversation { id } thread { id } } } }", &thread_message).await;
    assert_eq!(
        read["node"],
        json!({ "text": "in a thread", "writtenAt": null, "writtenByMe": null, "conversation": null, "thread": { "id": thread_id } })
    );
    assert_eq!(messages(&app, &conversation_id).await, Vec::<Value>::new());
}

#[tokio::test]
async fn delete_removes_the_conversation_and_its_messages() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let doomed = create_id(&app, &contact, "2024-03-15").await;
    let kept = create_id(&app, &contact, "2024-03-16").await;
    let first = add_message_id(&app, &doomed, "one").await;
    let second = add_message_id(&app, &doomed, "two").await;
    let survivor = add_message_id(&app, &kept, "kept").await;

    app.assert_deleted_once(
        DELETE,
        &doomed,
        "deleteConversation",
        "deletedConversationId",
    )
    .await;

    let read = app
        .data(
            "query($id: ID!, $first: ID!, $second: ID!, $survivor: ID!) {
  conversation(id: $id) { id }
  node(id: $id) { id }
  first: node(id: $first) { id }
  second: node(id: $second) { id }
  survivor: node(id: $survivor) { id }
  conversations { totalCount nodes { id } }
}",
            json!({ "id": doomed, "first": first, "second": second, "survivor": survivor }),
        )
        .await;
    assert_eq!(
        read,
        json!({
            "conversation": null,
            "node": null,
            "first": null,
            "second": null,
            "survivor": { "id": survivor },
            "conversations": { "totalCount": 1, "nodes": [{ "id": kept }] },
        })
    );

    // Its messages cannot be reached through the message mutations either.
    let edit = update_message(&app, json!({ "id": first, "content": "back?" })).await;
    assert_eq!(edit["userErrors"], not_found("id"));
    let added = add_message(&app, &doomed, "late", "2024-03-15T10:00:00Z", true).await;
    assert_eq!(added["userErrors"], not_found("conversationId"));
}

#[tokio::test]
async fn deleting_the_contact_deletes_its_conversations() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let grace = app.create_contact("Grace", None).await;
    let conversation = create_id(&app, &ada, "2024-03-15").await;
    let message = add_message_id(&app, &conversation, "hello").await;
    let other = create_id(&app, &grace, "2024-03-15").await;

    let deleted = app.data_of("mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId userErrors { code } } }", &ada).await;
    assert_eq!(
        deleted["deleteContact"],
        json!({ "deletedContactId": ada, "userErrors": [] })
    );
    let read = app
        .data(
            "query($id: ID!, $message: ID!) { conversation(id: $id) { id } node(id: $message) { id } conversations { totalCount nodes { id } } }",
            json!({ "id": conversation, "message": message }),
        )
        .await;
    let left = json!({ "totalCount": 1, "nodes": [{ "id": other }] });
    assert_eq!(
        read,
        json!({ "conversation": null, "node": null, "conversations": left })
    );
}

#[tokio::test]
async fn another_organization_sees_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let other = app.create_organization("globex").await;
    let (contact, conversation) = ada_and_a_conversation(&app).await;
    let message = add_message_id(&app, &conversation, "private").await;

    let read = app
        .graphql_as(
            &other,
            "query($id: ID!, $contact: ID!, $message: ID!) {
  conversations { totalCount edges { node { id } } }
  ofContact: conversations(contactId: $contact) { totalCount edges { node { id } } }
  conversation(id: $id) { id }
  node(id: $id) { id }
  message: node(id: $message) { id }
}",
            json!({ "id": conversation, "contact": contact, "message": message }),
        )
        .await;
    assert_eq!(
        read,
        json!({ "data": {
            "conversations": { "totalCount": 0, "edges": [] },
            "ofContact": { "totalCount": 0, "edges": [] },
            "conversation": null,
            "node": null,
            "message": null,
        } })
    );

    let mutations = [
        (
            "mutation($id: ID!) { r: createConversation(input: {contactId: $id, channel: SMS, happenedAt: \"2024-01-01\"}) { conversation { id } userErrors { field code } } }".to_string(),
            json!({ "id": contact }),
            json!({ "conversation": null, "userErrors": not_found("contactId") }),
        ),
        (
            "mutation($id: ID!) { r: updateConversation(input: {id: $id, happenedAt: \"2020-01-01\", channel: OTHER}) { conversation { id } userErrors { field code } } }".to_string(),
            json!({ "id": conversation }),
            json!({ "conversation": null, "userErrors": not_found("id") }),
        ),
        (
            "mutation($id: ID!) { r: deleteConversation(input: {id: $id}) { deletedConversationId userErrors { field code } } }".to_string(),
            json!({ "id": conversation }),
            json!({ "deletedConversationId": null, "userErrors": not_found("id") }),
        ),
        (
            "mutation($id: ID!) { r: addConversationMessage(input: {conversationId: $id, content: \"intrusion\", writtenAt: \"2024-01-01T00:00:00Z\", writtenByMe: true}) { message { id } conversation { id } userErrors { field code } } }".to_string(),
            json!({ "id": conversation }),
            json!({ "message": null, "conversation": null, "userErrors": not_found("conversationId") }),
        ),
        (
            "mutation($id: ID!) { r: updateConversationMessage(input: {id: $id, content: \"intrusion\"}) { message { id } conversation { id } userErrors { field code } } }".to_string(),
            json!({ "id": message }),
            json!({ "message": null, "conversation": null, "userErrors": not_found("id") }),
        ),
        (
            "mutation($id: ID!) { r: deleteConversationMessage(input: {id: $id}) { deletedMessageId conversation { id } userErrors { field code } } }".to_string(),
            json!({ "id": message }),
            json!({ "deletedMessageId": null, "conversation": null, "userErrors": not_found("id") }),
        ),
    ];
    for (query, variables, expected) in mutations {
        let body = app.graphql_as(&other, &query, variables).await;
        assert_eq!(body, json!({ "data": { "r": expected } }), "{query}");
    }

    // Untouched for its owner.
    let own = app.data_of("query($id: ID!) { conversation(id: $id) { happenedAt channel messages(first: 10) { nodes { text } } } conversations { totalCount } }", &conversation).await;
    assert_eq!(
        own,
        json!({
            "conversation": { "happenedAt": "2024-03-15", "channel": "PHONE", "messages": { "nodes": [{ "text": "private" }] } },
            "conversations": { "totalCount": 1 },
        })
    );
}

#[tokio::test]
async fn a_contact_token_is_forbidden() {
    let app = TestApp::spawn().await;
    let (contact, conversation) = ada_and_a_conversation(&app).await;
    let message = add_message_id(&app, &conversation, "about you").await;
    let token = app.contact_token(&contact).await;

    // async-graphql drops a field whose resolver fails (or all of `data` at
    // the root) rather than setting it to null: assert only that nothing leaks.
    let add = json!({ "conversationId": conversation, "content": "hi", "writtenAt": "2024-01-01T00:00:00Z", "writtenByMe": false });
    let create = json!({ "contactId": contact, "channel": "SMS", "happenedAt": "2024-01-01" });
    let refused: [(String, Value, &[&str]); 5] = [
        (
            "{ conversations { totalCount edges { node { id } } } }".to_string(),
            json!({}),
            &["conversations"],
        ),
        (
            "query($id: ID!) { conversation(id: $id) { id } }".to_string(),
            json!({ "id": conversation }),
            &["conversation"],
        ),
        // Not through its own contact either.
        (
            "query($id: ID!) { contact(id: $id) { id conversations { totalCount } } }".to_string(),
            json!({ "id": contact }),
            &["contact", "conversations"],
        ),
        (
            create_query(),
            json!({ "input": create }),
            &["createConversation"],
        ),
        (
            add_message_query(),
            json!({ "input": add }),
            &["addConversationMessage"],
        ),
    ];
    for (query, variables, path) in refused {
        let body = app.graphql_as(&token, &query, variables).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
        assert_eq!(body["errors"][0]["path"], json!(path), "{query}: {body}");
        let field = format!("/data/{}", path.join("/"));
        assert_eq!(at(&body, &field), &Value::Null, "{query}: {body}");
    }

    // Nor as nodes.
    let nodes = app
        .graphql_as(
            &token,
            "query($id: ID!, $message: ID!) { node(id: $id) { id } message: node(id: $message) { id } }",
            json!({ "id": conversation, "message": message }),
        )
        .await;
    assert_eq!(nodes, json!({ "data": { "node": null, "message": null } }));

    // Nothing was written.
    assert_eq!(total_count(&app).await, 1);
    assert_eq!(
        messages(&app, &conversation).await,
        vec![json!(["about you", "2024-03-15T10:00:00+00:00", true])]
    );
}

//! A seeded fuzz test over the whole request pipeline: valid operations
//! with hostile variables, mangled documents and raw bodies. Whatever a
//! client sends, the answer is a coded client error or data, never a 5xx
//! or `INTERNAL_SERVER_ERROR`, and the server keeps serving.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Requests sent; each seed gives the same sequence.
const CASES: usize = 1_500;
const SEED: u64 = 0x00c0_ffee;

/// Operations over every input type, with the variables they take.
fn operations(thread: &str, contact: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id text } userErrors { code } } }",
            json!({ "input": { "threadId": thread, "text": "hi", "clientMessageId": "c1", "mediaUrls": ["https://a.test/x.png"] } }),
        ),
        (
            "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } userErrors { code } } }",
            json!({ "input": { "firstName": "Ada", "lastName": "L", "email": "ada@x.test", "phone": "+14155550100" } }),
        ),
        (
            "mutation($input: CreateThreadInput!) { createThread(input: $input) { thread { id } userErrors { code } } }",
            json!({ "input": { "name": "T", "resourceId": "r1", "channel": "WHATSAPP", "identifier": "+14155550111", "memberIds": [contact] } }),
        ),
        (
            "mutation($input: UpdateThreadInput!) { updateThread(input: $input) { thread { id } userErrors { code } } }",
            json!({ "input": { "id": thread, "name": "T2", "isResolved": true, "contactId": contact } }),
        ),
        (
            "mutation($input: CreateConversationInput!) { createConversation(input: $input) { conversation { id } userErrors { code } } }",
            json!({ "input": { "contactId": contact, "channel": "PHONE", "happenedAt": "2026-11-20" } }),
        ),
        (
            "query($first: Int, $after: String, $filter: ThreadsFilter) { threads(first: $first, after: $after, filter: $filter) { totalCount edges { cursor node { id name } } } }",
            json!({ "first": 10, "after": null, "filter": { "ids": [thread], "createdAt": { "start": "2026-09-01T00:00:00Z", "end": "2026-11-30T00:00:00Z" } } }),
        ),
        (
            "query($last: Int, $before: String, $id: ID!) { thread(id: $id) { messages(last: $last, before: $before) { edges { cursor node { text } } } } }",
            json!({ "last": 5, "before": null, "id": thread }),
        ),
        (
            "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
            json!({ "ids": [thread, contact] }),
        ),
        (
            "query($search: String, $first: Int) { contacts(search: $search, first: $first) { totalCount } }",
            json!({ "search": "ada", "first": 3 }),
        ),
        (
            "query($channel: ChannelKind!, $identifier: String!) { threadByChannel(channel: $channel, identifier: $identifier) { id } }",
            json!({ "channel": "SMS", "identifier": "+14155550100" }),
        ),
    ]
}

/// A hostile replacement for a JSON value.
fn hostile_value(rng: &mut StdRng) -> Value {
    let long = "é".repeat(rng.random_range(1..40_000));
    let choices: Vec<Value> = vec![
        json!("a\u{0}b"),
        json!("\u{0}"),
        json!(""),
        json!(" "),
        json!(long),
        json!("2026-13-45"),
        json!("2026-02-30T25:61:00Z"),
        json!("not a date"),
        json!("thrd_\u{0}"),
        json!("ctc_999999999999999999999"),
        json!("msg_-1"),
        json!("azE6OTk5OTk5OTk5OTk5OTk5OTk5OTk5"),
        json!("k1:1"),
        json!("%%%"),
        json!("\u{fffd}\u{202e}\u{1F600}"),
        json!(99_999_999_999i64),
        json!(-2_147_483_649i64),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(1e308),
        json!(true),
        json!(null),
        json!([]),
        json!([null, 1, "x"]),
        json!({}),
        json!({ "nested": { "deeper": [1, 2, { "x": "\u{0}" }] } }),
        json!(vec!["thrd_a"; 1_001]),
        json!("WHATSAPP"),
        json!("NOT_AN_ENUM"),
    ];
    choices[rng.random_range(0..choices.len())].clone()
}

/// Replaces one value somewhere inside `value` (or drops or adds a key).
fn mutate(value: &mut Value, rng: &mut StdRng) {
    match value {
        Value::Object(fields) if !fields.is_empty() && rng.random_bool(0.8) => {
            let keys: Vec<String> = fields.keys().cloned().collect();
            let key = &keys[rng.random_range(0..keys.len())];
            match rng.random_range(0..10) {
                0 => {
                    fields.remove(key);
                }
                1 => {
                    fields.insert("unknownField".to_string(), hostile_value(rng));
                }
                _ => {
                    if let Some(inner) = fields.get_mut(key) {
                        mutate(inner, rng);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() && rng.random_bool(0.7) => {
            let index = rng.random_range(0..items.len());
            mutate(&mut items[index], rng);
        }
        other => *other = hostile_value(rng),
    }
}

/// Mangles a document's text.
fn mangle(query: &str, rng: &mut StdRng) -> String {
    let chars: Vec<char> = query.chars().collect();
    let at = rng.random_range(0..chars.len());
    let insert = [
        "\u{0}",
        "{",
        "}",
        "[",
        "]",
        "(",
        ")",
        "\"",
        "\"\"\"",
        "\\u0000",
        "\\ud800",
        "$",
        "...",
        "#",
        "@skip(if: $x)",
        "first: 99999999999",
        "__schema { types { name } }",
        "\u{fffd}",
    ];
    let mut out: String = chars[..at].iter().collect();
    match rng.random_range(0..3) {
        0 => {} // truncated
        1 => {
            out.push_str(insert[rng.random_range(0..insert.len())]);
            out.extend(chars[at..].iter());
        }
        _ => {
            out.push_str(insert[rng.random_range(0..insert.len())]);
            out.extend(chars[(at + 1).min(chars.len())..].iter());
        }
    }
    out
}

/// Raw bodies that are not what the server expects.
fn raw_body(rng: &mut StdRng) -> String {
    let bodies = [
        r#"{"query": "{ viewer { organization { id } } }", "variables": {"x": "\ud800"}}"#
            .to_string(),
        r#"{"query": "{ viewer { organization { id } } }", "variables": "nope"}"#.to_string(),
        r#"{"query": 12}"#.to_string(),
        r#"{"query": "{ viewer { organization { id } } }", "operationName": "\u0000"}"#.to_string(),
        r#"["batch"]"#.to_string(),
        "{".to_string(),
        String::new(),
        format!(
            r#"{{"query": "{{ a }}", "variables": {}1{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        ),
        format!(
            r#"{{"query": "{{ a }}", "extensions": {}}}"#,
            "{\"a\":".repeat(200) + "1" + &"}".repeat(200)
        ),
    ];
    bodies[rng.random_range(0..bodies.len())].clone()
}

#[tokio::test]
async fn no_request_is_a_server_error() {
    let app = TestApp::spawn_with_token_rate(100_000, 100_000).await;
    let thread = app.create_thread(json!({ "name": "Fuzz" })).await;
    let contact = app.create_contact("Ada", Some("+14155550100")).await;
    let operations = operations(&thread, &contact);
    let mut rng = StdRng::seed_from_u64(SEED);
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for case in 0..CASES {
        let (query, variables) = &operations[rng.random_range(0..operations.len())];
        let body = match rng.random_range(0..10) {
            0 => raw_body(&mut rng),
            1 | 2 => {
                json!({ "query": mangle(query, &mut rng), "variables": variables }).to_string()
            }
            _ => {
                let mut variables = variables.clone();
                for _ in 0..rng.random_range(1..4) {
                    mutate(&mut variables, &mut rng);
                }
                json!({ "query": query, "variables": variables }).to_string()
            }
        };
        let (status, response) = app.post_raw(Some(&app.token), body.clone()).await;
        *statuses.entry(status).or_default() += 1;
        let shown: String = body.chars().take(400).collect();
        assert!(
            status < 500,
            "case {case}: status {status} for {shown} -> {response}"
        );
        let internal = response["errors"].as_array().is_some_and(|errors| {
            errors.iter().any(|e| {
                e["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
                    || e["extensions"]["code"].is_null()
            })
        });
        assert!(!internal, "case {case}: {shown} -> {response}");
    }
    println!("statuses: {statuses:?}");
    let data = app
        .data("{ viewer { organization { name } } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["organization"]["name"], "acme");
}

//! Compiled reads: a query `graphql::compiled` can answer is one SQL
//! statement, with the same data the resolvers give.
//!
//! Every test server runs with `CONFAB_COMPILED_READS=verify`, which answers
//! each compilable query both ways and fails it on any difference; these
//! tests cover the shapes and values that could differ.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const THREAD: &str = "query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) {
  __typename
  thread(id: $id) {
    __typename id name subject createdAt updatedAt
    newest: messages(last: 2) { edges { node { id } } }
    messages(first: $first, after: $after, last: $last, before: $before) {
      __typename
      edges { __typename cursor node { __typename id text createdAt author { __typename id name } } }
      pageInfo { __typename hasPreviousPage hasNextPage startCursor endCursor }
    }
  }
}";

/// A thread with messages by a user, an api key and contacts with and
/// without a last name; returns the app, the thread id and a contact token.
async fn thread_with_every_kind_of_author(app: &TestApp) -> (String, String) {
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let created = app
        .data(
            "mutation { createContact(input: {firstName: \"Grace\", lastName: \"Hopper\"}) { contact { id } } }",
            json!({}),
        )
        .await;
    let grace = created["createContact"]["contact"]["id"].clone();
    let ada = app.create_contact("Ada", None).await;
    let thread = app
        .create_thread(json!({ "name": "compiled", "memberIds": [agent_id, grace, ada] }))
        .await;
    let grace_token = app.contact_token(grace.as_str().unwrap_or_default()).await;
    let ada_token = app.contact_token(&ada).await;
    for (token, text) in [
        (&agent, "from the agent"),
        (&app.token, "from the api key"),
        (&grace_token, "from Grace, \"quoted\" \\ and\nnew line"),
        (&ada_token, "from Ada: ünïcödé ✓"),
    ] {
        app.send_message(token, &thread, text).await;
    }
    (thread, grace_token)
}

async fn thread_query(app: &TestApp, token: &str, variables: Value) -> Value {
    let body = app.graphql_as(token, THREAD, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"].clone()
}

#[tokio::test]
async fn compiled_thread_reads_match_the_resolvers() {
    let app = TestApp::spawn().await;
    let (thread, contact_token) = thread_with_every_kind_of_author(&app).await;
    let token = app.token.clone();
    // Each of these is answered both ways (verify mode) and compared.
    let all = thread_query(&app, &token, json!({ "id": thread, "first": 10 })).await;
    let edges = all["thread"]["messages"]["edges"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // Joins are meta messages without an author.
    let authors: Vec<&str> = edges
        .iter()
        .filter_map(|edge| edge["node"]["author"]["name"].as_str())
        .collect();
    assert_eq!(authors, ["Test User", "default", "Grace Hopper", "Ada"]);
    let cursor = app
        .data(
            "query($id: ID!) { thread(id: $id) { messages(first: 2) { pageInfo { endCursor } } } }",
            json!({ "id": thread }),
        )
        .await["thread"]["messages"]["pageInfo"]["endCursor"]
        .clone();
    for variables in [
        json!({ "id": thread, "first": 2, "after": cursor }),
        json!({ "id": thread, "last": 1, "before": cursor }),
        json!({ "id": thread, "last": 3 }),
        json!({ "id": thread, "first": 100 }),
        json!({ "id": thread, "last": 100, "before": cursor }),
        json!({ "id": "thrd_nothing", "first": 1 }),
    ] {
        thread_query(&app, &token, variables).await;
    }
    // Walking the pages forwards and back by the compiled cursors.
    let mut after = Value::Null;
    let mut seen = 0;
    loop {
        let page = thread_query(
            &app,
            &token,
            json!({ "id": thread, "first": 3, "after": after }),
        )
        .await;
        let messages = &page["thread"]["messages"];
        seen += messages["edges"].as_array().map_or(0, Vec::len);
        if messages["pageInfo"]["hasNextPage"] != json!(true) {
            let before = messages["pageInfo"]["startCursor"].clone();
            thread_query(
                &app,
                &token,
                json!({ "id": thread, "last": 2, "before": before }),
            )
            .await;
            break;
        }
        after = messages["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, edges.len());
    let body = app
        .graphql_as(&token, APOLLO, json!({ "id": thread }))
        .await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    // A contact sees its own thread, and not one it is not in.
    thread_query(&app, &contact_token, json!({ "id": thread, "first": 5 })).await;
    let other = app.create_thread(json!({ "name": "not Grace's" })).await;
    let hidden = thread_query(&app, &contact_token, json!({ "id": other, "first": 5 })).await;
    assert_eq!(hidden["thread"], Value::Null);
}

/// As Apollo Client writes queries: fragments, `__typename` and `id` twice.
const APOLLO: &str = "query Thread($id: ID!) { thread(id: $id) { __typename id ...ThreadView } }
fragment ThreadView on Thread { __typename id name messages(last: 3) { edges { cursor node { ...MessageView } } pageInfo { hasPreviousPage startCursor } } }
fragment MessageView on Message { __typename id text createdAt author { ... on Subscriber { __typename id name } } }";

const INBOX: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  threads(first: $first, after: $after, last: $last, before: $before) {
    __typename
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { __typename cursor node {
      id name unreadCount updatedAt
      subscribers { id name unreadCount }
      everyone: subscribers(includeArchived: true) { name }
      messages(last: 1) { edges { node { text createdAt author { name } } } }
    } }
  }
}";

#[tokio::test]
async fn compiled_inbox_reads_match_the_resolvers() {
    let app = TestApp::spawn().await;
    let (thread, contact_token) = thread_with_every_kind_of_author(&app).await;
    let agent = app.create_user("acme", "second@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    for n in 0..3 {
        let other = app
            .create_thread(json!({ "name": format!("other {n}"), "memberIds": [agent_id] }))
            .await;
        app.send_message(&app.token, &other, &format!("hello {n}"))
            .await;
    }
    app.send_message(&app.token, &thread, "unread by the contacts")
        .await;
    let inbox = async |token: &str, variables: Value| {
        let body = app.graphql_as(token, INBOX, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"]["threads"]["edges"].clone()
    };
    let token = app.token.clone();
    for reader in [&token, &agent, &contact_token] {
        inbox(reader, json!({ "first": 20 })).await;
        inbox(reader, json!({ "last": 2 })).await;
    }
    let unread = inbox(&agent, json!({ "first": 1 })).await;
    assert_eq!(unread[0]["node"]["unreadCount"], 1, "{unread}");
    let cursor = app
        .data(
            "{ threads(first: 2) { pageInfo { endCursor } } }",
            json!({}),
        )
        .await["threads"]["pageInfo"]["endCursor"]
        .clone();
    inbox(&token, json!({ "first": 2, "after": cursor })).await;
    inbox(&token, json!({ "last": 1, "before": cursor })).await;
    let contacts_view = inbox(&contact_token, json!({ "first": 20 })).await;
    assert_eq!(contacts_view.as_array().map(Vec::len), Some(1));
}

/// Once the resolvers have answered a document, it is answered by one
/// statement (the token is cached), and the answer is the same, lists of
/// threads too (`all` is accepted and means `on`).
#[tokio::test]
async fn an_answered_document_is_one_statement_after() {
    let app = TestApp::spawn_with(|config| config.compiled_reads = "all".into()).await;
    let (thread, _) = thread_with_every_kind_of_author(&app).await;
    let token = app.token.clone();
    // The resolvers answer first; then one statement gives the same answer.
    let twice = async |query: &str, variables: Value| {
        let resolved = app.graphql_as(&token, query, variables.clone()).await;
        assert!(resolved.get("errors").is_none(), "{resolved}");
        let before = app.statements.get();
        let compiled = app.graphql_as(&token, query, variables).await;
        assert_eq!(app.statements.get() - before, 1, "{query}");
        assert_eq!(compiled, resolved);
    };
    twice(THREAD, json!({ "id": thread, "last": 50 })).await;
    twice(INBOX, json!({ "first": 20 })).await;
    twice(APOLLO, json!({ "id": thread })).await;
    // A query with a field the compiler does not know stays on the resolvers.
    let other = "query($id: ID!) { thread(id: $id) { id contact { id } subscribers { name } } }";
    for _ in 0..2 {
        let before = app.statements.get();
        app.graphql_as(&token, other, json!({ "id": thread })).await;
        assert!(app.statements.get() - before > 1);
    }
}

/// Random selections over what compiles (aliases, typenames, pages and
/// cursors from earlier answers, variables or literals), each answered both
/// ways by the verify mode: every one must come back without errors.
#[tokio::test]
async fn generated_selections_match_the_resolvers() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    let app = TestApp::spawn().await;
    let (thread, contact_token) = thread_with_every_kind_of_author(&app).await;
    let mut rng = StdRng::seed_from_u64(0x5eed_c0de);
    let mut cursors: Vec<String> = Vec::new();
    let readers = [app.token.clone(), contact_token];
    for round in 0..150 {
        let page = page_arguments(&mut rng, &cursors);
        let message = message_fields(&mut rng);
        let messages = format!(
            "{}messages{page} {{ {} }}",
            alias(&mut rng, "ms"),
            connection(&mut rng, &message)
        );
        let thread_fields = pick(
            &mut rng,
            &[
                "id",
                "name",
                "subject",
                "createdAt",
                "updatedAt",
                "unreadCount",
                "__typename",
                "subscribers { id name unreadCount }",
                "subscribers(includeArchived: true) { name __typename }",
            ],
        );
        let node = format!("{} {messages}", thread_fields.join(" "));
        let query = if rng.random_bool(0.5) {
            format!("query($id: ID!) {{ __typename t: thread(id: $id) {{ {node} }} }}")
        } else {
            let list_page = page_arguments(&mut rng, &cursors);
            format!(
                "{{ threads{list_page} {{ {} }} }}",
                connection(&mut rng, &node)
            )
        };
        let reader = &readers[round % readers.len()];
        let body = app
            .graphql_as(reader, &query, json!({ "id": thread }))
            .await;
        assert!(body.get("errors").is_none(), "{query}: {body}");
        collect_cursors(&body, &mut cursors);
    }
    assert!(cursors.len() > 10, "cursors were handed out");
}

fn alias(rng: &mut impl rand::Rng, name: &str) -> String {
    if rng.random_bool(0.3) {
        format!("{name}: ")
    } else {
        String::new()
    }
}

/// A random non-empty subset of `fields`, in a random order.
fn pick(rng: &mut impl rand::Rng, fields: &[&str]) -> Vec<String> {
    use rand::seq::SliceRandom;
    let mut chosen: Vec<String> = fields
        .iter()
        .filter(|_| rng.random_bool(0.5))
        .map(|f| f.to_string())
        .collect();
    if chosen.is_empty() {
        chosen.push(fields[0].to_string());
    }
    chosen.shuffle(rng);
    // The same field twice would clash on its key; give repeats aliases.
    chosen
        .iter()
        .enumerate()
        .map(|(n, f)| format!("f{n}: {f}"))
        .collect()
}

fn message_fields(rng: &mut impl rand::Rng) -> String {
    pick(
        rng,
        &[
            "id",
            "text",
            "createdAt",
            "__typename",
            "author { id name __typename }",
            "author { name }",
        ],
    )
    .join(" ")
}

/// `edges { cursor node { … } }` and `pageInfo`, some of them.
fn connection(rng: &mut impl rand::Rng, node: &str) -> String {
    let mut parts = vec![format!(
        "edges {{ {} node {{ {node} }} }}",
        if rng.random_bool(0.5) {
            "cursor __typename"
        } else {
            ""
        }
    )];
    if rng.random_bool(0.6) {
        parts.push("pageInfo { hasNextPage hasPreviousPage startCursor endCursor }".into());
    }
    if rng.random_bool(0.2) {
        parts.push("__typename".into());
    }
    parts.join(" ")
}

/// `(first: n)`, `(last: n, before: "…")`, … with cursors seen before.
fn page_arguments(rng: &mut impl rand::Rng, cursors: &[String]) -> String {
    let size = rng.random_range(1..6);
    let cursor = (!cursors.is_empty() && rng.random_bool(0.5))
        .then(|| cursors[rng.random_range(0..cursors.len())].clone());
    match (rng.random_bool(0.5), cursor) {
        (true, None) => format!("(first: {size})"),
        (true, Some(cursor)) => format!("(first: {size}, after: \"{cursor}\")"),
        (false, None) => format!("(last: {size})"),
        (false, Some(cursor)) => format!("(last: {size}, before: \"{cursor}\")"),
    }
}

/// Every cursor in an answer.
fn collect_cursors(value: &Value, cursors: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("cursor" | "startCursor" | "endCursor", Value::String(c)) => {
                        cursors.push(c.clone())
                    }
                    _ => collect_cursors(inner, cursors),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_cursors(item, cursors)),
        _ => {}
    }
}

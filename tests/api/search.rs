//! Search: messages by full text (phrases, OR, exclusion, highlights, rank
//! order, keyset pages, filters, per-organization language), threads and
//! contacts by name (typos, partial words), and who may find what.

use serde_json::{Value, json};

use crate::helpers::{TestApp, at, error_code};

const SEARCH: &str = "query($query: String!, $filter: SearchMessagesFilter, $first: Int, $after: String, $last: Int, $before: String) {
  searchMessages(query: $query, filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { rank snippet message { id text type } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

/// Runs a search as `token`; returns the whole response.
async fn search_as(app: &TestApp, token: &str, query: &str, variables: Value) -> Value {
    let mut variables = variables;
    variables["query"] = json!(query);
    app.graphql_as(token, SEARCH, variables).await
}

/// The connection a search answers, asserting no errors.
async fn search(app: &TestApp, query: &str, variables: Value) -> Value {
    let body = search_as(app, &app.token, query, variables).await;
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    body["data"]["searchMessages"].clone()
}

/// The texts of the messages found, in order.
fn texts(connection: &Value) -> Vec<String> {
    let edges = connection["edges"].as_array().cloned().unwrap_or_default();
    edges
        .iter()
        .map(|edge| {
            at(edge, "/node/message/text")
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect()
}

async fn texts_for(app: &TestApp, query: &str) -> Vec<String> {
    texts(&search(app, query, json!({})).await)
}

/// Logs an email conversation with `contact` holding one message; returns
/// the conversation's id.
async fn logged_email(app: &TestApp, contact: &str, content: &str, written_by_me: bool) -> Value {
    let conversation = app
        .data(
            "mutation($input: CreateConversationInput!) { createConversation(input: $input) { conversation { id } } }",
            json!({ "input": { "contactId": contact, "channel": "EMAIL", "happenedAt": "2024-03-15" } }),
        )
        .await["createConversation"]["conversation"]["id"]
        .clone();
    let message = json!({ "conversationId": conversation, "content": content,
        "writtenAt": "2024-03-15T10:00:00Z", "writtenByMe": written_by_me });
    app.data(
        "mutation($input: AddConversationMessageInput!) { addConversationMessage(input: $input) { message { id } } }",
        json!({ "input": message }),
    )
    .await;
    conversation
}

/// Sends each text to the thread as `token`, in order.
async fn send_all(app: &TestApp, token: &str, thread: &str, texts: &[&str]) -> Vec<String> {
    let mut ids = Vec::new();
    for text in texts {
        ids.push(app.send_message(token, thread, text).await);
    }
    ids
}

#[tokio::test]
async fn phrases_or_and_exclusion_are_web_search_syntax_and_matches_are_highlighted() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "zoo" })).await;
    let token = app.token.clone();
    send_all(
        &app,
        &token,
        &thread,
        &[
            "the quick brown fox jumps",
            "a brown dog sleeps",
            "quick thinking, brown paper",
        ],
    )
    .await;

    let mut brown = texts_for(&app, "brown").await;
    brown.sort();
    assert_eq!(
        brown,
        [
            "a brown dog sleeps",
            "quick thinking, brown paper",
            "the quick brown fox jumps"
        ]
    );
    assert_eq!(
        texts_for(&app, "\"quick brown\"").await,
        ["the quick brown fox jumps"],
        "a quoted phrase keeps its word order"
    );
    let mut either = texts_for(&app, "fox OR dog").await;
    either.sort();
    assert_eq!(either, ["a brown dog sleeps", "the quick brown fox jumps"]);
    let mut without = texts_for(&app, "brown -dog").await;
    without.sort();
    assert_eq!(
        without,
        ["quick thinking, brown paper", "the quick brown fox jumps"]
    );
    assert_eq!(
        texts_for(&app, "BROWN Fox").await,
        ["the quick brown fox jumps"]
    );
    assert!(texts_for(&app, "giraffe").await.is_empty());
    // Query syntax characters never fail: at worst nothing matches.
    for odd in ["-", "\"", "!:*()&|'", "OR", "a <-> b", "-brown"] {
        let found = search(&app, odd, json!({})).await;
        assert!(found["edges"].is_array(), "{odd:?}: {found}");
    }

    let hit = search(&app, "\"quick brown\"", json!({})).await["edges"][0]["node"].clone();
    assert_eq!(
        hit["snippet"],
        "the <mark>quick</mark> <mark>brown</mark> fox jumps"
    );
    assert!(hit["rank"].as_f64().is_some_and(|rank| rank > 0.0), "{hit}");
    assert_eq!(hit["message"]["type"], "TEXT");
}

#[tokio::test]
async fn hits_come_best_first_then_newest_and_cursors_page_stably() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "orchard" })).await;
    let token = app.token.clone();
    let bodies = [
        "apple",
        "apple apple apple",
        "apple pie",
        "apple apple",
        "apple crumble",
        "apple tart",
        "apple apple apple apple apple",
    ];
    send_all(&app, &token, &thread, &bodies).await;

    let all = search(&app, "apple", json!({ "first": 100 })).await;
    let ranks: Vec<f64> = all["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| edge["node"]["rank"].as_f64().expect("rank"))
        .collect();
    assert_eq!(ranks.len(), bodies.len());
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "best first: {ranks:?}"
    );
    let order = texts(&all);
    assert_eq!(order[0], "apple apple apple apple apple");
    assert_eq!(order[1], "apple apple apple");
    // Equal ranks (one "apple" each, same length): newest first.
    let tied: Vec<&String> = order
        .iter()
        .filter(|t| ["apple tart", "apple crumble", "apple pie"].contains(&t.as_str()))
        .collect();
    assert_eq!(tied, ["apple tart", "apple crumble", "apple pie"]);

    // Forwards two at a time gives the same order, and cursors are stable:
    // a better hit arriving mid-walk does not shift the pages after it.
    let mut walked = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let page = search(&app, "apple", json!({ "first": 2, "after": after })).await;
        walked.extend(texts(&page));
        assert_eq!(page["pageInfo"]["hasPreviousPage"], pages > 0, "{page}");
        pages += 1;
        if pages == 1 {
            send_all(
                &app,
                &token,
                &thread,
                &["apple apple apple apple apple apple"],
            )
            .await;
        }
        if page["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
        assert!(pages < 10, "runaway pagination");
    }
    assert_eq!(walked, order);
    assert_eq!(pages, 4);

    // Backwards from the end: the same hits (with the newcomer first).
    let mut backwards = Vec::new();
    let mut before = Value::Null;
    loop {
        let page = search(&app, "apple", json!({ "last": 3, "before": before })).await;
        let mut seen = texts(&page);
        seen.append(&mut backwards);
        backwards = seen;
        if page["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = page["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(backwards[0], "apple apple apple apple apple apple");
    assert_eq!(backwards[1..], order[..]);
}

#[tokio::test]
async fn filters_narrow_by_thread_conversation_author_time_and_type() {
    let app = TestApp::spawn().await;
    let ada = app.create_contact("Ada", None).await;
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    let first = app
        .create_thread(json!({ "name": "first", "memberIds": [agent_id, ada] }))
        .await;
    let second = app.create_thread(json!({ "name": "second" })).await;
    let token = app.token.clone();
    send_all(&app, &agent, &first, &["invoice from the agent"]).await;
    send_all(&app, &token, &first, &["invoice from the key"]).await;
    send_all(&app, &token, &second, &["invoice in the second thread"]).await;
    let conversation = logged_email(&app, &ada, "invoice by email", false).await;

    let filtered = async |filter: Value| {
        let mut found = texts(&search(&app, "invoice", json!({ "filter": filter })).await);
        found.sort();
        found
    };
    assert_eq!(filtered(json!({})).await.len(), 4);
    assert_eq!(
        filtered(json!({ "threadId": first })).await,
        ["invoice from the agent", "invoice from the key"]
    );
    assert_eq!(
        filtered(json!({ "conversationId": conversation })).await,
        ["invoice by email"]
    );
    assert_eq!(
        filtered(json!({ "authorId": agent_id })).await,
        ["invoice from the agent"]
    );
    let author = app
        .data(
            "query($id: ID!) { thread(id: $id) { messages(first: 10) { edges { node { text author { id } } } } } }",
            json!({ "id": first }),
        )
        .await;
    let agent_subscriber = author["thread"]["messages"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|edge| edge["node"]["text"] == "invoice from the agent")
        .map(|edge| edge["node"]["author"]["id"].clone())
        .expect("the agent's message");
    assert_eq!(
        filtered(json!({ "authorId": agent_subscriber })).await,
        ["invoice from the agent"]
    );
    let now = chrono::Utc::now();
    let interval = |start: chrono::DateTime<chrono::Utc>, end: chrono::DateTime<chrono::Utc>| json!({ "start": start.to_rfc3339(), "end": end.to_rfc3339() });
    let hour = chrono::Duration::hours(1);
    assert_eq!(
        filtered(json!({ "createdAt": interval(now - hour, now + hour) }))
            .await
            .len(),
        4
    );
    assert!(
        filtered(json!({ "createdAt": interval(now - hour * 48, now - hour * 24) }))
            .await
            .is_empty()
    );
    assert_eq!(
        filtered(json!({ "type": "TEXT", "threadId": second }))
            .await
            .len(),
        1
    );
    assert!(filtered(json!({ "type": "META" })).await.is_empty());
    // Ids of nothing (or of another kind) match nothing; they are not errors.
    assert!(
        filtered(json!({ "threadId": "thrd_nope" }))
            .await
            .is_empty()
    );
    assert!(filtered(json!({ "authorId": "usr_nope" })).await.is_empty());

    let reversed = search_as(
        &app,
        &token,
        "invoice",
        json!({ "filter": { "createdAt": interval(now, now - hour) } }),
    )
    .await;
    assert_eq!(error_code(&reversed), "BAD_USER_INPUT");
    assert_eq!(
        reversed["errors"][0]["extensions"]["reason"],
        "INTERVAL_REVERSED"
    );
}

#[tokio::test]
async fn each_organization_searches_in_its_own_language() {
    let app = TestApp::spawn().await;
    let globex = app.create_organization("globex").await;
    app.set_search_language("globex", "english").await;
    let texts = ["She was running late", "The mice ran"];
    let ours = app.create_thread(json!({ "name": "simple" })).await;
    let token = app.token.clone();
    send_all(&app, &token, &ours, &texts).await;
    let theirs = app
        .create_thread_as(&globex, json!({ "name": "english" }))
        .await;
    send_all(&app, &globex, &theirs, &texts).await;

    let found_by = async |token: &str, query: &str| {
        let body = search_as(&app, token, query, json!({})).await;
        texts_of_body(&body)
    };
    // English stems "running" and "run" alike; simple keeps words as typed.
    assert_eq!(found_by(&globex, "run").await, ["She was running late"]);
    assert!(found_by(&token, "run").await.is_empty());
    assert_eq!(found_by(&token, "running").await, ["She was running late"]);
    // English drops stop words: a query of only those matches nothing.
    assert!(found_by(&globex, "the").await.is_empty());
    assert_eq!(found_by(&token, "the").await, ["The mice ran"]);

    // Switching the language re-indexes the messages already written.
    app.set_search_language("acme", "english").await;
    assert_eq!(found_by(&token, "runs").await, ["She was running late"]);
    let snippet = search_as(&app, &token, "run", json!({})).await;
    assert_eq!(
        at(&snippet, "/data/searchMessages/edges/0/node/snippet"),
        "She was <mark>running</mark> late"
    );
}

/// A query of common words ranks only the newest `WINDOW` (500) matches:
/// an older, better match is left out, and pages end with the window.
#[tokio::test]
async fn common_words_rank_the_newest_five_hundred_matches() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "orchard" })).await;
    // 502 messages an hour apart, oldest first: the oldest is the best
    // match for "apple", and the only one with "banana".
    app.execute_sql(&format!(
        "INSERT INTO messages (organization_id, public_id, thread_id, kind, body, created_at)
         SELECT t.organization_id, 'msg_window' || g, t.id, 'text',
                CASE g WHEN 1 THEN 'apple apple apple banana' WHEN 502 THEN 'apple apple cider'
                       ELSE 'apple pie ' || g END,
                now() - (503 - g) * interval '1 hour'
         FROM threads t CROSS JOIN generate_series(1, 502) g WHERE t.public_id = '{thread}'"
    ))
    .await;

    let mut found = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = search(&app, "apple", json!({ "first": 100, "after": after })).await;
        found.extend(texts(&page));
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(found.len(), 500);
    assert_eq!(found[0], "apple apple cider", "best of the newest 500");
    assert!(!found.iter().any(|text| text.contains("banana")));
    assert!(
        !found.contains(&"apple pie 2".to_string()),
        "the 501st newest"
    );
    assert!(
        found.contains(&"apple pie 3".to_string()),
        "the 500th newest"
    );
    // A rarer query ranks all of its matches, however old.
    assert_eq!(
        texts_for(&app, "apple banana").await,
        ["apple apple apple banana"]
    );
}

fn texts_of_body(body: &Value) -> Vec<String> {
    assert!(body.get("errors").is_none(), "unexpected errors: {body}");
    texts(&body["data"]["searchMessages"])
}

#[tokio::test]
async fn tenants_and_contacts_find_only_what_they_may_read() {
    let app = TestApp::spawn().await;
    let globex = app.create_organization("globex").await;
    let [ada, bob] = app.create_contacts(["Ada", "Bob"]).await;
    let adas = app
        .create_thread(json!({ "name": "Ada's secret plans", "memberIds": [ada] }))
        .await;
    let bobs = app
        .create_thread(json!({ "name": "Bob's secret plans", "memberIds": [bob] }))
        .await;
    let token = app.token.clone();
    send_all(&app, &token, &adas, &["secret for Ada"]).await;
    send_all(&app, &token, &bobs, &["secret for Bob"]).await;
    let theirs = app
        .create_thread_as(&globex, json!({ "name": "Globex secret plans" }))
        .await;
    send_all(&app, &globex, &theirs, &["secret of another tenant"]).await;
    let conversation = logged_email(&app, &ada, "secret logged about Ada", true).await;

    let mut staff = texts_of_body(&search_as(&app, &token, "secret", json!({})).await);
    staff.sort();
    assert_eq!(
        staff,
        [
            "secret for Ada",
            "secret for Bob",
            "secret logged about Ada"
        ]
    );
    assert_eq!(
        texts_of_body(&search_as(&app, &globex, "secret", json!({})).await),
        ["secret of another tenant"]
    );
    // Another tenant's ids name nothing here.
    let across = search_as(
        &app,
        &token,
        "secret",
        json!({ "filter": { "threadId": theirs } }),
    )
    .await;
    assert!(texts_of_body(&across).is_empty());

    let ada_token = app.contact_token(&ada).await;
    assert_eq!(
        texts_of_body(&search_as(&app, &ada_token, "secret", json!({})).await),
        ["secret for Ada"],
        "a contact finds its own threads' messages, not Bob's nor conversations"
    );
    let bobs_thread = json!({ "filter": { "threadId": bobs } });
    assert!(texts_of_body(&search_as(&app, &ada_token, "secret", bobs_thread).await).is_empty());
    let conversations = json!({ "filter": { "conversationId": conversation } });
    let refused = search_as(&app, &ada_token, "secret", conversations).await;
    assert_eq!(error_code(&refused), "FORBIDDEN");

    let names =
        "query($q: String!) { searchThreads(query: $q) { edges { node { thread { name } } } } }";
    let threads_for = async |token: &str| {
        let body = app
            .graphql_as(token, names, json!({ "q": "secret plans" }))
            .await;
        let mut found: Vec<String> = body["data"]["searchThreads"]["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|edge| {
                at(edge, "/node/thread/name")
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        threads_for(&token).await,
        ["Ada's secret plans", "Bob's secret plans"]
    );
    assert_eq!(threads_for(&ada_token).await, ["Ada's secret plans"]);
    assert_eq!(threads_for(&globex).await, ["Globex secret plans"]);
    let contacts = app
        .graphql_as(
            &ada_token,
            "{ searchContacts(query: \"Bob\") { edges { cursor } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&contacts), "FORBIDDEN");
}

#[tokio::test]
async fn names_are_found_with_typos_and_partial_words() {
    let app = TestApp::spawn().await;
    let contacts = [
        ("Margaret", "Hamilton"),
        ("Grace", "Hopper"),
        ("Katherine", "Johnson"),
    ];
    for (first, last) in contacts {
        app.data(
            "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }",
            json!({ "input": { "firstName": first, "lastName": last } }),
        )
        .await;
    }
    app.create_thread(json!({ "name": "Support escalations" }))
        .await;
    app.create_thread(json!({ "name": "Billing" })).await;
    let globex = app.create_organization("globex").await;
    let body = app
        .graphql_as(
            &globex,
            "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }",
            json!({ "input": { "firstName": "Margaret", "lastName": "Thatcher" } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");

    let contacts_for = async |query: &str| {
        let data = app
            .data(
                "query($q: String!) { searchContacts(query: $q, first: 10) { edges { node { score contact { completeName } } } } }",
                json!({ "q": query }),
            )
            .await;
        data["searchContacts"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|edge| {
                at(edge, "/node/contact/completeName")
                    .as_str()
                    .unwrap_or("?")
                    .to_string()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        contacts_for("Margret").await,
        ["Margaret Hamilton"],
        "a typo"
    );
    assert_eq!(contacts_for("hamiltn").await, ["Margaret Hamilton"]);
    assert_eq!(
        contacts_for("Hopp").await,
        ["Grace Hopper"],
        "a partial word"
    );
    assert_eq!(
        contacts_for("katherine johnson").await,
        ["Katherine Johnson"]
    );
    assert!(contacts_for("Zebedee").await.is_empty());

    let threads = app
        .data(
            "{ searchThreads(query: \"suport\") { edges { cursor node { score thread { name } } } } }",
            json!({}),
        )
        .await;
    let edges = threads["searchThreads"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 1, "{threads}");
    assert_eq!(edges[0]["node"]["thread"]["name"], "Support escalations");
    let score = edges[0]["node"]["score"].as_f64().unwrap_or_default();
    assert!(score > 0.3 && score <= 1.0, "{score}");
}

#[tokio::test]
async fn bad_search_input_is_a_coded_client_error() {
    let app = TestApp::spawn().await;
    let thread_cursor = {
        app.create_thread(json!({ "name": "x" })).await;
        let data = app
            .data("{ threads(first: 1) { edges { cursor } } }", json!({}))
            .await;
        data["threads"]["edges"][0]["cursor"].clone()
    };
    let long = "a".repeat(257);
    let encode = |text: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    };
    let cases: Vec<(&str, Value, &str)> = vec![
        ("", json!({}), "REQUIRED"),
        ("   ", json!({}), "REQUIRED"),
        (&long, json!({}), "TOO_LONG"),
        ("a", json!({ "first": 0 }), "PAGE_SIZE_OUT_OF_RANGE"),
        ("a", json!({ "first": 101 }), "PAGE_SIZE_OUT_OF_RANGE"),
        (
            "a",
            json!({ "first": 1, "last": 1 }),
            "PAGE_SIZE_OUT_OF_RANGE",
        ),
        ("a", json!({ "after": "garbage" }), "INVALID_CURSOR"),
        ("a", json!({ "after": thread_cursor }), "INVALID_CURSOR"),
        (
            "a",
            json!({ "before": encode(r#"v2:[[{"s":"1"},{"i":2}],3]"#) }),
            "INVALID_CURSOR",
        ),
        (
            "a",
            json!({ "after": encode(r#"v2:[[{"t":"2026-01-01T00:00:00Z"},{"t":"2026-01-01T00:00:00Z"}],3]"#) }),
            "INVALID_CURSOR",
        ),
    ];
    for (query, variables, reason) in cases {
        let body = search_as(&app, &app.token, query, variables.clone()).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["reason"], reason,
            "{variables}: {body}"
        );
    }
    let name_cursor = app
        .graphql(
            "query($after: String) { searchThreads(query: \"x\", after: $after) { edges { cursor } } }",
            json!({ "after": encode(r#"v2:[[{"i":1},{"t":"2026-01-01T00:00:00Z"}],3]"#) }),
        )
        .await;
    assert_eq!(
        name_cursor["errors"][0]["extensions"]["reason"],
        "INVALID_CURSOR"
    );
}

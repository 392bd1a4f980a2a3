//! No N+1: the SQL statements a nested query runs do not grow with its page sizes.

use serde_json::json;

use crate::helpers::TestApp;

const NESTED: &str = "query($threads: Int!, $messages: Int!) {
  threads(first: $threads) {
    edges { node {
      id name contact { completeName }
      subscribers { name }
      unreadCount
      messages(first: $messages) {
        edges { node { text author { name user { email } } reactions { emoji count viewerReacted } } }
      }
    } }
  }
}";

/// Threads, each with a contact, two subscribers and reacted-to messages.
async fn seed(app: &TestApp, threads: usize, messages: usize) {
    let agent = app.create_user("acme", "agent@acme.test").await;
    let agent_id = app.user_id(&agent).await;
    for t in 0..threads {
        let contact = app.create_contact(&format!("Contact {t}"), None).await;
        let created = app
            .data(
                "mutation($input: CreateThreadInput!) { createThread(input: $input) { thread { id } } }",
                json!({ "input": { "name": format!("t{t}"), "contactId": contact, "memberIds": [agent_id] } }),
            )
            .await;
        let thread = created["createThread"]["thread"]["id"].clone();
        for m in 0..messages {
            let sent = app
                .graphql_as(
                    &agent,
                    "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } } }",
                    json!({ "input": { "threadId": thread, "text": format!("m{m}") } }),
                )
                .await;
            let message = sent["data"]["sendMessage"]["message"]["id"].clone();
            app.graphql_as(
                &agent,
                "mutation($input: ReactionInput!) { addReaction(input: $input) { message { id } } }",
                json!({ "input": { "messageId": message, "emoji": "👍" } }),
            )
            .await;
        }
    }
}

async fn statements_for(app: &TestApp, threads: usize, messages: usize) -> u64 {
    let before = app.statements.get();
    let data = app
        .data(NESTED, json!({ "threads": threads, "messages": messages }))
        .await;
    let after = app.statements.get();
    let edges = data["threads"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), threads);
    for edge in edges {
        let messages_seen = edge["node"]["messages"]["edges"]
            .as_array()
            .map_or(0, Vec::len);
        assert_eq!(messages_seen, messages, "page of messages");
    }
    after - before
}

/// What one nested query may cost, whatever its page sizes: authentication,
/// the page of threads, then one batch per loader per nesting level
/// (contacts; subscribers; messages; subscribers' users; authors; reactions;
/// authors' users; reactors). Batches of one loader at neighbouring levels
/// sometimes merge, so the count can be lower, never higher.
const STATEMENT_BOUND: u64 = 10;

#[tokio::test]
async fn nested_pages_cost_a_fixed_number_of_statements_at_any_size() {
    let app = TestApp::spawn().await;
    seed(&app, 10, 10).await;
    for (threads, messages) in [(1, 1), (3, 2), (10, 10), (10, 1), (1, 10)] {
        let statements = statements_for(&app, threads, messages).await;
        // With one statement per row this would be at least threads x messages.
        assert!(
            statements <= STATEMENT_BOUND,
            "{threads} threads x {messages} messages took {statements} statements"
        );
    }
}

const SEARCH: &str = "query($first: Int!) {
  searchMessages(query: \"m1 OR m2 OR m3\", first: $first) {
    edges { node { rank snippet message { text author { name user { email } } thread { name } } } }
  }
}";

/// A page of search hits is one statement (after reading the
/// organization's language), however large; its nested fields cost a fixed
/// number of batches.
#[tokio::test]
async fn a_page_of_search_hits_is_a_fixed_number_of_statements() {
    let app = TestApp::spawn().await;
    seed(&app, 3, 4).await;
    let count = async |query: &str, first: i64| {
        // Authenticate first, so the token cache holds the key.
        app.data("{ viewer { organization { id } } }", json!({}))
            .await;
        let before = app.statements.get();
        let data = app.data(query, json!({ "first": first })).await;
        let after = app.statements.get();
        let hits = data["searchMessages"]["edges"]
            .as_array()
            .map_or(0, Vec::len);
        (hits, after - before)
    };
    let bare = "query($first: Int!) { searchMessages(query: \"m1 OR m2\", first: $first) { edges { node { rank snippet message { id text } } } } }";
    // The organization's language and newest hour, PostgreSQL's estimate of
    // the matches (which picks the window), the page.
    assert_eq!(count(bare, 1).await, (1, 3));
    assert_eq!(count(bare, 6).await, (6, 3));
    let (hits, small) = count(SEARCH, 1).await;
    assert_eq!(hits, 1);
    let (hits, large) = count(SEARCH, 9).await;
    assert_eq!(hits, 9);
    // The language, the estimate and the hits, then one batch per loader
    // (authors, their users, threads); batches sometimes split across
    // levels, never per hit.
    for statements in [small, large] {
        assert!(statements <= 7, "{statements} statements");
    }
}

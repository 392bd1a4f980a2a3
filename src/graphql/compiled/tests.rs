//! Unit tests of the compiler: what compiles, what stays on the resolvers.
//! (The differential tests against the resolvers are in tests/api/compiled.rs.)

use super::*;

fn compiled(query: &str, variables: serde_json::Value) -> Option<Fields<Root>> {
    let document = async_graphql::parser::parse_query(query).ok()?;
    compile(&document, None, &Variables::from_json(variables))
}

#[test]
fn the_thread_query_compiles_with_aliases_and_variables() {
    let roots = compiled(
        "query($id: ID!, $n: Int) { t: thread(id: $id) { id title: name messages(last: $n) { edges { node { id text createdAt author { name } } } } } }",
        serde_json::json!({ "id": "thrd_a", "n": 5 }),
    );
    let Some(roots) = roots else {
        panic!("compiles");
    };
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].0, "t");
    let Root::Thread { public_id, fields } = &roots[0].1 else {
        panic!("a thread");
    };
    assert_eq!(public_id, "thrd_a");
    assert_eq!(fields[1], ("title".to_string(), ThreadField::Name));
    let ThreadField::Messages { page, .. } = &fields[2].1 else {
        panic!("messages");
    };
    assert_eq!(page.size, 5);
}

#[test]
fn the_inbox_query_compiles() {
    let inbox = "query($first: Int, $after: String, $last: Int, $before: String) { threads(first: $first, after: $after, last: $last, before: $before) { __typename edges { __typename node { id name unreadCount updatedAt subscribers { id name unreadCount } everyone: subscribers(includeArchived: true) { name } messages(last: 1) { edges { node { text createdAt author { name } } } } } } } }";
    for q in [
        "{ threads(first: 2) { edges { node { id } } } }",
        "{ threads(first: 2) { __typename } }",
        "{ threads(first: 2) { edges { node { unreadCount } } } }",
        "{ threads(first: 2) { edges { node { subscribers { name } } } } }",
        "{ threads(first: 2) { edges { node { e: subscribers(includeArchived: true) { name } } } } }",
        "{ threads(first: 2) { edges { node { messages(last: 1) { edges { node { text } } } } } } }",
    ] {
        assert!(compiled(q, serde_json::json!({})).is_some(), "{q}");
    }
    assert!(compiled(inbox, serde_json::json!({ "first": 20 })).is_some());
}

#[test]
fn fragments_that_apply_are_spread_and_repeated_leaves_answered_once() {
    let query = "query { thread(id: \"x\") { __typename id ...Parts ... on Node { id } ... on Message { text } } }
        fragment Parts on Thread { __typename name messages(first: 1) { edges { node { ...Text } } } }
        fragment Text on Message { id text }";
    let Some(roots) = compiled(query, serde_json::json!({})) else {
        panic!("compiles");
    };
    let Root::Thread { fields, .. } = &roots[0].1 else {
        panic!("a thread");
    };
    let keys: Vec<&str> = fields.iter().map(|(key, _)| key.as_str()).collect();
    assert_eq!(keys, ["__typename", "id", "name", "messages"]);
}

#[test]
fn what_it_does_not_know_stays_on_the_resolvers() {
    let id = serde_json::json!({});
    for query in [
        "{ thread(id: \"x\") { id contact { id } } }",
        "{ thread(id: \"x\") { ...F } } fragment F on Thread { id contact { id } }",
        "{ thread(id: \"x\") { ...F @include(if: true) } } fragment F on Thread { id }",
        "{ thread(id: \"x\") { id ... { id: name } } }",
        "{ thread(id: \"x\") { id @include(if: true) } }",
        "{ thread(id: \"x\") { messages(first: 1) { totalCount } } }",
        "{ thread(id: \"x\") { messages(first: 1) { edges { cursor(x: 1) } } } }",
        "{ thread(id: \"x\") { messages(first: 0) { edges { node { id } } } } }",
        "{ thread(id: \"x\") { messages(first: 1, after: \"junk\") { edges { node { id } } } } }",
        "query($id: ID) { thread(id: $id) { id } }",
        "{ a: thread(id: \"x\") { id } a: thread(id: \"y\") { id } }",
        "mutation { thread(id: \"x\") { id } }",
        "{ threads(first: 1, filter: {isResolved: true}) { edges { node { id } } } }",
        "{ threads(first: 1) { totalCount } }",
    ] {
        assert_eq!(compiled(query, id.clone()), None, "{query}");
    }
}

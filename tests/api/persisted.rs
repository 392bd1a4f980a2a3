//! Automatic persisted queries, as Apollo's clients use them: the hash
//! first, the text when the server asks, then the hash alone, by POST or GET.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, error_code};

const QUERY: &str = "query { viewer { organization { name } } }";

fn hash_of(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// POSTs `body` as `token`; the status and the JSON body.
async fn post(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let request = app
        .client
        .post(app.graphql_url())
        .bearer_auth(token)
        .json(&body);
    let response = request.send().await.expect("send POST");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// POSTs `hash` alone (no text) with the api key; the JSON body.
async fn by_hash(app: &TestApp, hash: &str) -> Value {
    let body = json!({ "extensions": persisted(hash) });
    post(app, &app.token, body).await.1
}

#[tokio::test]
async fn a_query_is_sent_by_hash_once_the_server_has_its_text() {
    let app = TestApp::spawn().await;
    let hash = hash_of(QUERY);

    // The hash alone, first: the server asks for the text.
    let body = by_hash(&app, &hash).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");

    // A caller without a valid token cannot fill the cache.
    let both = json!({ "query": QUERY, "extensions": persisted(&hash) });
    let (status, _) = post(&app, "cfk_not-a-key", both.clone()).await;
    assert_eq!(status, 401);
    let body = by_hash(&app, &hash).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_NOT_FOUND", "{body}");

    // Text and hash: answered, and kept.
    let (status, answered) = post(&app, &app.token, both).await;
    assert_eq!(status, 200);
    assert_eq!(answered["data"]["viewer"]["organization"]["name"], "acme");

    // Then the hash alone, by POST and by GET.
    let body = by_hash(&app, &hash).await;
    assert_eq!(body, answered);
    let extensions = persisted(&hash).to_string();
    let response = app
        .get_graphql(Some(&app.token), &[("extensions", extensions.as_str())])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap_or(Value::Null),
        answered
    );

    // A hash that is not the text's, or is no hash, is refused.
    let other = json!({ "query": QUERY, "extensions": persisted(&hash_of("{ other }")) });
    let (_, body) = post(&app, &app.token, other).await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_HASH_MISMATCH", "{body}");
    let body = by_hash(&app, "abc").await;
    assert_eq!(error_code(&body), "PERSISTED_QUERY_INVALID", "{body}");
}

//! Bearer tokens and tenant isolation.

use serde_json::{Value, json};

use crate::helpers::{TestApp, is_id};

const VIEWER: &str = "{ viewer { organization { id name } user { id email } apiKey { id name } } }";

async fn post_viewer(app: &TestApp, authorization: Option<&str>) -> reqwest::Response {
    let headers: Vec<_> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    app.post_graphql(None, &headers, VIEWER).await
}

async fn assert_unauthenticated(response: reqwest::Response) {
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
        "{body}"
    );
    assert!(body.get("data").is_none());
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused_with_401() {
    let app = TestApp::spawn().await;
    assert_unauthenticated(post_viewer(&app, None).await).await;
    assert_unauthenticated(post_viewer(&app, Some("Bearer cfk_not-a-real-token")).await).await;
    assert_unauthenticated(post_viewer(&app, Some("Bearer something-else")).await).await;
    assert_unauthenticated(post_viewer(&app, Some(&format!("Basic {}", app.token))).await).await;
    // GET is authenticated the same way.
    assert_unauthenticated(app.get_graphql(None, &[("query", VIEWER)]).await).await;
}

#[tokio::test]
async fn an_api_key_acts_for_its_organization() {
    let app = TestApp::spawn().await;
    let response = post_viewer(&app, Some(&format!("bearer {}", app.token))).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let viewer = &body["data"]["viewer"];
    assert_eq!(viewer["organization"]["name"], "acme");
    assert!(is_id(&viewer["organization"]["id"], "org_"), "{viewer}");
    assert!(is_id(&viewer["apiKey"]["id"], "key_"), "{viewer}");
    assert_eq!(viewer["user"], Value::Null);
}

#[tokio::test]
async fn a_user_token_acts_as_its_user() {
    let app = TestApp::spawn().await;
    let token = app.create_user("acme", "agent@acme.test").await;
    assert!(token.starts_with("cfu_"));
    let data = app.graphql_as(&token, VIEWER, json!({})).await;
    let viewer = &data["data"]["viewer"];
    assert_eq!(viewer["user"]["email"], "agent@acme.test");
    assert!(is_id(&viewer["user"]["id"], "usr_"), "{viewer}");
    assert_eq!(viewer["apiKey"], Value::Null);
    assert_eq!(viewer["organization"]["name"], "acme");
}

#[tokio::test]
async fn another_organizations_objects_read_as_not_found() {
    let app = TestApp::spawn().await;
    let other = app.create_organization("globex").await;
    let id = app.create_contact("Ada", None).await;
    let own_org = app
        .data("{ viewer { organization { id } } }", json!({}))
        .await;
    let own_org_id = own_org["viewer"]["organization"]["id"].clone();

    let read = "query($id: ID!, $org: ID!) { contact(id: $id) { id } node(id: $id) { id } org: node(id: $org) { id } nodes(ids: [$id]) { id } contacts { totalCount edges { node { id } } } }";
    let update = "mutation($id: ID!) { updateContact(input: {id: $id, firstName: \"Eve\"}) { contact { id } userErrors { field code } } }";
    let delete = "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId userErrors { code } } }";
    let by_id = json!({ "id": id });
    app.assert_answers(vec![
        (
            &other,
            read,
            json!({ "id": id, "org": own_org_id }),
            "/data",
            json!({ "contact": null, "node": null, "org": null, "nodes": [null], "contacts": { "totalCount": 0, "edges": [] } }),
        ),
        (
            &other,
            update,
            by_id.clone(),
            "/data/updateContact",
            json!({ "contact": null, "userErrors": [{ "field": ["input", "id"], "code": "NOT_FOUND" }] }),
        ),
        (
            &other,
            delete,
            by_id,
            "/data/deleteContact",
            json!({ "deletedContactId": null, "userErrors": [{ "code": "NOT_FOUND" }] }),
        ),
    ])
    .await;

    // Untouched for its owner.
    let own = app
        .data_of("query($id: ID!) { contact(id: $id) { firstName } }", &id)
        .await;
    assert_eq!(own["contact"]["firstName"], "Ada");
}

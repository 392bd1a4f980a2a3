//! GraphQL over HTTP: methods, media types, status codes, limits, health.

use serde_json::{Value, json};

use crate::helpers::TestApp;

const QUERY: &str = "{ contacts(first: 1) { totalCount } }";

#[tokio::test]
async fn get_runs_queries_and_refuses_mutations() {
    let app = TestApp::spawn().await;
    let response = app.get_graphql(Some(&app.token), &[("query", QUERY)]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["data"]["contacts"]["totalCount"], 0);

    let mutation = "mutation { createContact(input: {firstName: \"X\"}) { contact { id } } }";
    // Also when the mutation is picked by operationName from several.
    let doc = format!(
        "query Q {QUERY} mutation M {{ deleteContact(input: {{id: \"x\"}}) {{ deletedContactId }} }}"
    );
    // And when a lone named mutation runs without an operationName.
    let named = "mutation M { createContact(input: {firstName: \"X\"}) { contact { id } } }";
    let refused: [&[(&str, &str)]; 3] = [
        &[("query", mutation)],
        &[("query", doc.as_str()), ("operationName", "M")],
        &[("query", named)],
    ];
    for params in refused {
        let response = app.get_graphql(Some(&app.token), params).await;
        let (status, allow) = (response.status(), response.headers().get("allow").cloned());
        assert_eq!(status, 405, "{params:?}: {:?}", response.text().await);
        assert_eq!(allow.expect("an Allow header"), "POST", "{params:?}");
    }
    let count = app.data(QUERY, json!({})).await;
    assert_eq!(count["contacts"]["totalCount"], 0, "nothing was written");
}

#[tokio::test]
async fn the_accept_header_picks_the_media_type_and_status_codes() {
    let app = TestApp::spawn().await;
    let post = |accept: Option<&'static str>, query: &'static str| {
        let app = &app;
        async move {
            let headers: Vec<_> = accept.map(|value| ("Accept", value)).into_iter().collect();
            app.post_graphql(Some(&app.token), &headers, query).await
        }
    };

    let response = post(Some("application/graphql-response+json"), QUERY).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/graphql-response+json; charset=utf-8"
    );

    let response = post(None, QUERY).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );
    let response = post(Some("text/html, application/json;q=0.9"), QUERY).await;
    assert_eq!(
        response.headers()["content-type"],
        "application/json; charset=utf-8"
    );

    // A document that does not validate: 400 under the new media type ...
    let response = post(Some("application/graphql-response+json"), "{ nope }").await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("data").is_none());
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    // ... and one that does not parse.
    let response = post(Some("application/graphql-response+json"), "{ contacts {").await;
    assert_eq!(response.status(), 400);
    // ... and 200 under legacy application/json.
    let response = post(Some("application/json"), "{ nope }").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope"))
    );

    // Nothing acceptable.
    let response = post(Some("text/html"), QUERY).await;
    assert_eq!(response.status(), 406);
}

#[tokio::test]
async fn malformed_requests_get_400_and_wrong_content_types_415() {
    let app = TestApp::spawn().await;
    let raw = |content_type: &'static str, body: &'static str| {
        app.client
            .post(app.graphql_url())
            .bearer_auth(&app.token)
            .header("Content-Type", content_type)
            .header("Accept", "application/graphql-response+json")
            .body(body)
            .send()
    };
    for body in [
        "{not json",
        "[]",
        "{\"variables\": {}}",
        "{\"query\": 42}",
        "{\"query\": \"\"}",
    ] {
        let response = raw("application/json", body).await.expect("send");
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.expect("json");
        assert_eq!(
            json["errors"][0]["extensions"]["code"], "BAD_REQUEST",
            "{body}"
        );
    }
    let query = "{\"query\": \"{ viewer { organization { name } } }\"}";
    for (content_type, status) in [
        ("text/plain", 415),
        ("application/json; charset=utf-8", 200),
    ] {
        let response = raw(content_type, query).await.expect("send");
        assert_eq!(response.status(), status, "{content_type}");
    }

    let response = app.get_graphql(Some(&app.token), &[]).await;
    assert_eq!(response.status(), 400, "GET without a query");
}

#[tokio::test]
async fn bodies_over_one_mebibyte_are_refused() {
    let app = TestApp::spawn().await;
    let padding = " ".repeat(1024 * 1024 + 1);
    let body = format!("{{\"query\": \"{{ viewer {{ organization {{ id }} }} }}{padding}\"}}");
    let response = app
        .client
        .post(app.graphql_url())
        .bearer_auth(&app.token)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn overly_deep_queries_are_refused() {
    let app = TestApp::spawn().await;
    let nested = |depth: usize| {
        format!(
            "{{ __schema {{ types {{ fields {{ type {{ {}name{} }} }} }} }} }}",
            "ofType { ".repeat(depth),
            " }".repeat(depth)
        )
    };
    assert!(
        app.graphql(&nested(2), json!({}))
            .await
            .get("errors")
            .is_none()
    );
    let body = app.graphql(&nested(14), json!({})).await;
    assert_eq!(
        body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nested too deep")),
        "{body}"
    );
}

#[tokio::test]
async fn graphiql_health_and_readiness() {
    let app = TestApp::spawn().await;
    let page = app.get("").await;
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/html"))
    );
    let html = page.text().await.expect("text");
    assert!(html.contains("graphiql"), "a GraphiQL page");
    assert!(html.contains("/ws"), "with the subscription endpoint");

    for path in ["/healthz", "/readyz"] {
        assert_eq!(app.get(path).await.status(), 200, "{path}");
    }
}

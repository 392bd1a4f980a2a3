//! A real browser (Debian's Chromium, driven by playwright-core from
//! web/node_modules, both installed by `scripts/setup --browser`): GraphiQL
//! served offline, and a page on another origin using the API (CORS).

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{TestApp, run_to_success};

/// Why the browser test cannot run here, if it cannot.
fn missing_browser() -> Option<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    if !Path::new(&chromium).exists() {
        return Some(format!(
            "no Chromium at {chromium} (scripts/setup --browser installs it)"
        ));
    }
    if !root.join("web/node_modules/playwright-core").exists() {
        return Some("no web/node_modules/playwright-core (scripts/setup installs it)".to_string());
    }
    if Command::new("node").arg("--version").output().is_err() {
        return Some("no node on PATH".to_string());
    }
    None
}

#[tokio::test]
async fn graphiql_works_offline_and_another_origin_can_query_and_subscribe() {
    if let Some(reason) = missing_browser() {
        eprintln!("SKIPPED: the browser test cannot run: {reason}");
        return;
    }
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "Browser" })).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("web/browser-check.mjs");
    let mut node = Command::new("node");
    node.arg(script).args([&app.address, &app.token, &thread]);
    let (stdout, _) = run_to_success(node, "browser check").await;
    let seen: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(
        seen["outsideRequests"],
        json!([]),
        "GraphiQL needs nothing from outside"
    );
    assert_eq!(seen["schemaError"], 0);
    assert_eq!(seen["tokenRemovedFromUrl"], true);
    assert_eq!(
        seen["graphiqlQuery"]["data"]["viewer"]["organization"]["name"],
        "acme"
    );
    assert_eq!(
        seen["graphiqlEvent"]["data"]["threadEvents"]["message"]["text"],
        "hello from the browser test"
    );
    assert_eq!(seen["graphiqlPageErrors"], json!([]));
    assert_eq!(
        seen["otherOrigin"]["query"]["data"]["viewer"]["organization"]["name"],
        "acme"
    );
    assert_eq!(
        seen["otherOrigin"]["event"]["threadEvents"]["message"]["text"],
        "hello across origins"
    );
    assert_eq!(seen["otherOrigin"]["errors"], json!([]));
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let app = TestApp::spawn_with(|config| {
        config.cors_origins = "https://app.example.com".to_string();
    })
    .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.graphql_url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://app.example.com")
        .await
        .expect("preflight");
    assert!(allowed.status().is_success(), "{}", allowed.status());
    let headers = allowed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    let methods = headers["access-control-allow-methods"]
        .to_str()
        .unwrap_or_default()
        .to_ascii_uppercase();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("authorization") && allowed_headers.contains("content-type"));
    assert_eq!(headers["access-control-max-age"], "86400");

    let refused = preflight("https://evil.example").await.expect("preflight");
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    // The actual request carries the header for an allowed origin.
    let origin = [("origin", "https://app.example.com")];
    let query = "{ viewer { organization { name } } }";
    let response = app.post_graphql(Some(&app.token), &origin, query).await;
    assert_eq!(
        response.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let body = response.text().await.expect("body");
    assert!(body.ends_with('\n'), "JSON responses end with a newline");

    // WebSocket upgrades check Origin against the same list.
    let upgrade = |origin: &'static str| {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = app.ws_url().into_client_request().expect("request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        request
            .headers_mut()
            .insert("Origin", origin.parse().expect("header"));
        tokio_tungstenite::connect_async(request)
    };
    assert!(upgrade("https://app.example.com").await.is_ok());
    match upgrade("https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
}

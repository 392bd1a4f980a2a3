//! Hostile clients: one regression test per way a request could crash,
//! freeze or exhaust the server, each sent at the scale that broke it and
//! ten and a hundred times that, while the server keeps answering.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::ws::{LEGACY_WS, TRANSPORT_WS, WsClient};

/// Longest any refusal below may take; the broken server took 30 to 82 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(6);

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

fn reason(body: &Value) -> &str {
    body["errors"][0]["extensions"]["reason"]
        .as_str()
        .unwrap_or_default()
}

async fn assert_healthy(app: &TestApp) {
    let health = app.get_within("/healthz", Duration::from_secs(2)).await;
    assert_eq!(health.status(), 200);
    let data = app
        .data("{ viewer { organization { name } } }", json!({}))
        .await;
    assert_eq!(data["viewer"]["organization"]["name"], "acme");
}

async fn post_query(app: &TestApp, query: &str) -> (u16, Value) {
    let body = json!({ "query": query }).to_string();
    tokio::time::timeout(ANSWER_WITHIN, app.post_raw(Some(&app.token), body))
        .await
        .expect("answered in time")
}

#[tokio::test]
async fn deeply_nested_values_and_selections_are_refused_before_parsing() {
    let app = TestApp::spawn().await;
    for depth in [3_000, 30_000, 300_000] {
        let lists = format!(
            "{{nodes(ids:{}1{}){{id}}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let objects = format!(
            "{{contacts(search:{}1{}){{totalCount}}}}",
            "{a:".repeat(depth),
            "}".repeat(depth)
        );
        let selections = format!("{}{}", "{viewer".repeat(depth), "}".repeat(depth));
        for query in [&lists, &objects, &selections] {
            let (status, body) = post_query(&app, query).await;
            if query.len() > 1024 * 1024 {
                assert_eq!(status, 413, "bodies over 1 MiB are refused unread");
                continue;
            }
            assert_eq!(status, 400, "{body}");
            assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
            assert_eq!(reason(&body), "TOO_DEEP", "{body}");
        }
    }
    // Over GET no token is needed to be refused, and the document is not
    // even parsed before the token is checked.
    let query = format!(
        "{{nodes(ids:{}1{}){{id}}}}",
        "[".repeat(3_000),
        "]".repeat(3_000)
    );
    let get = app
        .client
        .get(app.graphql_url())
        .query(&[("query", &query)]);
    let anonymous = get.try_clone().expect("clone").timeout(ANSWER_WITHIN);
    assert_eq!(anonymous.send().await.expect("answered").status(), 401);
    let with_token = get.bearer_auth(&app.token).timeout(ANSWER_WITHIN);
    let with_token = with_token.header("accept", "application/graphql-response+json");
    assert_eq!(with_token.send().await.expect("answered").status(), 400);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn too_many_tokens_are_refused_before_parsing() {
    let app = TestApp::spawn().await;
    let fields = "__typename ".repeat(20_000);
    let (status, body) = post_query(&app, &format!("{{ {fields} }}")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(reason(&body), "TOO_MANY_TOKENS", "{body}");
    assert_healthy(&app).await;
}

fn doubling_fragments(levels: usize) -> String {
    let mut query = String::from("fragment F0 on Viewer { organization { id } }\n");
    for k in 1..=levels {
        query.push_str(&format!(
            "fragment F{k} on Viewer {{ ...F{} ...F{} }}\n",
            k - 1,
            k - 1
        ));
    }
    query.push_str(&format!("query {{ viewer {{ ...F{levels} }} }}"));
    query
}

#[tokio::test]
async fn doubling_fragments_are_refused_without_expanding_them() {
    let app = TestApp::spawn().await;
    for levels in [28, 280, 2_800] {
        let query = doubling_fragments(levels);
        // Two at once, as the report froze the health check with two.
        let (first, second) = tokio::join!(post_query(&app, &query), post_query(&app, &query));
        for (status, body) in [first, second] {
            assert_eq!(status, 400, "{body}");
            // At 2,800 levels the document is also too long to parse.
            let expected = if levels < 2_800 {
                "TOO_MANY_SELECTIONS"
            } else {
                "TOO_MANY_TOKENS"
            };
            assert_eq!(reason(&body), expected, "{body}");
        }
    }
    let cycle = "fragment A on Viewer { ...B } fragment B on Viewer { ...A } { viewer { ...A } }";
    let (status, body) = post_query(&app, cycle).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(reason(&body), "FRAGMENT_CYCLE", "{body}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn cost_multiplies_by_page_sizes_and_huge_queries_never_run() {
    let app = TestApp::spawn().await;
    let one = "threads(first: 1000) { edges { node { recentMessages { text } } } }";
    for aliases in [999, 9_990] {
        let fields: String = (0..aliases).map(|i| format!("a{i}: {one} ")).collect();
        let (status, body) = post_query(&app, &format!("{{ {fields} }}")).await;
        // Refused before parsing: the document alone is too long.
        assert!(status == 400 || status == 413, "{status} {body}");
        if status == 400 {
            assert_eq!(reason(&body), "TOO_MANY_TOKENS", "{body}");
        }
    }
    // Within the token limit, the aliases are counted.
    let fields: String = (0..150)
        .map(|i| format!("a{i}: viewer {{ organization {{ id }} }} "))
        .collect();
    let (status, body) = post_query(&app, &format!("{{ {fields} }}")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(reason(&body), "TOO_MANY_ALIASES", "{body}");
    // Without aliases, the page sizes alone make it too costly.
    let (status, body) = post_query(&app, &format!("{{ {one} }}")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(code(&body), "GRAPHQL_VALIDATION_FAILED", "{body}");
    assert_eq!(reason(&body), "TOO_COSTLY", "{body}");
    let cost: u64 = body["errors"][0]["message"]
        .as_str()
        .and_then(|m| m.split_whitespace().find_map(|w| w.parse().ok()))
        .unwrap_or_default();
    assert!(cost > 100_000, "{body}");
    // Root fields are bounded too, fragments included.
    let root = format!(
        "fragment R on Query {{ {} }} {{ ...R }}",
        (0..60)
            .map(|i| format!("v{i}: viewer {{ organization {{ id }} }}"))
            .collect::<String>()
    );
    let (status, body) = post_query(&app, &root).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(reason(&body), "TOO_MANY_ROOT_FIELDS", "{body}");
    let root = format!("{{ {} }}", "viewer { organization { id } } ".repeat(60));
    let (status, body) = post_query(&app, &root).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(reason(&body), "TOO_MANY_ROOT_FIELDS", "{body}");
    assert_healthy(&app).await;
}

#[tokio::test]
async fn an_oversized_response_is_refused_while_it_is_built() {
    let app = TestApp::spawn_with(|config| config.max_response_bytes = 64 * 1024).await;
    let thread = app.create_thread(json!({ "name": "Big" })).await;
    let text = "x".repeat(10_000);
    for _ in 0..10 {
        app.send_message(&app.token, &thread, &text).await;
    }
    let query =
        "query($id: ID!) { thread(id: $id) { messages(first: 10) { edges { node { text } } } } }";
    let body = app.graphql(query, json!({ "id": thread })).await;
    assert_eq!(code(&body), "RESPONSE_TOO_LARGE", "{body}");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(1));
    // A page that fits is served.
    let query =
        "query($id: ID!) { thread(id: $id) { messages(first: 3) { edges { node { text } } } } }";
    let data = app.data_of(query, &thread).await;
    assert_eq!(
        data["thread"]["messages"]["edges"].as_array().map(Vec::len),
        Some(3)
    );
}

/// A TCP proxy in front of PostgreSQL that can stop passing bytes, as a
/// frozen (SIGSTOPped) or unreachable server would.
struct FreezableProxy {
    url: String,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

enum Upstream {
    Tcp(String),
    Unix(std::path::PathBuf),
}

impl FreezableProxy {
    async fn start(database_url: &str) -> FreezableProxy {
        use std::sync::atomic::AtomicBool;
        let parsed = url::Url::parse(database_url).expect("database URL");
        let host = percent_decode(parsed.host_str().unwrap_or("localhost"));
        let port = parsed.port().unwrap_or(5432);
        let upstream = if host.starts_with('/') {
            Upstream::Unix(std::path::Path::new(&host).join(format!(".s.PGSQL.{port}")))
        } else {
            Upstream::Tcp(format!("{host}:{port}"))
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let address = listener.local_addr().expect("proxy address");
        let mut proxied = parsed.clone();
        proxied.set_host(Some("127.0.0.1")).expect("host");
        proxied.set_port(Some(address.port())).expect("port");
        let frozen = std::sync::Arc::new(AtomicBool::new(false));
        let task = {
            let frozen = frozen.clone();
            tokio::spawn(async move {
                let upstream = std::sync::Arc::new(upstream);
                while let Ok((client, _)) = listener.accept().await {
                    let (frozen, upstream) = (frozen.clone(), upstream.clone());
                    tokio::spawn(async move {
                        let _ = relay(client, &upstream, frozen).await;
                    });
                }
            })
        };
        FreezableProxy {
            url: proxied.to_string(),
            frozen,
            task,
        }
    }

    fn freeze(&self, frozen: bool) {
        self.frozen
            .store(frozen, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for FreezableProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_default()
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: &Upstream,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncRead, AsyncWrite};
    type Halves = (
        Box<dyn AsyncRead + Unpin + Send>,
        Box<dyn AsyncWrite + Unpin + Send>,
    );
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write): Halves = match upstream {
        Upstream::Tcp(address) => {
            let (read, write) = tokio::net::TcpStream::connect(address).await?.into_split();
            (Box::new(read), Box::new(write))
        }
        Upstream::Unix(path) => {
            let (read, write) = tokio::net::UnixStream::connect(path).await?.into_split();
            (Box::new(read), Box::new(write))
        }
    };
    tokio::try_join!(
        pump(client_read, server_write, frozen.clone()),
        pump(server_read, client_write, frozen)
    )?;
    Ok(())
}

/// Copies bytes, holding them while frozen.
async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    mut to: impl tokio::io::AsyncWrite + Unpin,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = from.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        while frozen.load(std::sync::atomic::Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        to.write_all(&buffer[..read]).await?;
    }
}

#[tokio::test]
async fn a_frozen_database_gets_a_coded_503_in_bounded_time() {
    let database_url = crate::helpers::fresh_database().await;
    let proxy = FreezableProxy::start(&database_url).await;
    let mut app = TestApp::start(&proxy.url, |_| {}).await;
    app.database_url = database_url;
    app.token = app.create_organization("acme").await;
    let thread = app.create_thread(json!({ "name": "Frozen" })).await;
    assert_healthy(&app).await;

    proxy.freeze(true);
    // Idle pooled connections are checked before reuse.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let started = Instant::now();
    let ready = app.get_within("/readyz", Duration::from_secs(3)).await;
    assert_eq!(ready.status(), 503);
    assert!(
        started.elapsed() < Duration::from_millis(1_500),
        "{:?}",
        started.elapsed()
    );

    let send = json!({
        "query": "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } } }",
        "variables": { "input": { "threadId": thread, "text": "hello?" } }
    });
    let requests = [
        (
            Some(app.token.clone()),
            json!({ "query": "{ threads(first: 5) { totalCount } }" }),
        ),
        (Some(app.token.clone()), send),
        (
            Some("cfk_not_a_real_token".to_string()),
            json!({ "query": "{ viewer { organization { id } } }" }),
        ),
    ];
    for (token, body) in requests {
        let started = Instant::now();
        let (status, body) = tokio::time::timeout(
            Duration::from_secs(8),
            app.post_raw(token.as_deref(), body.to_string()),
        )
        .await
        .expect("answered");
        assert!(
            started.elapsed() <= ANSWER_WITHIN,
            "{:?}",
            started.elapsed()
        );
        assert_eq!(status, 503, "{body}");
        assert_eq!(code(&body), "SERVICE_UNAVAILABLE", "{body}");
    }
    assert_eq!(app.get("/healthz").await.status(), 200);

    proxy.freeze(false);
    let mut recovered = false;
    for _ in 0..50 {
        let (status, _) = app
            .post_raw(
                Some(&app.token),
                json!({ "query": "{ viewer { organization { name } } }" }).to_string(),
            )
            .await;
        if status == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the server recovers once the database answers");
}

#[tokio::test]
async fn a_contact_token_sees_other_members_by_name_only() {
    let app = TestApp::spawn().await;
    let user_token = app.create_user("acme", "agent@acme.test").await;
    let user_id = app.user_id(&user_token).await;
    let create =
        "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }";
    let mut contacts = Vec::new();
    for (name, email, phone) in [
        ("Own", "own@example.test", "+14155550101"),
        ("Other", "other@example.test", "+14155550102"),
    ] {
        let data = app
            .data(
                create,
                json!({ "input": { "firstName": name, "email": email, "phone": phone } }),
            )
            .await;
        contacts.push(
            data["createContact"]["contact"]["id"]
                .as_str()
                .expect("id")
                .to_string(),
        );
    }
    let thread = app
        .create_thread(
            json!({ "name": "Shared", "memberIds": [contacts[0], contacts[1], user_id] }),
        )
        .await;
    app.send_message(&user_token, &thread, "Hello both").await;
    let own_token = app.contact_token(&contacts[0]).await;

    let query = "query($id: ID!) { thread(id: $id) {
        subscribers { kind name email phone contact { firstName email phone } user { name email } }
        messages(first: 10) { edges { node { author { name email phone user { email } } } } }
    } }";
    let body = app
        .graphql_as(&own_token, query, json!({ "id": thread }))
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    let subscribers = body["data"]["thread"]["subscribers"]
        .as_array()
        .expect("subscribers")
        .clone();
    let by_name = |name: &str| {
        subscribers
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no {name} in {subscribers:?}"))
    };
    let own = by_name("Own");
    assert_eq!(own["email"], "own@example.test");
    assert_eq!(own["phone"], "+14155550101");
    assert_eq!(own["contact"]["email"], "own@example.test");
    let other = by_name("Other");
    assert_eq!(other["email"], Value::Null);
    assert_eq!(other["phone"], Value::Null);
    assert_eq!(other["contact"]["firstName"], "Other");
    assert_eq!(other["contact"]["email"], Value::Null);
    assert_eq!(other["contact"]["phone"], Value::Null);
    let staff = by_name("Test User");
    assert_eq!(staff["email"], Value::Null);
    assert_eq!(staff["user"]["name"], "Test User");
    assert_eq!(staff["user"]["email"], Value::Null);
    // The first messages are the system's (joins), without an author.
    let edges = body["data"]["thread"]["messages"]["edges"]
        .as_array()
        .expect("edges");
    let author = edges
        .iter()
        .map(|edge| &edge["node"]["author"])
        .find(|author| !author.is_null())
        .expect("an authored message");
    assert_eq!(author["name"], "Test User");
    assert_eq!(author["email"], Value::Null);
    assert_eq!(author["user"]["email"], Value::Null);

    // Staff tokens see every detail.
    for token in [&app.token, &user_token] {
        let body = app.graphql_as(token, query, json!({ "id": thread })).await;
        let subscribers = body["data"]["thread"]["subscribers"]
            .as_array()
            .expect("subscribers");
        let other = subscribers
            .iter()
            .find(|s| s["name"] == "Other")
            .expect("other");
        assert_eq!(other["email"], "other@example.test");
        assert_eq!(other["contact"]["phone"], "+14155550102");
        let staff = subscribers
            .iter()
            .find(|s| s["name"] == "Test User")
            .expect("staff");
        assert_eq!(staff["user"]["email"], "agent@acme.test");
    }
}

#[tokio::test]
async fn client_mistakes_are_coded_client_errors() {
    let app = TestApp::spawn().await;
    let thread = app.create_thread(json!({ "name": "Mistakes" })).await;
    let contact = app.create_contact("Ada", None).await;
    let cases = [
        // NUL in text, names, search and ids.
        json!({ "query": "mutation($input: SendMessageInput!) { sendMessage(input: $input) { message { id } } }",
                "variables": { "input": { "threadId": thread, "text": "a\u{0}b" } } }),
        json!({ "query": "mutation($input: CreateContactInput!) { createContact(input: $input) { contact { id } } }",
                "variables": { "input": { "firstName": "A\u{0}da" } } }),
        json!({ "query": "{ contacts(search: \"a\\u0000b\") { totalCount } }" }),
        json!({ "query": "query($id: ID!) { node(id: $id) { id } }", "variables": { "id": "ctc_\u{0}" } }),
        // Malformed dates, as variables and as literals.
        json!({ "query": "mutation($input: CreateConversationInput!) { createConversation(input: $input) { conversation { id } } }",
                "variables": { "input": { "contactId": contact, "channel": "PHONE", "happenedAt": "2026-13-45" } } }),
        json!({ "query": format!("mutation {{ createConversation(input: {{contactId: \"{contact}\", channel: PHONE, happenedAt: \"yesterday\"}}) {{ conversation {{ id }} }} }}") }),
        json!({ "query": "{ threads(filter: {createdAt: {start: \"not a time\", end: \"2026-01-01T00:00:00Z\"}}) { totalCount } }" }),
        // A missing required variable.
        json!({ "query": "query($id: ID!) { node(id: $id) { id } }", "variables": {} }),
        // An Int out of range.
        json!({ "query": "{ threads(first: 99999999999) { totalCount } }" }),
    ];
    for case in cases {
        let (status, body) = app.post_raw(Some(&app.token), case.to_string()).await;
        assert_eq!(status, 400, "{case} -> {body}");
        let code = code(&body);
        assert!(
            code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
            "{case} -> {body}"
        );
    }
    // Over WebSocket the missing variable arrives coded too.
    let mut client = app.ws_client(&app.token).await;
    let subscription = "subscription($id: ID!) { threadEvents(threadId: $id) { kind } }";
    let errors = client.refusal("1", subscription, json!({})).await;
    let code = errors[0]["extensions"]["code"].as_str().unwrap_or_default();
    assert!(
        code == "BAD_USER_INPUT" || code == "GRAPHQL_VALIDATION_FAILED",
        "{errors}"
    );
}

#[tokio::test]
async fn websocket_limits_and_close_codes() {
    let app = TestApp::spawn_with(|config| {
        config.ws_max_subscriptions = 3;
        config.ws_max_message_bytes = 64 * 1024;
    })
    .await;
    let thread = app.create_thread(json!({ "name": "Live" })).await;
    let subscription = "subscription($id: ID!) { threadEvents(threadId: $id) { kind } }";

    // A cap on operations per socket, refused with a coded error.
    let mut client = app.ws_client(&app.token).await;
    for id in ["1", "2", "3"] {
        client
            .subscribe(id, subscription, json!({ "id": thread }))
            .await;
    }
    client
        .subscribe("4", subscription, json!({ "id": thread }))
        .await;
    let refused = client.receive().await;
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "4");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "TOO_MANY_SUBSCRIPTIONS"
    );
    // Completing one frees its slot.
    client.send(json!({ "type": "complete", "id": "1" })).await;
    client
        .subscribe("5", subscription, json!({ "id": thread }))
        .await;
    // Let the subscription reach the live feed (as the other subscription tests do).
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.send_message(&app.token, &thread, "hi").await;
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        let message = client.receive().await;
        assert_eq!(message["type"], "next", "{message}");
        seen.insert(message["id"].as_str().unwrap_or_default().to_string());
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["2", "3", "5"]);

    // A repeated id closes with 4409.
    client
        .subscribe("2", subscription, json!({ "id": thread }))
        .await;
    assert_eq!(client.closed().await.0, 4409);

    // Subscribing before the ack closes with 4401.
    let mut early = WsClient::connect(&app.ws_url(), TRANSPORT_WS).await;
    early
        .subscribe("1", subscription, json!({ "id": thread }))
        .await;
    assert_eq!(early.closed().await.0, 4401);

    // A message over the limit closes with 1009 and a reason, at 2 MB too.
    for size in [100 * 1024, 2 * 1024 * 1024] {
        let padded = format!("{subscription} #{}", "x".repeat(size));
        let mut big = app
            .subscribe(&app.token, "1", &padded, json!({ "id": thread }))
            .await;
        let (code, reason) = big.closed().await;
        assert_eq!(code, 1009);
        assert!(!reason.is_empty());
    }

    // The legacy protocol says connection_error before closing a bad token.
    let mut legacy = WsClient::connect(&app.ws_url(), LEGACY_WS).await;
    legacy
        .send(
            json!({ "type": "connection_init", "payload": { "Authorization": "Bearer cfk_nope" } }),
        )
        .await;
    let error = legacy.receive_raw().await;
    assert_eq!(error["type"], "connection_error", "{error}");
    assert_eq!(legacy.closed().await.0, 4403);
    assert_healthy(&app).await;
}

#[tokio::test]
async fn a_token_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with_token_rate(1, 5).await;
    let other = app.create_organization("other").await;
    let query = json!({ "query": "{ viewer { organization { name } } }" }).to_string();
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let request = post_body(&app.client, &app.graphql_url(), &app.token, &query);
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        if status == 429 {
            let retry_after: u64 = response.headers()["retry-after"]
                .to_str()
                .ok()
                .and_then(|v| v.parse().ok())
                .expect("Retry-After in seconds");
            assert!(retry_after >= 1);
            let body: Value = response.json().await.expect("json");
            assert_eq!(code(&body), "RATE_LIMITED");
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], [200; 5]);
    assert!(statuses[5..].iter().all(|s| *s == 429), "{statuses:?}");
    // Another tenant is not affected.
    let (status, _) = app.post_raw(Some(&other), query).await;
    assert_eq!(status, 200);
}

/// A POST of a raw JSON `body` to `url` with `token`, as a client outside the
/// harness would send it.
fn post_body(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    client
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string())
}

/// Runs the future `client` makes on a thread of its own with its own
/// single-threaded runtime, as a separate process would run it; `join` waits
/// for its result.
fn on_own_thread<T, F>(client: impl FnOnce() -> F + Send + 'static) -> std::thread::JoinHandle<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        runtime.block_on(client())
    })
}

/// The result of a thread from `on_own_thread`, waited for without blocking
/// this runtime.
async fn join<T: Send + 'static>(thread: std::thread::JoinHandle<T>) -> T {
    tokio::task::spawn_blocking(move || thread.join())
        .await
        .expect("join")
        .expect("client thread")
}

/// A latency measurement: `scripts/test` runs it alone, after the other
/// tests, so that their load does not stand in for the hammering tenant's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "timing-sensitive: scripts/test runs it alone with --ignored"]
async fn one_tenant_hammering_leaves_another_fast() {
    // The server runs on this test's two worker threads, as in production;
    // each client runs on a thread of its own, as a separate process would,
    // so client work does not queue behind the server's in one runtime. The
    // hammering tenant keeps 16 requests in flight, twice its concurrency
    // cap, with no pause: thousands of requests a second, mostly refused.
    let app = TestApp::spawn().await;
    let quiet = app.create_organization("quiet").await;
    let thread = app.create_thread(json!({ "name": "Busy" })).await;
    for i in 0..20 {
        app.send_message(&app.token, &thread, &format!("message {i}"))
            .await;
    }
    let heavy = json!({
        "query": "query($id: ID!) { thread(id: $id) { messages(last: 50) { edges { node { id text author { name } } } } } }",
        "variables": { "id": thread }
    })
    .to_string();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hammer = {
        let (url, token, stop) = (app.graphql_url(), app.token.clone(), stop.clone());
        on_own_thread(move || async move {
            let client = reqwest::Client::new();
            let loops = (0..16).map(|_| {
                let (client, url, token, body, stop) = (
                    client.clone(),
                    url.clone(),
                    token.clone(),
                    heavy.clone(),
                    stop.clone(),
                );
                async move {
                    let mut refused = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let response = post_body(&client, &url, &token, &body).send().await;
                        if response.is_ok_and(|r| r.status() == 429) {
                            refused += 1;
                        }
                    }
                    refused
                }
            });
            futures_util::future::join_all(loops)
                .await
                .into_iter()
                .sum::<u32>()
        })
    };
    let quiet_client = {
        let (url, token) = (app.graphql_url(), quiet.clone());
        on_own_thread(move || async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let client = reqwest::Client::new();
            let body = json!({ "query": "{ viewer { organization { name } } threads(first: 5) { totalCount } }" })
                    .to_string();
            let mut latencies = Vec::new();
            // 200 samples, so that a percentile is not simply the slowest one.
            for _ in 0..200 {
                let started = Instant::now();
                let request = post_body(&client, &url, &token, &body);
                let response = request.send().await.expect("quiet request");
                let status = response.status();
                let _ = response.bytes().await;
                latencies.push(started.elapsed());
                assert_eq!(status, 200);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            latencies
        })
    };
    let mut latencies = join(quiet_client).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let refused = join(hammer).await;
    latencies.sort();
    let p90 = latencies[latencies.len() * 90 / 100 - 1];
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    println!("quiet tenant p90 {p90:?}, p99 {p99:?} while the other got {refused} refusals");
    assert!(refused > 0, "the hammering tenant was limited");
    // The p90, not the p99: on two shared cores the few slowest of 200 are
    // whatever else the machine did then (a p99 of 222 ms was seen with
    // builds beside the test). Unlimited, the hammer holds every pooled
    // connection and most quiet requests wait behind it.
    assert!(p90 < Duration::from_millis(100), "quiet tenant p90 {p90:?}");
}

#[tokio::test]
async fn a_repeated_document_is_checked_again_on_every_request() {
    let app = TestApp::spawn().await;
    let contact = app.create_contact("Ada", None).await;
    let query = "query($id: ID!) { node(id: $id) { id } }";
    // Parsed once and kept: the same text with clean, then NUL, variables.
    for _ in 0..2 {
        let body = json!({ "query": query, "variables": { "id": contact }});
        let (status, answer) = app.post_raw(Some(&app.token), body.to_string()).await;
        assert_eq!(status, 200, "{answer}");
    }
    let body = json!({ "query": query, "variables": { "id": "ctc_\u{0}" }});
    let (status, answer) = app.post_raw(Some(&app.token), body.to_string()).await;
    assert_eq!((status, code(&answer)), (400, "BAD_USER_INPUT"), "{answer}");
    // Documents that fail are never kept: refused every time.
    let nul_literal = json!({ "query": "{ contacts(search: \"a\\u0000b\") { totalCount } }" });
    let aliases: String = (0..150).map(|i| format!("a{i}: __typename ")).collect();
    let too_many_aliases = json!({ "query": format!("{{ {aliases} }}") });
    for case in [nul_literal, too_many_aliases] {
        for attempt in 0..2 {
            let (status, answer) = app.post_raw(Some(&app.token), case.to_string()).await;
            assert_eq!(status, 400, "attempt {attempt}: {case} -> {answer}");
        }
    }
}

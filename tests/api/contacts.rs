//! Contacts: create, read, update, delete, search and paginate.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_created, user_errors};

const CREATE: &str = "mutation($input: CreateContactInput!) {
  createContact(input: $input) {
    contact { id firstName lastName nickname completeName initials email phone avatarUrl createdAt updatedAt }
    userErrors { field message code }
  }
}";

const UPDATE: &str = "mutation($input: UpdateContactInput!) {
  updateContact(input: $input) {
    contact { id firstName lastName nickname email phone avatarUrl }
    userErrors { field message code }
  }
}";

async fn create(app: &TestApp, input: Value) -> Value {
    app.data(CREATE, json!({ "input": input })).await["createContact"].clone()
}

async fn create_named(app: &TestApp, first_name: &str) -> String {
    let payload = create(app, json!({ "firstName": first_name })).await;
    payload["contact"]["id"]
        .as_str()
        .expect("contact id")
        .to_string()
}

async fn total_count(app: &TestApp) -> i64 {
    app.data("{ contacts { totalCount } }", json!({})).await["contacts"]["totalCount"]
        .as_i64()
        .expect("count")
}

/// (input field, code) of each user error.
fn codes(payload: &Value) -> Vec<(String, String)> {
    user_errors(payload)
        .into_iter()
        .map(|(field, code)| (field[1].as_str().unwrap_or("").to_string(), code))
        .collect()
}

#[tokio::test]
async fn create_normalises_and_derives_fields() {
    let app = TestApp::spawn().await;
    let payload = create(
        &app,
        json!({
            "firstName": "  Ada ", "lastName": "Lovelace", "nickname": "Enchantress",
            "email": "Ada@Example.COM", "phone": "+44 (20) 7946-0958",
            "avatarUrl": "https://example.com/ada.png"
        }),
    )
    .await;
    let expected = json!({
        "firstName": "Ada", "completeName": "Ada Lovelace", "initials": "AL",
        "email": "ada@example.com", "phone": "+442079460958",
        "avatarUrl": "https://example.com/ada.png",
    });
    let contact = assert_created(&payload, "contact", "ctc_", expected);
    assert_eq!(contact["createdAt"], contact["updatedAt"]);

    let fetched = app.data_of("query($id: ID!) { contact(id: $id) { id completeName } node(id: $id) { id ... on Contact { email } } }", &contact["id"]).await;
    assert_eq!(fetched["contact"]["completeName"], "Ada Lovelace");
    assert_eq!(fetched["node"]["email"], "ada@example.com");
}

#[tokio::test]
async fn invalid_input_is_a_user_error_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let payload = create(
        &app,
        json!({ "firstName": "  ", "email": "not-an-email", "phone": "020 7946 0958", "avatarUrl": "ftp://x/y" }),
    )
    .await;
    assert_eq!(payload["contact"], Value::Null);
    assert_eq!(
        codes(&payload),
        vec![
            ("firstName".to_string(), "REQUIRED".to_string()),
            ("email".to_string(), "INVALID_EMAIL".to_string()),
            ("phone".to_string(), "INVALID_PHONE".to_string()),
            ("avatarUrl".to_string(), "INVALID_URL".to_string()),
        ]
    );
    let phone_error = &payload["userErrors"][2]["message"];
    assert!(
        phone_error
            .as_str()
            .is_some_and(|m| m.contains("country code")),
        "{phone_error}"
    );

    let too_long = create(&app, json!({ "firstName": "x".repeat(256) })).await;
    assert_eq!(
        codes(&too_long),
        vec![("firstName".to_string(), "TOO_LONG".to_string())]
    );
    assert_eq!(total_count(&app).await, 0);
}

#[tokio::test]
async fn phones_need_their_country_code_but_not_the_plus() {
    let app = TestApp::spawn().await;
    for (input, stored) in [
        ("31612345678", "+31612345678"),
        ("+31 (0)6 1234-5678", "+31612345678"),
        ("1 415 555 0100", "+14155550100"),
        ("+49 30 12345678", "+493012345678"),
    ] {
        let payload = create(&app, json!({ "firstName": "Ada", "phone": input })).await;
        assert_eq!(payload["userErrors"], json!([]), "{input}: {payload}");
        assert_eq!(payload["contact"]["phone"], stored, "{input}");
    }
    for refused in [
        "0612345678",
        "+31 6 1234",
        "+1 415 555 01000",
        "+31 6 12A45678",
    ] {
        let payload = create(&app, json!({ "firstName": "Ada", "phone": refused })).await;
        assert_eq!(
            codes(&payload),
            vec![("phone".to_string(), "INVALID_PHONE".to_string())],
            "{refused}"
        );
    }
    let id = create(&app, json!({ "firstName": "Grace" })).await["contact"]["id"].clone();
    let updated = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "phone": "44 20 7946 0958" } }),
        )
        .await["updateContact"]
        .clone();
    assert_eq!(updated["contact"]["phone"], "+442079460958", "{updated}");
    assert_eq!(total_count(&app).await, 5);
}

#[tokio::test]
async fn update_changes_only_what_is_given_and_null_clears() {
    let app = TestApp::spawn().await;
    let created = create(&app, json!({ "firstName": "Ada", "lastName": "Byron", "phone": "+442079460958", "email": "ada@example.com" })).await;
    let id = created["contact"]["id"].clone();

    let payload = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "lastName": "Lovelace", "phone": null } }),
        )
        .await["updateContact"]
        .clone();
    assert_eq!(payload["userErrors"], json!([]));
    assert_eq!(payload["contact"]["firstName"], "Ada");
    assert_eq!(payload["contact"]["lastName"], "Lovelace");
    assert_eq!(payload["contact"]["phone"], Value::Null);
    assert_eq!(payload["contact"]["email"], "ada@example.com");

    // One bad field: nothing of the update is written.
    let refused = app
        .data(
            UPDATE,
            json!({ "input": { "id": id, "lastName": "King", "email": "nope" } }),
        )
        .await["updateContact"]
        .clone();
    assert_eq!(refused["contact"], Value::Null);
    assert_eq!(
        codes(&refused),
        vec![("email".to_string(), "INVALID_EMAIL".to_string())]
    );
    let blank_first = app
        .data(UPDATE, json!({ "input": { "id": id, "firstName": "" } }))
        .await["updateContact"]
        .clone();
    assert_eq!(
        codes(&blank_first),
        vec![("firstName".to_string(), "REQUIRED".to_string())]
    );
    let after = app
        .data_of(
            "query($id: ID!) { contact(id: $id) { firstName lastName email updatedAt createdAt } }",
            &id,
        )
        .await;
    assert_eq!(after["contact"]["lastName"], "Lovelace");
    assert_eq!(after["contact"]["firstName"], "Ada");
    assert_ne!(after["contact"]["updatedAt"], after["contact"]["createdAt"]);

    let missing = app
        .data(
            UPDATE,
            json!({ "input": { "id": "ctc_doesnotexist", "lastName": "X" } }),
        )
        .await["updateContact"]
        .clone();
    assert_eq!(
        codes(&missing),
        vec![("id".to_string(), "NOT_FOUND".to_string())]
    );
}

#[tokio::test]
async fn delete_returns_the_id_once() {
    let app = TestApp::spawn().await;
    let id = create_named(&app, "Ada").await;
    let delete = "mutation($id: ID!) { deleteContact(input: {id: $id}) { deletedContactId userErrors { field code } } }";
    app.assert_deleted_once(delete, &id, "deleteContact", "deletedContactId")
        .await;
    let gone = app
        .data_of("query($id: ID!) { contact(id: $id) { id } }", &id)
        .await;
    assert_eq!(gone["contact"], Value::Null);
}

const PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  contacts(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    edges { cursor node { firstName } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}";

fn names(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["firstName"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn pages_forwards_and_backwards_across_many_pages() {
    let app = TestApp::spawn().await;
    let all: Vec<String> = (0..23).map(|i| format!("Contact{i:02}")).collect();
    for name in &all {
        create_named(&app, name).await;
    }

    // Forwards, 5 at a time.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let data = app.data(PAGE, json!({ "first": 5, "after": after })).await;
        let connection = &data["contacts"];
        assert_eq!(connection["totalCount"], 23);
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], pages > 0);
        seen.extend(names(connection));
        pages += 1;
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, all);

    // Backwards, 4 at a time, from the end.
    let mut seen_back: Vec<String> = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = app.data(PAGE, json!({ "last": 4, "before": before })).await;
        let connection = &data["contacts"];
        let mut page = names(connection);
        page.extend(seen_back);
        seen_back = page;
        if connection["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = connection["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(seen_back, all);

    // Cursors of an edge continue from that edge.
    let first = app.data(PAGE, json!({ "first": 3 })).await;
    let middle_cursor = first["contacts"]["edges"][1]["cursor"].clone();
    let next = app
        .data(PAGE, json!({ "first": 2, "after": middle_cursor }))
        .await;
    assert_eq!(names(&next["contacts"]), vec!["Contact02", "Contact03"]);
    let previous = app
        .data(PAGE, json!({ "last": 5, "before": middle_cursor }))
        .await;
    assert_eq!(names(&previous["contacts"]), vec!["Contact00"]);
    assert_eq!(previous["contacts"]["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(previous["contacts"]["pageInfo"]["hasNextPage"], true);

    // Cursors are `v2:` now; the `k1:<key>` ones handed out before still page.
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let inner = URL_SAFE_NO_PAD
        .decode(middle_cursor.as_str().expect("cursor"))
        .expect("base64url");
    let inner = String::from_utf8(inner).expect("utf-8");
    let key = inner
        .strip_prefix("v2:[[],")
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("a v2 cursor without sort keys: {inner}"));
    let old_cursor = URL_SAFE_NO_PAD.encode(format!("k1:{key}"));
    let next = app
        .data(PAGE, json!({ "first": 2, "after": old_cursor }))
        .await;
    assert_eq!(names(&next["contacts"]), vec!["Contact02", "Contact03"]);
}

#[tokio::test]
async fn bad_page_arguments_are_bad_user_input() {
    let app = TestApp::spawn().await;
    for variables in [
        json!({ "first": 0 }),
        json!({ "first": 1001 }),
        json!({ "last": -1 }),
        json!({ "first": 1, "last": 1 }),
        json!({ "first": 1, "after": "garbage" }),
    ] {
        let body = app.graphql(PAGE, variables.clone()).await;
        assert_eq!(body["data"], Value::Null, "{variables}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{variables}: {body}"
        );
        assert_eq!(body["errors"][0]["path"], json!(["contacts"]));
    }
    let ok = app.graphql(PAGE, json!({ "first": 1000 })).await;
    assert!(ok.get("errors").is_none());
}

#[tokio::test]
async fn search_matches_every_word_across_names_email_and_phone() {
    let app = TestApp::spawn().await;
    create(
        &app,
        json!({ "firstName": "Ada", "lastName": "Lovelace", "email": "ada@analytical.org" }),
    )
    .await;
    create(
        &app,
        json!({ "firstName": "Grace", "lastName": "Hopper", "phone": "+12025550123" }),
    )
    .await;
    create(
        &app,
        json!({ "firstName": "Alan", "nickname": "Prof_100%" }),
    )
    .await;
    let search = |term: &str| {
        let app = &app;
        let term = term.to_string();
        async move {
            let data = app
                .data(
                    "query($s: String) { contacts(search: $s) { totalCount edges { node { firstName } } } }",
                    json!({ "s": term }),
                )
                .await;
            (
                names(&data["contacts"]),
                data["contacts"]["totalCount"].as_i64(),
            )
        }
    };
    assert_eq!(search("love").await, (vec!["Ada".to_string()], Some(1)));
    assert_eq!(
        search("ANALYTICAL ada").await,
        (vec!["Ada".to_string()], Some(1))
    );
    assert_eq!(
        search("2025550").await,
        (vec!["Grace".to_string()], Some(1))
    );
    assert_eq!(search("a").await.1, Some(3));
    assert_eq!(search("100%").await, (vec!["Alan".to_string()], Some(1)));
    assert_eq!(search("_1").await, (vec!["Alan".to_string()], Some(1)));
    assert_eq!(search("ada hopper").await, (vec![], Some(0)));
}

#[tokio::test]
async fn nodes_refetches_in_order_with_nulls_for_unknown_ids() {
    let app = TestApp::spawn().await;
    let a = create_named(&app, "A").await;
    let b = create_named(&app, "B").await;
    let data = app
        .data(
            "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Contact { firstName } } }",
            json!({ "ids": [b, "ctc_unknown", "bogus", a] }),
        )
        .await;
    assert_eq!(
        data["nodes"],
        json!([{ "id": b, "firstName": "B" }, null, null, { "id": a, "firstName": "A" }])
    );
}

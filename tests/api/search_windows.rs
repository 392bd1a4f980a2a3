//! Search windows: a query of common words is searched hour by hour from the
//! newest, a rarer one all at once; both must give what one plain SQL gives.

use serde_json::{Value, json};

use crate::helpers::{TestApp, at};
use confab::domain::search::model::STEPPED_ABOVE;

const SEARCH: &str = "query($query: String!, $filter: SearchMessagesFilter, $after: String) {
  searchMessages(query: $query, filter: $filter, first: 100, after: $after) {
    edges { node { rank message { id } } }
    pageInfo { hasNextPage endCursor }
  }
}";

/// Every hit of a search, page after page: (message id, rank).
async fn all_hits(app: &TestApp, query: &str, filter: Value) -> Vec<(String, f64)> {
    let mut hits = Vec::new();
    let mut after = Value::Null;
    loop {
        let body = app
            .graphql(
                SEARCH,
                json!({ "query": query, "filter": filter, "after": after }),
            )
            .await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        let connection = &body["data"]["searchMessages"];
        for edge in connection["edges"].as_array().cloned().unwrap_or_default() {
            let id = at(&edge, "/node/message/id").as_str().unwrap_or("?");
            let rank = at(&edge, "/node/rank").as_f64().unwrap_or(-1.0);
            hits.push((id.to_string(), rank));
        }
        if connection["pageInfo"]["hasNextPage"] != json!(true) {
            return hits;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
}

/// What a search should answer, by the definition (the newest 500 matches,
/// best first, then newest first) in one plain statement.
async fn expected_hits(app: &TestApp, query: &str, thread: Option<&str>) -> Vec<(String, f64)> {
    let thread = thread.map_or(String::new(), |id| {
        format!("AND m.thread_id = (SELECT id FROM threads WHERE public_id = '{id}')")
    });
    let rows = app
        .query_texts(&format!(
            "WITH q AS (SELECT websearch_to_tsquery('simple', '{query}') AS q)
             SELECT c.public_id || ' ' || (round(ts_rank(c.search_vector, q.q) * 1000000) / 1000000)::text AS value
             FROM (SELECT m.* FROM messages m, q WHERE m.search_vector @@ q.q {thread}
                   ORDER BY m.created_at DESC, m.id DESC LIMIT 500) c, q
             ORDER BY round(ts_rank(c.search_vector, q.q) * 1000000) DESC, c.created_at DESC, c.id DESC"
        ))
        .await;
    rows.iter()
        .map(|row| {
            let (id, rank) = row.split_once(' ').unwrap_or((row, "-1"));
            (id.to_string(), rank.parse().unwrap_or(-1.0))
        })
        .collect()
}

/// PostgreSQL's estimate of the messages `query` matches.
async fn estimate(app: &TestApp, query: &str) -> f64 {
    app.execute_sql(
        "CREATE OR REPLACE FUNCTION test_plan_rows(statement text) RETURNS text
         LANGUAGE plpgsql AS $$
         DECLARE plan json;
         BEGIN
             EXECUTE 'EXPLAIN (FORMAT JSON) ' || statement INTO plan;
             RETURN plan->0->'Plan'->>'Plan Rows';
         END $$",
    )
    .await;
    let rows = app
        .query_texts(&format!(
            "SELECT test_plan_rows($q$SELECT 1 FROM messages WHERE search_vector @@ websearch_to_tsquery('simple', '{query}')$q$) AS value"
        ))
        .await;
    rows.concat().parse().unwrap_or(0.0)
}

/// Two threads, and 4,000 messages three minutes apart reaching back 200
/// hours from `newest` (a SQL timestamp): past every step and into the last
/// (older than 128 hours). "alpha" is in all, "beta" in a third, "gamma" in
/// one of fifty, "delta" only in those older than 110 hours; repeats make
/// ranks differ, and tie.
async fn seed(app: &TestApp, newest: &str) -> [String; 2] {
    let threads = [
        app.create_thread(json!({ "name": "east" })).await,
        app.create_thread(json!({ "name": "west" })).await,
    ];
    app.execute_sql(&format!(
        "INSERT INTO messages (organization_id, public_id, thread_id, kind, body, created_at)
         SELECT t.organization_id, 'msg_step' || g, t.id, 'text',
                repeat('alpha ', 1 + g % 4)
                || CASE WHEN g % 3 = 0 THEN 'beta ' ELSE '' END
                || CASE WHEN g % 50 = 0 THEN 'gamma ' ELSE '' END
                || CASE WHEN g > 2200 THEN repeat('delta ', 1 + g % 3) ELSE '' END
                || 'word' || g,
                {newest} - g * interval '3 minutes'
         FROM generate_series(1, 4000) g
         JOIN threads t ON t.public_id = CASE WHEN g % 2 = 0 THEN '{}' ELSE '{}' END",
        threads[0], threads[1]
    ))
    .await;
    app.execute_sql("ANALYZE messages").await;
    threads
}

/// Each query answers as the plain definition, by the window `stepped` says.
async fn check(app: &TestApp, queries: &[(&str, bool)]) {
    for &(query, stepped) in queries {
        let estimated = estimate(app, query).await;
        assert_eq!(
            estimated > STEPPED_ABOVE,
            stepped,
            "{query}: estimated {estimated} matches"
        );
        let expected = expected_hits(app, query, None).await;
        assert!(!expected.is_empty(), "{query}");
        assert_eq!(all_hits(app, query, json!(null)).await, expected, "{query}");
    }
}

#[tokio::test]
async fn stepped_and_whole_searches_answer_as_the_plain_definition() {
    let app = TestApp::spawn().await;
    let threads = seed(&app, "now()").await;
    check(
        &app,
        &[
            ("alpha", true),
            ("delta", true),
            ("alpha -beta", true),
            ("gamma", false),
            ("gamma OR delta", true),
        ],
    )
    .await;
    let expected = expected_hits(&app, "alpha", Some(&threads[0])).await;
    assert_eq!(
        all_hits(&app, "alpha", json!({ "threadId": threads[0] })).await,
        expected,
        "alpha in one thread"
    );
}

/// Steps count back from the organization's newest message, not the clock:
/// an organization quiet for 40 days (or ahead of it by a day) is searched
/// the same way, and answers the same.
#[tokio::test]
async fn stepped_searches_start_at_the_newest_message_not_the_clock() {
    for newest in ["now() - interval '40 days'", "now() + interval '1 day'"] {
        let app = TestApp::spawn().await;
        seed(&app, newest).await;
        check(
            &app,
            &[("alpha", true), ("delta", true), ("alpha -beta", true)],
        )
        .await;
    }
}

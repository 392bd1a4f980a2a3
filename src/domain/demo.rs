//! Demo data: an organization with users, contacts, threads, messages,
//! reactions and conversations, at a chosen scale. Rows are generated inside
//! PostgreSQL (`INSERT … SELECT generate_series`), so a million messages take
//! seconds, not minutes. Bulk rows write no events: subscriptions start from
//! what happens after seeding.

use diesel::QueryResult;
use diesel::sql_types::{BigInt, Integer, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};

use crate::db::ids::OrganizationId;
use crate::domain::organizations::model;

/// How much to generate.
#[derive(Clone, Debug, clap::Args)]
pub struct DemoScale {
    /// Name of the organization to create.
    #[arg(long, default_value = "demo")]
    pub org: String,
    /// Users (agents).
    #[arg(long, default_value_t = 5)]
    pub users: i32,
    /// Contacts.
    #[arg(long, default_value_t = 50)]
    pub contacts: i32,
    /// Threads, each with one user and one contact subscribed.
    #[arg(long, default_value_t = 50)]
    pub threads: i32,
    /// Messages in each of those threads.
    #[arg(long, default_value_t = 40)]
    pub messages_per_thread: i32,
    /// Messages in one extra thread, `thrd_bench`, for deep-pagination benchmarks.
    #[arg(long, default_value_t = 0)]
    pub big_thread_messages: i64,
}

/// What was created.
pub struct DemoSummary {
    /// The new organization's api key.
    pub api_key: String,
    pub messages: i64,
}

/// Creates the demo organization and its data in one transaction.
pub async fn seed(conn: &mut AsyncPgConnection, scale: &DemoScale) -> QueryResult<DemoSummary> {
    conn.transaction(async |conn| {
        let (organization, key) = model::create_organization(conn, &scale.org).await?;
        let org = organization.id;
        run(conn, SEED_USERS, org, scale.users).await?;
        run(conn, SEED_CONTACTS, org, scale.contacts).await?;
        diesel::sql_query(SEED_THREADS)
            .bind::<BigInt, _>(org)
            .bind::<Integer, _>(scale.threads)
            .bind::<Integer, _>(scale.contacts.max(1))
            .bind::<Integer, _>(scale.users.max(1))
            .execute(conn)
            .await?;
        run(conn, SEED_SUBSCRIBERS, org, 0).await?;
        let mut messages = diesel::sql_query(SEED_MESSAGES)
            .bind::<BigInt, _>(org)
            .bind::<BigInt, _>(i64::from(scale.messages_per_thread))
            .bind::<Text, _>("thrd_demo-%")
            .execute(conn)
            .await? as i64;
        if scale.big_thread_messages > 0 {
            diesel::sql_query(SEED_BIG_THREAD)
                .bind::<BigInt, _>(org)
                .execute(conn)
                .await?;
            run(conn, SEED_SUBSCRIBERS, org, 0).await?;
            messages += diesel::sql_query(SEED_MESSAGES)
                .bind::<BigInt, _>(org)
                .bind::<BigInt, _>(scale.big_thread_messages)
                .bind::<Text, _>("thrd_bench")
                .execute(conn)
                .await? as i64;
        }
        run(conn, SEED_ACTIVITY, org, 0).await?;
        run(conn, SEED_REACTIONS, org, 0).await?;
        run(conn, SEED_CONVERSATIONS, org, 0).await?;
        Ok(DemoSummary {
            api_key: key.token,
            messages,
        })
    })
    .await
}

async fn run(
    conn: &mut AsyncPgConnection,
    sql: &str,
    org: OrganizationId,
    count: i32,
) -> QueryResult<usize> {
    if sql.contains("$2") {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(org)
            .bind::<Integer, _>(count)
            .execute(conn)
            .await
    } else {
        diesel::sql_query(sql)
            .bind::<BigInt, _>(org)
            .execute(conn)
            .await
    }
}

const SEED_USERS: &str = "
INSERT INTO users (organization_id, public_id, name, email)
SELECT $1, 'usr_demo' || g, 'Agent ' || g, 'agent' || g || '@demo.test'
FROM generate_series(1, $2) g";

const SEED_CONTACTS: &str = "
INSERT INTO contacts (organization_id, public_id, first_name, last_name, email, phone)
SELECT $1, 'ctc_demo' || g,
       (ARRAY['Ada','Grace','Alan','Edsger','Barbara','Donald','Margaret','Ken'])[1 + g % 8],
       (ARRAY['Lovelace','Hopper','Turing','Dijkstra','Liskov','Knuth','Hamilton','Thompson'])[1 + (g / 8) % 8],
       'customer' || g || '@example.com', '+1415555' || lpad(g::text, 4, '0')
FROM generate_series(1, $2) g";

const SEED_THREADS: &str = "
INSERT INTO threads (organization_id, public_id, name, subject, resource_id, channel, identifier, contact_id, location_id)
SELECT $1, 'thrd_demo-' || g, 'Shipment ' || g, 'About shipment ' || g, 'demo-' || g,
       'sms', '+1415556' || lpad(g::text, 4, '0'), c.id, 'depot-' || (g % 3 + 1)
FROM generate_series(1, $2) g
JOIN contacts c ON c.organization_id = $1 AND c.public_id = 'ctc_demo' || ((g - 1) % $3 + 1)";

/// One user and the linked contact subscribe to each thread without subscribers.
const SEED_SUBSCRIBERS: &str = "
INSERT INTO thread_subscribers (organization_id, public_id, thread_id, user_id, contact_id, viewed_at)
SELECT t.organization_id, 'sub_' || t.id || '_' || member.kind, t.id,
       CASE WHEN member.kind = 'u' THEN u.id END,
       CASE WHEN member.kind = 'c' THEN t.contact_id END,
       now()
FROM threads t
JOIN LATERAL (SELECT id FROM users WHERE organization_id = t.organization_id ORDER BY id
              OFFSET (t.id % GREATEST((SELECT count(*) FROM users WHERE organization_id = t.organization_id), 1)) LIMIT 1) u ON true
CROSS JOIN (VALUES ('u'), ('c')) AS member(kind)
WHERE t.organization_id = $1
  AND (member.kind = 'u' OR t.contact_id IS NOT NULL)
  AND NOT EXISTS (SELECT 1 FROM thread_subscribers s WHERE s.thread_id = t.id)";

/// Messages alternate between the thread's two subscribers, a minute apart.
const SEED_MESSAGES: &str = "
INSERT INTO messages (organization_id, public_id, thread_id, kind, body, author_subscriber_id, created_at)
SELECT t.organization_id, 'msg_' || t.id || '_' || g, t.id, 'text',
       'Message ' || g || ' about ' || coalesce(t.name, t.public_id),
       CASE WHEN g % 2 = 0 THEN su.id ELSE coalesce(sc.id, su.id) END,
       now() - ($2 - g) * interval '1 second'
FROM threads t
JOIN thread_subscribers su ON su.thread_id = t.id AND su.user_id IS NOT NULL
LEFT JOIN thread_subscribers sc ON sc.thread_id = t.id AND sc.contact_id IS NOT NULL
CROSS JOIN generate_series(1, $2) g
WHERE t.organization_id = $1 AND t.public_id LIKE $3
ORDER BY t.id, g";

const SEED_BIG_THREAD: &str = "
INSERT INTO threads (organization_id, public_id, name, resource_id, contact_id)
SELECT $1, 'thrd_bench', 'Benchmark thread', 'bench',
       (SELECT id FROM contacts WHERE organization_id = $1 ORDER BY id LIMIT 1)";

const SEED_ACTIVITY: &str = "
UPDATE threads t SET last_message_at = m.latest, updated_at = m.latest
FROM (SELECT thread_id, max(created_at) AS latest FROM messages WHERE organization_id = $1 GROUP BY thread_id) m
WHERE t.id = m.thread_id";

/// A thumbs-up from the other subscriber on every fifth message of the demo threads.
const SEED_REACTIONS: &str = "
INSERT INTO message_reactions (organization_id, message_id, subscriber_id, emoji)
SELECT m.organization_id, m.id, s.id, '👍'
FROM messages m
JOIN threads t ON t.id = m.thread_id AND t.public_id LIKE 'thrd_demo-%'
JOIN thread_subscribers s ON s.thread_id = m.thread_id AND s.id <> m.author_subscriber_id
WHERE m.organization_id = $1 AND m.id % 5 = 0";

const SEED_CONVERSATIONS: &str = "
WITH created AS (
    INSERT INTO conversations (organization_id, public_id, contact_id, channel, happened_at)
    SELECT organization_id, 'conv_demo' || id, id, 'phone', current_date - (id % 30)::int
    FROM contacts WHERE organization_id = $1
    RETURNING id, organization_id
)
INSERT INTO messages (organization_id, public_id, conversation_id, kind, body, written_at, written_by_me)
SELECT c.organization_id, 'msg_conv' || c.id || '_' || g, c.id, 'text',
       (ARRAY['Called about the order', 'Customer asked for a new date', 'Agreed on Tuesday'])[g],
       now() - (3 - g) * interval '1 hour', g % 2 = 1
FROM created c CROSS JOIN generate_series(1, 3) g";

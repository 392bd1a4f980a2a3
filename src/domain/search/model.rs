//! The full-text search of messages: `websearch_to_tsquery` in the
//! organization's language over the GIN-indexed `search_vector`, one page per statement.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{HIGHLIGHT_START, HIGHLIGHT_STOP, ORDER, QueryText, SCORE_SCALE};
use crate::db::cached::fixed_sql;
use crate::db::ids::OrganizationId;
use crate::db::page::{PageRequest, Position, Scan, SortKey};
use crate::db::schema::{organizations, threads};
use crate::domain::messages::kind::MessageKind;
use crate::domain::messages::model::{COLUMNS, Message};
use crate::domain::organizations::model::SEARCH_LANGUAGE;
use crate::domain::threads::model::{Interval, ThreadScope};

/// How many of the newest matching messages are ranked. A query of common
/// words matches a large share of a busy organization's messages, and
/// ranking them all would cost time in proportion; a chat search wants the
/// best of the recent ones. Rarer queries have fewer matches than this, and
/// for them the ranking is over every match.
pub const WINDOW: i64 = 500;

/// Validated filters of a message search; all given ones must match. Ids
/// are public ids, resolved inside the statement (an unknown one matches
/// nothing).
#[derive(Clone, Debug, Default)]
pub struct MessageFilter {
    pub thread_id: Option<String>,
    pub conversation_id: Option<String>,
    /// The author's subscriber id, or the id of the user, api key or
    /// contact who wrote it.
    pub author_id: Option<String>,
    pub created_between: Option<Interval>,
    pub kind: Option<MessageKind>,
}

/// One message found, with its score and a highlighted snippet.
#[derive(QueryableByName, Clone, Debug)]
pub struct MessageHit {
    #[diesel(embed)]
    pub message: Message,
    /// `ts_rank` times `SCORE_SCALE`.
    #[diesel(sql_type = BigInt)]
    pub score: i64,
    /// The best fragments of the body, matches between the highlight marks.
    #[diesel(sql_type = Text)]
    pub snippet: String,
}

impl MessageHit {
    /// Its place in the hits: score, then newest first.
    pub fn position(&self) -> Position {
        Position {
            keys: vec![
                SortKey::Int(self.score),
                SortKey::Time(self.message.created_at),
            ],
            id: self.message.id.into(),
        }
    }
}

/// A query expected (by PostgreSQL's estimate) to match more messages than
/// this is searched hour by hour from the newest (`Window::Stepped`); one
/// expected to match fewer takes all its matches at once.
pub const STEPPED_ABOVE: f64 = 1_500.0;

/// How many hours back from the organization's newest each step of a
/// stepped search reaches: each step doubles the span of the one before, so
/// a step finds about as many matches as all before it and little is read
/// in vain. Messages older than the last step are one final step.
const STEPS: [i64; 6] = [4, 8, 16, 32, 64, 128];

/// Hours a message may lie ahead of the newest hour read by the first
/// statement and still be in the first step: messages written meanwhile,
/// by clocks of other statements and transactions begun earlier.
const AHEAD: i64 = 2;

/// One page of the newest `WINDOW` messages the caller may read that match
/// `text`, best first, then newest first. Three statements: the
/// organization's language and its newest hour, PostgreSQL's estimate of
/// the matches, then the page, planned afresh with the words in hand so
/// that PostgreSQL picks, by how common they are, between the GIN index and
/// walking the newest messages.
pub async fn page(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    text: &QueryText,
    filter: &MessageFilter,
    page: &PageRequest,
) -> QueryResult<Vec<MessageHit>> {
    let (language, newest_hour) = organizations::table
        .find(scope.organization_id)
        .select((
            fixed_sql::<Text>(SEARCH_LANGUAGE),
            fixed_sql::<BigInt>(NEWEST_HOUR),
        ))
        .get_result::<(String, i64)>(conn)
        .await?;
    let search = |window| SearchMessages {
        organization_id: scope.organization_id,
        language: language.clone(),
        // A contact reads only its threads' messages, never conversations.
        visible_threads: scope
            .only_contact
            .map(|_| scope.visible().select(threads::id)),
        text: text.as_str().to_string(),
        filter: filter.clone(),
        scan: page.scan(ORDER),
        window,
    };
    let window = if estimated_matches(conn, Estimate(search(Window::Whole))).await? > STEPPED_ABOVE
    {
        Window::stepped(scope.organization_id, newest_hour)
    } else {
        Window::Whole
    };
    search(window).load(conn).await
}

/// The hour (since 2000, as in `search_bucket`) of the organization's
/// newest message, or the current hour by the database's clock if it has
/// none. Steps count back from it rather than from the clock, so that an
/// organization quiet for a week (or a bench seeded a week ago) still finds
/// its newest matches in the first steps: one backward step of
/// `messages_recent`.
const NEWEST_HOUR: &str = "coalesce(
    (SELECT max(m.search_bucket) FROM messages m
     WHERE m.search_bucket >= (organizations.id << 24)
       AND m.search_bucket < ((organizations.id + 1) << 24)) - (organizations.id << 24),
    floor(extract(epoch FROM now() - timestamptz '2000-01-01 00:00:00+00') / 3600)::bigint)";

/// PostgreSQL's estimate of how many messages a search matches (before its
/// window): the planner's row count for them.
async fn estimated_matches(conn: &mut AsyncPgConnection, search: Estimate) -> QueryResult<f64> {
    #[derive(QueryableByName)]
    struct Explained {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        plan: String,
    }
    let explained: Explained = search.get_result(conn).await?;
    let plan: serde_json::Value = serde_json::from_str(&explained.plan)
        .map_err(|e| diesel::result::Error::DeserializationError(Box::new(e)))?;
    Ok(plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0))
}

/// Where the newest `WINDOW` matches are looked for.
#[derive(Debug)]
enum Window {
    /// All the matches at once: the GIN index, then the newest of them.
    Whole,
    /// The newest hours first: one step per span of `STEPS`, each an array
    /// of `search_bucket` values (exact GIN keys, or a bounded walk of
    /// `messages_recent`), each taken only while the steps before found
    /// fewer than `WINDOW`; then the organization's older hours, as the
    /// range of `search_bucket` values `older` (walked newest first like a
    /// step, where a bound on `created_at` has no index to walk).
    Stepped {
        steps: Vec<Vec<i64>>,
        older: (i64, i64),
    },
}

impl Window {
    /// The steps back from `hour` (since 2000), the newest of `organization`.
    fn stepped(organization: OrganizationId, hour: i64) -> Window {
        let base = i64::from(organization) << 24;
        let mut newest = hour + AHEAD;
        let steps = STEPS
            .iter()
            .map(|back| {
                let oldest = hour - back + 1;
                let step = (oldest..=newest).rev().map(|h| base + h).collect();
                newest = oldest - 1;
                step
            })
            .collect();
        let older = (base, base + newest + 1);
        Window::Stepped { steps, older }
    }
}

/// The `ts_headline` options: the marks, and an excerpt of 15 to 35 words
/// (a short message whole) around the best match.
fn headline_options() -> String {
    format!("StartSel={HIGHLIGHT_START}, StopSel={HIGHLIGHT_STOP}, MaxWords=35, MinWords=15")
}

/// The statement behind `page`. Its text depends only on which filters are
/// given and the scan's shape, so it can stay prepared.
struct SearchMessages {
    organization_id: OrganizationId,
    /// The organization's text search configuration.
    language: String,
    visible_threads: Option<threads::BoxedQuery<'static, Pg, BigInt>>,
    text: String,
    filter: MessageFilter,
    scan: Scan,
    window: Window,
}

/// `<lead>` followed by a subquery for the id of the organization's
/// `<table>` row with this public id, e.g. ` AND m.thread_id = (SELECT …)`.
fn push_public_id_match<'b>(
    out: &mut AstPass<'_, 'b, Pg>,
    lead: &str,
    table: &str,
    organization_id: &'b OrganizationId,
    public_id: &'b String,
) -> QueryResult<()> {
    out.push_sql(&format!(
        "{lead} (SELECT x.id FROM {table} x WHERE x.organization_id = "
    ));
    out.push_bind_param::<BigInt, _>(organization_id)?;
    out.push_sql(" AND x.public_id = ");
    out.push_bind_param::<Text, _>(public_id)?;
    out.push_sql(")");
    Ok(())
}

impl SearchMessages {
    fn push_filters<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let org = &self.organization_id;
        let filter = &self.filter;
        if let Some(visible) = &self.visible_threads {
            out.push_sql(" AND m.conversation_id IS NULL AND m.thread_id IN (");
            QueryFragment::<Pg>::walk_ast(visible, out.reborrow())?;
            out.push_sql(")");
        }
        if let Some(id) = &filter.thread_id {
            push_public_id_match(out, " AND m.thread_id =", "threads", org, id)?;
        }
        if let Some(id) = &filter.conversation_id {
            push_public_id_match(out, " AND m.conversation_id =", "conversations", org, id)?;
        }
        if let Some(id) = &filter.author_id {
            out.push_sql(
                " AND m.author_subscriber_id IN (SELECT s.id FROM thread_subscribers s \
                 WHERE s.organization_id = ",
            );
            out.push_bind_param::<BigInt, _>(org)?;
            out.push_sql(" AND (s.public_id = ");
            out.push_bind_param::<Text, _>(id)?;
            for (column, table) in [
                ("user_id", "users"),
                ("api_key_id", "api_keys"),
                ("contact_id", "contacts"),
            ] {
                push_public_id_match(out, &format!(" OR s.{column} IN"), table, org, id)?;
            }
            out.push_sql("))");
        }
        if let Some((start, end)) = &filter.created_between {
            out.push_sql(" AND m.created_at BETWEEN ");
            out.push_bind_param::<Timestamptz, _>(start)?;
            out.push_sql(" AND ");
            out.push_bind_param::<Timestamptz, _>(end)?;
        }
        if let Some(kind) = &filter.kind {
            out.push_sql(" AND m.kind = ");
            out.push_bind_param::<Text, _>(kind)?;
        }
        Ok(())
    }

    fn push_bounds<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" WHERE true");
        for (bound, operator) in [(&self.scan.greater_than, ">"), (&self.scan.less_than, "<")] {
            let Some(bound) = bound else { continue };
            let [SortKey::Int(score), SortKey::Time(at)] = bound.keys.as_slice() else {
                return Err(diesel::result::Error::QueryBuilderError(
                    "a message hit's place is (score, created_at, id)".into(),
                ));
            };
            out.push_sql(&format!(
                " AND (score, hit_created_at, hit_id) {operator} ("
            ));
            out.push_bind_param::<BigInt, _>(score)?;
            out.push_sql(", ");
            out.push_bind_param::<Timestamptz, _>(at)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&bound.id)?;
            out.push_sql(")");
        }
        Ok(())
    }
}

/// Which messages one part of the window looks at.
enum Bound<'a> {
    /// All of them.
    None,
    /// Those of these `search_bucket` values (one organization's hours).
    Hours(&'a Vec<i64>),
    /// Those of `search_bucket` values from the first up to (not
    /// including) the second.
    Range(&'a (i64, i64)),
}

impl SearchMessages {
    /// The newest `WINDOW` matches within `bound`; after the first
    /// `previous` steps (`c0`, …), only while those found fewer in all.
    fn push_matches<'b>(
        &'b self,
        out: &mut AstPass<'_, 'b, Pg>,
        previous: usize,
        bound: Bound<'b>,
    ) -> QueryResult<()> {
        out.push_sql("SELECT m.id, m.created_at, m.search_vector FROM messages m WHERE ");
        if previous > 0 {
            let found = (0..previous)
                .map(|index| format!("(SELECT count(*) FROM c{index})"))
                .collect::<Vec<_>>()
                .join(" + ");
            out.push_sql(&format!("{found} < {WINDOW} AND "));
        }
        out.push_sql("m.organization_id = ");
        out.push_bind_param::<BigInt, _>(&self.organization_id)?;
        match bound {
            Bound::None => {}
            Bound::Hours(buckets) => {
                out.push_sql(" AND m.search_bucket = ANY(");
                out.push_bind_param::<Array<BigInt>, _>(buckets)?;
                out.push_sql(")");
            }
            Bound::Range((from, to)) => {
                out.push_sql(" AND m.search_bucket >= ");
                out.push_bind_param::<BigInt, _>(from)?;
                out.push_sql(" AND m.search_bucket < ");
                out.push_bind_param::<BigInt, _>(to)?;
            }
        }
        out.push_sql(" AND m.search_vector @@ ");
        self.push_query(out)?;
        self.push_filters(out)?;
        // By hour first, so that the walk of `messages_recent` gives this order.
        let order = match bound {
            Bound::Hours(_) | Bound::Range(_) => {
                "m.search_bucket DESC, m.created_at DESC, m.id DESC"
            }
            Bound::None => "m.created_at DESC, m.id DESC",
        };
        out.push_sql(&format!(" ORDER BY {order} LIMIT {WINDOW}"));
        Ok(())
    }

    /// The parsed query, in the organization's language.
    ///
    /// The language is a literal, not a parameter: a text parameter cast to
    /// `regconfig` is a stable expression, evaluated again for every row
    /// the statement checks and invisible to the planner's estimates, where
    /// a `regconfig` literal makes the whole `websearch_to_tsquery` a
    /// constant, folded once at planning (the name is the organization's
    /// own setting, read from the database, and quoted).
    fn push_query<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(&format!(
            "websearch_to_tsquery({}::regconfig, ",
            quoted(&self.language)
        ));
        out.push_bind_param::<Text, _>(&self.text)?;
        out.push_sql(")");
        Ok(())
    }
}

impl QueryFragment<Pg> for SearchMessages {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        // Planned afresh each time, with the query's words in hand: a plan
        // cached for one query would be wrong for queries of other words.
        out.unsafe_to_cache_prepared();
        out.push_sql("WITH ");
        if let Window::Stepped { steps, older } = &self.window {
            for (index, step) in steps.iter().enumerate() {
                out.push_sql(&format!("c{index} AS MATERIALIZED ("));
                self.push_matches(&mut out, index, Bound::Hours(step))?;
                out.push_sql("), ");
            }
            out.push_sql(&format!("c{} AS MATERIALIZED (", steps.len()));
            self.push_matches(&mut out, steps.len(), Bound::Range(older))?;
            out.push_sql("), ");
        }
        out.push_sql("hit AS (SELECT c.id AS hit_id, c.created_at AS hit_created_at, round(ts_rank(c.search_vector, ");
        self.push_query(&mut out)?;
        out.push_sql(&format!(") * {SCORE_SCALE})::bigint AS score FROM ("));
        match &self.window {
            Window::Whole => self.push_matches(&mut out, 0, Bound::None)?,
            Window::Stepped { steps, .. } => {
                let all = (0..=steps.len())
                    .map(|index| format!("SELECT * FROM c{index}"))
                    .collect::<Vec<_>>()
                    .join(" UNION ALL ");
                out.push_sql(&format!(
                    "{all} ORDER BY created_at DESC, id DESC LIMIT {WINDOW}"
                ));
            }
        }
        out.push_sql(") AS c) SELECT page.score, ts_headline(m.search_config, m.body, ");
        self.push_query(&mut out)?;
        out.push_sql(", ");
        out.push_sql(&quoted(&headline_options()));
        out.push_sql(&format!(") AS snippet, {COLUMNS} FROM (SELECT * FROM hit"));
        self.push_bounds(&mut out)?;
        let direction = if self.scan.ascending { "ASC" } else { "DESC" };
        let order = format!("score {direction}, hit_created_at {direction}, hit_id {direction}");
        out.push_sql(&format!(" ORDER BY {order} LIMIT "));
        out.push_bind_param::<BigInt, _>(&self.scan.limit)?;
        out.push_sql(&format!(
            ") AS page JOIN messages m ON m.id = page.hit_id ORDER BY page.{}",
            order.replace(", ", ", page.")
        ));
        Ok(())
    }
}

/// A SQL string literal of a fixed text chosen in code.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `EXPLAIN` of the messages a search matches, for PostgreSQL's estimate.
struct Estimate(SearchMessages);

impl QueryFragment<Pg> for Estimate {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let search = &self.0;
        out.unsafe_to_cache_prepared();
        out.push_sql(
            "EXPLAIN (FORMAT JSON) SELECT m.id FROM messages m WHERE m.organization_id = ",
        );
        out.push_bind_param::<BigInt, _>(&search.organization_id)?;
        out.push_sql(" AND m.search_vector @@ ");
        search.push_query(&mut out)?;
        search.push_filters(&mut out)
    }
}

crate::db::raw_statement!(Estimate);

crate::db::raw_statement!(SearchMessages);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stepped_windows_cover_every_hour_once_newest_first() {
        let hour = 235_736;
        let Window::Stepped { steps, older } = Window::stepped(OrganizationId(3), hour) else {
            panic!("stepped");
        };
        let base = 3 << 24;
        let hours: Vec<i64> = steps.concat().iter().map(|bucket| bucket - base).collect();
        let oldest = hour - STEPS[STEPS.len() - 1] + 1;
        assert_eq!(hours, (oldest..=hour + AHEAD).rev().collect::<Vec<_>>());
        assert_eq!(steps[0].len() as i64, STEPS[0] + AHEAD);
        assert_eq!(steps[1].len() as i64, STEPS[1] - STEPS[0]);
        // The organization's hours before the oldest step's first are the last step.
        assert_eq!(older, (base, base + oldest));
    }

    #[test]
    fn headline_options_spell_the_documented_marks() {
        let options = headline_options();
        assert!(
            options.starts_with("StartSel=<mark>, StopSel=</mark>,"),
            "{options}"
        );
        assert_eq!(quoted("it's"), "'it''s'");
    }
}

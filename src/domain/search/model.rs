//! The full-text search of messages: `websearch_to_tsquery` in the
//! organization's language over the GIN-indexed `search_vector`, one page per statement.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Text, Timestamptz, Untyped};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{HIGHLIGHT_START, HIGHLIGHT_STOP, ORDER, QueryText, SCORE_SCALE};
use crate::db::ids::OrganizationId;
use crate::db::page::{PageRequest, Position, Scan, SortKey};
use crate::db::schema::threads;
use crate::domain::messages::kind::MessageKind;
use crate::domain::messages::model::{COLUMNS, Message};
use crate::domain::organizations::model::search_language;
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

/// One page of the newest `WINDOW` messages the caller may read that match
/// `text`, best first, then newest first. Reads the organization's language
/// first: the page's statement is planned with the query in hand, so that
/// PostgreSQL can pick, by how common its words are, between the GIN index
/// (rare words) and walking the newest messages (common words).
pub async fn page(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    text: &QueryText,
    filter: &MessageFilter,
    page: &PageRequest,
) -> QueryResult<Vec<MessageHit>> {
    let language = search_language(conn, scope.organization_id).await?;
    SearchMessages {
        organization_id: scope.organization_id,
        language,
        // A contact reads only its threads' messages, never conversations.
        visible_threads: scope
            .only_contact
            .map(|_| scope.visible().select(threads::id)),
        text: text.as_str().to_string(),
        filter: filter.clone(),
        scan: page.scan(ORDER),
    }
    .load(conn)
    .await
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
            out.push_sql(
                " AND m.thread_id = (SELECT t.id FROM threads t WHERE t.organization_id = ",
            );
            out.push_bind_param::<BigInt, _>(org)?;
            out.push_sql(" AND t.public_id = ");
            out.push_bind_param::<Text, _>(id)?;
            out.push_sql(")");
        }
        if let Some(id) = &filter.conversation_id {
            out.push_sql(
                " AND m.conversation_id = (SELECT c.id FROM conversations c WHERE c.organization_id = ",
            );
            out.push_bind_param::<BigInt, _>(org)?;
            out.push_sql(" AND c.public_id = ");
            out.push_bind_param::<Text, _>(id)?;
            out.push_sql(")");
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
                out.push_sql(&format!(
                    " OR s.{column} IN (SELECT a.id FROM {table} a WHERE a.organization_id = "
                ));
                out.push_bind_param::<BigInt, _>(org)?;
                out.push_sql(" AND a.public_id = ");
                out.push_bind_param::<Text, _>(id)?;
                out.push_sql(")");
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

impl SearchMessages {
    /// The parsed query, in the organization's language.
    fn push_query<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("websearch_to_tsquery(CAST(");
        out.push_bind_param::<Text, _>(&self.language)?;
        out.push_sql(" AS regconfig), ");
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
        out.push_sql("WITH hit AS (SELECT c.id AS hit_id, c.created_at AS hit_created_at, round(ts_rank(c.search_vector, ");
        self.push_query(&mut out)?;
        out.push_sql(&format!(
            ") * {SCORE_SCALE})::bigint AS score FROM (SELECT m.id, m.created_at, m.search_vector \
             FROM messages m WHERE m.organization_id = "
        ));
        out.push_bind_param::<BigInt, _>(&self.organization_id)?;
        out.push_sql(" AND m.search_vector @@ ");
        self.push_query(&mut out)?;
        self.push_filters(&mut out)?;
        out.push_sql(&format!(
            " ORDER BY m.created_at DESC, m.id DESC LIMIT {WINDOW}) AS c) \
             SELECT page.score, ts_headline(m.search_config, m.body, "
        ));
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

impl QueryId for SearchMessages {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for SearchMessages {
    type SqlType = Untyped;
}

#[cfg(test)]
mod tests {
    use super::*;

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

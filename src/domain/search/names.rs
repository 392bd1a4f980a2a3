//! Searching threads and contacts by name: `word_similarity` over GIN
//! trigram indexes, so that partial words and typos still find them.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::{ORDER, QueryText, SCORE_SCALE};
use crate::db::ids::OrganizationId;
use crate::db::page::{PageRequest, Position, Scan, SortKey};
use crate::db::schema::threads;
use crate::domain::contacts::Contact;
use crate::domain::threads::Thread;
use crate::domain::threads::model::ThreadScope;

/// A contact's name as searched (and trigram-indexed: the migration's
/// `contacts_name_trigrams` index is on this very expression).
pub const CONTACT_NAME: &str =
    "(first_name || coalesce(' ' || last_name, '') || coalesce(' ' || nickname, ''))";

/// How close a name must be: the least `word_similarity` of the query to
/// some part of the name (the `<%` operator's threshold, set per connection).
pub use crate::db::WORD_SIMILARITY_THRESHOLD;

/// A thread found by its name.
#[derive(QueryableByName, Clone, Debug)]
pub struct ThreadHit {
    #[diesel(embed)]
    pub thread: Thread,
    /// `word_similarity` times `SCORE_SCALE`.
    #[diesel(sql_type = BigInt)]
    pub score: i64,
}

/// A contact found by its name.
#[derive(QueryableByName, Clone, Debug)]
pub struct ContactHit {
    #[diesel(embed)]
    pub contact: Contact,
    /// `word_similarity` times `SCORE_SCALE`.
    #[diesel(sql_type = BigInt)]
    pub score: i64,
}

/// The place of a name hit: score, then newest (highest id) first.
pub fn position(score: i64, id: i64) -> Position {
    Position {
        keys: vec![SortKey::Int(score)],
        id,
    }
}

/// One page of the threads the caller may see whose name matches `text`.
pub async fn threads(
    conn: &mut AsyncPgConnection,
    scope: ThreadScope,
    text: &QueryText,
    page: &PageRequest,
) -> QueryResult<Vec<ThreadHit>> {
    SearchNames {
        table: "threads",
        name: "name",
        organization_id: scope.organization_id,
        visible_threads: scope
            .only_contact
            .map(|_| scope.visible().select(threads::id)),
        text: text.as_str().to_string(),
        scan: page.scan(ORDER),
    }
    .load(conn)
    .await
}

/// One page of the organization's contacts whose name matches `text`.
pub async fn contacts(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    text: &QueryText,
    page: &PageRequest,
) -> QueryResult<Vec<ContactHit>> {
    SearchNames {
        table: "contacts",
        name: CONTACT_NAME,
        organization_id,
        visible_threads: None,
        text: text.as_str().to_string(),
        scan: page.scan(ORDER),
    }
    .load(conn)
    .await
}

/// The statement behind both searches: `table` and `name` are fixed SQL
/// chosen in code, never input.
struct SearchNames {
    table: &'static str,
    name: &'static str,
    organization_id: OrganizationId,
    /// For threads seen by a contact: the subquery of its threads' ids.
    visible_threads: Option<threads::BoxedQuery<'static, Pg, BigInt>>,
    text: String,
    scan: Scan,
}

impl QueryFragment<Pg> for SearchNames {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (table, name) = (self.table, self.name);
        out.push_sql("SELECT * FROM (SELECT r.*, round(word_similarity(");
        out.push_bind_param::<Text, _>(&self.text)?;
        out.push_sql(&format!(
            ", {name}) * {SCORE_SCALE})::bigint AS score FROM {table} r WHERE organization_id = "
        ));
        out.push_bind_param::<BigInt, _>(&self.organization_id)?;
        out.push_sql(" AND ");
        out.push_bind_param::<Text, _>(&self.text)?;
        out.push_sql(&format!(" <% {name}"));
        if let Some(visible) = &self.visible_threads {
            out.push_sql(" AND id IN (");
            QueryFragment::<Pg>::walk_ast(visible, out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql(") AS hit WHERE true");
        for (bound, operator) in [(&self.scan.greater_than, ">"), (&self.scan.less_than, "<")] {
            let Some(bound) = bound else { continue };
            let [SortKey::Int(score)] = bound.keys.as_slice() else {
                return Err(diesel::result::Error::QueryBuilderError(
                    "a name hit's place is (score, id)".into(),
                ));
            };
            out.push_sql(&format!(" AND (score, id) {operator} ("));
            out.push_bind_param::<BigInt, _>(score)?;
            out.push_sql(", ");
            out.push_bind_param::<BigInt, _>(&bound.id)?;
            out.push_sql(")");
        }
        let direction = if self.scan.ascending { "ASC" } else { "DESC" };
        out.push_sql(&format!(
            " ORDER BY score {direction}, id {direction} LIMIT "
        ));
        out.push_bind_param::<BigInt, _>(&self.scan.limit)?;
        Ok(())
    }
}

crate::db::raw_statement!(SearchNames);

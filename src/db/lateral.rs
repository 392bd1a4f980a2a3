//! Batched child lists: one page of children for each of many parents in a
//! single statement, so nested connections cost one query however many
//! parents a page has (no N+1).

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, BigInt};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::OrganizationId;
use crate::db::page::Scan;

/// A child table, the column pointing at its parent and the column pages
/// are ordered by. All are fixed identifiers chosen in code, never user input.
#[derive(Clone, Copy, Debug)]
pub struct ChildTable {
    pub table: &'static str,
    /// The columns fetched: `*`, or a list leaving out large ones nobody
    /// reads here (a message's search vector).
    pub columns: &'static str,
    pub parent_column: &'static str,
    /// Unique per parent; rows where it is null are not listed.
    pub key_column: &'static str,
}

/// For each parent in `parent_ids`, the page of its children described by
/// `scan` (rows in scan order of the key column), all of one organization.
pub async fn page_per_parent<T, P>(
    conn: &mut AsyncPgConnection,
    child: ChildTable,
    organization_id: OrganizationId,
    parent_ids: &[P],
    scan: Scan,
) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + Send + 'static,
    P: Into<i64> + Copy,
{
    PagePerParent {
        child,
        organization_id,
        parent_ids: parent_ids.iter().map(|&id| id.into()).collect(),
        scan,
    }
    .load(conn)
    .await
}

/// The statement behind `page_per_parent`. Unlike diesel's `sql_query`, it
/// may stay prepared: its text depends only on the table and the scan's
/// shape, so PostgreSQL plans each shape once per connection.
struct PagePerParent {
    child: ChildTable,
    organization_id: OrganizationId,
    parent_ids: Vec<i64>,
    scan: Scan,
}

impl QueryFragment<Pg> for PagePerParent {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let ChildTable {
            table,
            columns,
            parent_column,
            key_column,
        } = self.child;
        out.push_sql("SELECT page.* FROM unnest(");
        out.push_bind_param::<Array<BigInt>, _>(&self.parent_ids)?;
        out.push_sql(&format!(
            "::bigint[]) AS parent(id) CROSS JOIN LATERAL (SELECT {columns} FROM {table} \
             WHERE {parent_column} = parent.id AND {key_column} IS NOT NULL AND organization_id = "
        ));
        out.push_bind_param::<BigInt, _>(&self.organization_id)?;
        for (bound, operator) in [(&self.scan.greater_than, ">"), (&self.scan.less_than, "<")] {
            let Some(bound) = bound else { continue };
            if !bound.keys.is_empty() {
                // Child lists are sorted by their key alone.
                return Err(diesel::result::Error::QueryBuilderError(
                    "sort keys on a list sorted by key alone".into(),
                ));
            }
            out.push_sql(&format!(" AND {key_column} {operator} "));
            out.push_bind_param::<BigInt, _>(&bound.id)?;
        }
        let direction = if self.scan.ascending { "ASC" } else { "DESC" };
        // The limit is written in, not bound, as in compiled reads
        // (`domain::reads::sql`): with `LIMIT $n` PostgreSQL never settles
        // on a generic plan and plans every execution anew.
        out.push_sql(&format!(
            " ORDER BY {key_column} {direction} LIMIT {}) AS page",
            self.scan.limit
        ));
        Ok(())
    }
}

crate::db::raw_statement!(PagePerParent);

//! Batched child lists: one page of children for each of many parents in a
//! single statement, so nested connections cost one query however many
//! parents a page has (no N+1).

use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt};
use diesel::{QueryResult, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::graphql::pagination::Scan;

/// A child table, the column pointing at its parent and the column pages
/// are ordered by. All are fixed identifiers chosen in code, never user input.
#[derive(Clone, Copy, Debug)]
pub struct ChildTable {
    pub table: &'static str,
    pub parent_column: &'static str,
    /// Unique per parent; rows where it is null are not listed.
    pub key_column: &'static str,
}

/// For each parent in `parent_ids`, the page of its children described by
/// `scan` (rows in scan order of the key column), all of one organization.
pub async fn page_per_parent<T>(
    conn: &mut AsyncPgConnection,
    child: ChildTable,
    organization_id: i64,
    parent_ids: &[i64],
    scan: Scan,
) -> QueryResult<Vec<T>>
where
    T: QueryableByName<Pg> + Send + 'static,
{
    let ChildTable {
        table,
        parent_column,
        key_column,
    } = child;
    let mut sql = format!(
        "SELECT page.* FROM unnest($2::bigint[]) AS parent(id) CROSS JOIN LATERAL (\
         SELECT * FROM {table} WHERE organization_id = $1 AND {parent_column} = parent.id \
         AND {key_column} IS NOT NULL"
    );
    let mut next_param = 3;
    for (bound, operator) in [(scan.greater_than, '>'), (scan.less_than, '<')] {
        if bound.is_some() {
            sql.push_str(&format!(" AND {key_column} {operator} ${next_param}"));
            next_param += 1;
        }
    }
    let direction = if scan.ascending { "ASC" } else { "DESC" };
    sql.push_str(&format!(
        " ORDER BY id {direction} LIMIT ${next_param}) AS page"
    ));

    let mut query = diesel::sql_query(sql)
        .into_boxed::<Pg>()
        .bind::<BigInt, _>(organization_id)
        .bind::<Array<BigInt>, _>(parent_ids.to_vec());
    for bound in [scan.greater_than, scan.less_than].into_iter().flatten() {
        query = query.bind::<BigInt, _>(bound);
    }
    query.bind::<BigInt, _>(scan.limit).load(conn).await
}

/// How many children each parent has (parents without any are absent).
pub async fn count_per_parent(
    conn: &mut AsyncPgConnection,
    child: ChildTable,
    organization_id: i64,
    parent_ids: &[i64],
) -> QueryResult<Vec<(i64, i64)>> {
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        parent_id: i64,
        #[diesel(sql_type = BigInt)]
        children: i64,
    }
    let ChildTable {
        table,
        parent_column,
        ..
    } = child;
    let sql = format!(
        "SELECT {parent_column} AS parent_id, count(*) AS children FROM {table} \
         WHERE organization_id = $1 AND {parent_column} = ANY($2) GROUP BY {parent_column}"
    );
    let counts: Vec<Count> = diesel::sql_query(sql)
        .bind::<BigInt, _>(organization_id)
        .bind::<Array<BigInt>, _>(parent_ids.to_vec())
        .load(conn)
        .await?;
    Ok(counts
        .into_iter()
        .map(|c| (c.parent_id, c.children))
        .collect())
}

//! `cached_sql`: a hand-written statement that each connection prepares once
//! and then reuses, unlike diesel's `sql_query`, which is parsed on every call.
//!
//! Diesel keys its per-connection statement cache by SQL text for queries
//! without a static type id, but `sql_query` opts out of the cache because
//! its text may be built at run time. A `&'static str` cannot be, so it is
//! safe to cache: every call with the same text reuses one prepared
//! statement, saving PostgreSQL a parse and a plan, and the server a round
//! trip.
//!
//! Every `$n` in the text is parameter `n`, bound in order with `bind`. A
//! parameter may appear more than once: each place is sent as its own
//! parameter with the same value, so the text stays fixed.

use std::marker::PhantomData;

use diesel::QueryResult;
use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, TypedExpressionType, ValidGrouping,
    is_aggregate,
};
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Untyped};

/// A fixed statement with no parameters bound yet.
#[derive(Debug, Clone, Copy)]
#[must_use = "a statement runs only when loaded or executed"]
pub struct CachedSql(&'static str);

/// A fixed statement, prepared once per connection (see the module comment).
pub fn cached_sql(sql: &'static str) -> CachedSql {
    CachedSql(sql)
}

/// A statement and its parameters bound so far; the last one is `value`,
/// of SQL type `ST`.
#[must_use = "a statement runs only when loaded or executed"]
pub struct Bound<Q, V, ST> {
    query: Q,
    value: V,
    sql_type: PhantomData<ST>,
}

/// What a statement is made of: its text, and its parameters by number.
pub trait Params {
    /// How many parameters are bound.
    const COUNT: usize;

    /// The statement's text.
    fn sql(&self) -> &'static str;

    /// Pushes parameter `n` (from 1) as a bind parameter.
    fn push_param<'b>(&'b self, n: usize, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()>;
}

/// Binds the next parameter of `query` as SQL type `ST`.
fn bind<Q, ST, V>(query: Q, value: V) -> Bound<Q, V, ST> {
    Bound {
        query,
        value,
        sql_type: PhantomData,
    }
}

impl CachedSql {
    /// Binds `$1` as SQL type `ST`.
    pub fn bind<ST, V>(self, value: V) -> Bound<Self, V, ST> {
        bind(self, value)
    }
}

impl<Q, V, ST> Bound<Q, V, ST> {
    /// Binds the next parameter as SQL type `ST`.
    pub fn bind<ST2, V2>(self, value: V2) -> Bound<Self, V2, ST2> {
        bind(self, value)
    }
}

impl Params for CachedSql {
    const COUNT: usize = 0;

    fn sql(&self) -> &'static str {
        self.0
    }

    fn push_param<'b>(&'b self, n: usize, _: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        Err(diesel::result::Error::QueryBuilderError(
            format!("${n} is not bound in: {}", self.0).into(),
        ))
    }
}

impl<Q, V, ST> Params for Bound<Q, V, ST>
where
    Q: Params,
    V: ToSql<ST, Pg>,
    Pg: HasSqlType<ST>,
{
    const COUNT: usize = Q::COUNT + 1;

    fn sql(&self) -> &'static str {
        self.query.sql()
    }

    fn push_param<'b>(&'b self, n: usize, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if n == Self::COUNT {
            out.push_bind_param::<ST, V>(&self.value)
        } else {
            self.query.push_param(n, out)
        }
    }
}

/// Writes the text, each `$n` replaced by parameter `n`.
fn walk<'b, P: Params>(statement: &'b P, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
    let mut rest = statement.sql();
    while let Some(at) = rest.find('$') {
        let digits = rest[at + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        if digits == 0 {
            out.push_sql(&rest[..=at]);
            rest = &rest[at + 1..];
            continue;
        }
        out.push_sql(&rest[..at]);
        let number = &rest[at + 1..at + 1 + digits];
        let n = number.parse().map_err(|_| {
            diesel::result::Error::QueryBuilderError(format!("bad parameter ${number}").into())
        })?;
        statement.push_param(n, &mut out)?;
        rest = &rest[at + 1 + digits..];
    }
    out.push_sql(rest);
    Ok(())
}

impl QueryFragment<Pg> for CachedSql {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk(self, out)
    }
}

impl<Q, V, ST> QueryFragment<Pg> for Bound<Q, V, ST>
where
    Self: Params,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        walk(self, out)
    }
}

crate::db::raw_statement!(CachedSql);

impl<Q, V, ST> QueryId for Bound<Q, V, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q, V, ST> Query for Bound<Q, V, ST> {
    type SqlType = Untyped;
}

/// A fixed SQL expression of type `ST` for diesel's query builder: like
/// `diesel::dsl::sql`, but it leaves the statement cacheable (its text
/// cannot change).
#[derive(Debug, Clone, Copy)]
pub struct FixedSql<ST> {
    sql: &'static str,
    sql_type: PhantomData<ST>,
}

/// A fixed SQL expression of type `ST` (see `FixedSql`).
pub fn fixed_sql<ST>(sql: &'static str) -> FixedSql<ST> {
    FixedSql {
        sql,
        sql_type: PhantomData,
    }
}

impl<ST: TypedExpressionType> Expression for FixedSql<ST> {
    type SqlType = ST;
}

impl<ST> QueryFragment<Pg> for FixedSql<ST> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(self.sql);
        Ok(())
    }
}

impl<ST> QueryId for FixedSql<ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<QS, ST> SelectableExpression<QS> for FixedSql<ST> where Self: Expression {}

impl<QS, ST> AppearsOnTable<QS> for FixedSql<ST> where Self: Expression {}

impl<ST, GB> ValidGrouping<GB> for FixedSql<ST> {
    type IsAggregate = is_aggregate::Never;
}

#[cfg(test)]
mod tests {
    use diesel::debug_query;
    use diesel::sql_types::{BigInt, Text};

    use super::*;

    #[test]
    fn each_place_of_a_parameter_is_sent_with_its_value() {
        let statement = cached_sql("SELECT $1, $2 WHERE a = $1 AND b = '$$x'")
            .bind::<BigInt, _>(7_i64)
            .bind::<Text, _>("seven");
        let shown = debug_query::<Pg, _>(&statement).to_string();
        assert_eq!(
            shown,
            "SELECT $1, $2 WHERE a = $3 AND b = '$$x' -- binds: [7, \"seven\", 7]"
        );
    }

    #[test]
    fn a_parameter_not_bound_is_an_error_not_a_panic() {
        let statement = cached_sql("SELECT $1, $2").bind::<BigInt, _>(1_i64);
        let mut sql = String::new();
        let rendered = std::fmt::write(
            &mut sql,
            format_args!("{}", debug_query::<Pg, _>(&statement)),
        );
        assert!(rendered.is_err(), "{sql}");
    }

    #[test]
    fn fixed_statements_stay_cacheable() {
        let statement = cached_sql("SELECT $1").bind::<BigInt, _>(1_i64);
        assert!(statement.is_safe_to_cache_prepared(&Pg).unwrap_or(false));
        let expression = fixed_sql::<BigInt>("1");
        assert!(expression.is_safe_to_cache_prepared(&Pg).unwrap_or(false));
    }
}

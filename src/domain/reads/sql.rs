//! The statement behind `reads::answer`: nested `json_build_object`s, one
//! scalar subquery per object or page, the values bound as parameters.
//!
//! The text depends only on the shape of the selection (keys, fields, which
//! page bounds are given), so PostgreSQL keeps one prepared statement per
//! shape; ids, page sizes and cursors are parameters.

use std::fmt::Write;

use diesel::pg::Pg;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Text};

use super::{ConnectionField, EdgeField, Fields, MessageField, Root, SubscriberField, ThreadField};
use crate::db::page::{Scan, SortOrder};
use crate::domain::threads::model::ThreadScope;

/// Messages list oldest first, by id.
const MESSAGE_ORDER: SortOrder = SortOrder::Ascending;

/// A value bound to a `$n` parameter.
enum Bind {
    Text(String),
    BigInt(i64),
}

/// A statement being written: its text and its parameters.
pub(super) struct Statement {
    sql: String,
    binds: Vec<Bind>,
    /// Table aliases are numbered, so nested subqueries never shadow.
    aliases: usize,
    organization: String,
}

impl Statement {
    /// The statement answering `roots` for `scope`.
    pub(super) fn of(scope: ThreadScope, roots: &Fields<Root>) -> Statement {
        let mut statement = Statement {
            sql: String::with_capacity(1024),
            binds: Vec::new(),
            aliases: 0,
            organization: String::new(),
        };
        statement.organization = statement.bind(Bind::BigInt(scope.organization_id.into()));
        statement.sql.push_str("SELECT ");
        statement.object(roots, |s, root| s.root(scope, root));
        statement.sql.push_str("::text AS data");
        statement
    }

    /// The statement as a diesel query, its parameters bound.
    pub(super) fn query(self) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.sql).into_boxed::<Pg>();
        for bind in self.binds {
            query = match bind {
                Bind::Text(value) => query.bind::<Text, _>(value),
                Bind::BigInt(value) => query.bind::<BigInt, _>(value),
            };
        }
        query
    }

    /// Adds a parameter; returns its placeholder.
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("${}", self.binds.len())
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.aliases += 1;
        format!("{prefix}{}", self.aliases)
    }

    /// `json_build_object('key', value, …)` with each value written by `value`.
    fn object<T>(&mut self, fields: &Fields<T>, mut value: impl FnMut(&mut Self, &T)) {
        self.sql.push_str("json_build_object(");
        for (index, (key, field)) in fields.iter().enumerate() {
            if index > 0 {
                self.sql.push_str(", ");
            }
            // Keys are GraphQL names ([_A-Za-z][_0-9A-Za-z]*): no quoting needed.
            let _ = write!(self.sql, "'{key}', ");
            value(self, field);
        }
        self.sql.push(')');
    }

    fn constant(&mut self, text: &str) {
        let placeholder = self.bind(Bind::Text(text.to_string()));
        let _ = write!(self.sql, "CAST({placeholder} AS text)");
    }

    fn root(&mut self, scope: ThreadScope, root: &Root) {
        match root {
            Root::Constant(text) => self.constant(text),
            Root::Thread { public_id, fields } => {
                let t = self.alias("t");
                let id = self.bind(Bind::Text(public_id.clone()));
                self.sql.push_str("(SELECT ");
                self.object(fields, |s, field| s.thread_field(&t, field));
                let org = self.organization.clone();
                let _ = write!(
                    self.sql,
                    " FROM threads {t} WHERE {t}.organization_id = {org} AND {t}.public_id = {id}"
                );
                if let Some(contact) = scope.only_contact {
                    let contact = self.bind(Bind::BigInt(contact.into()));
                    let _ = write!(
                        self.sql,
                        " AND {t}.id IN (SELECT ts.thread_id FROM thread_subscribers ts \
                         WHERE ts.organization_id = {org} AND ts.contact_id = {contact} \
                         AND NOT ts.is_archived)"
                    );
                }
                self.sql.push(')');
            }
        }
    }

    fn thread_field(&mut self, t: &str, field: &ThreadField) {
        let _ = match field {
            ThreadField::Constant(text) => {
                self.constant(text);
                Ok(())
            }
            ThreadField::Id => write!(self.sql, "{t}.public_id"),
            ThreadField::Name => write!(self.sql, "{t}.name"),
            ThreadField::Subject => write!(self.sql, "{t}.subject"),
            ThreadField::CreatedAt => write!(self.sql, "confab_rfc3339({t}.created_at)"),
            ThreadField::UpdatedAt => write!(self.sql, "confab_rfc3339({t}.updated_at)"),
            ThreadField::Messages { page, fields } => {
                let scan = page.scan(MESSAGE_ORDER);
                self.object(fields, |s, field| s.connection_field(t, &scan, field));
                Ok(())
            }
        };
    }

    fn connection_field(&mut self, t: &str, scan: &Scan, field: &ConnectionField) {
        match field {
            ConnectionField::Constant(text) => self.constant(text),
            ConnectionField::Edges(fields) => self.message_edges(t, scan, fields),
        }
    }

    /// The page's edges as a JSON array, oldest first. The page is the
    /// keyset scan the resolvers run (`db::lateral`), without the extra row
    /// they fetch to tell whether more pages follow.
    fn message_edges(&mut self, t: &str, scan: &Scan, fields: &Fields<EdgeField>) {
        let m = self.alias("m");
        self.sql.push_str("(SELECT COALESCE(json_agg(");
        self.object(fields, |s, field| s.edge_field(&m, field));
        let org = self.organization.clone();
        let _ = write!(
            self.sql,
            " ORDER BY {m}.id), '[]'::json) FROM (SELECT id, public_id, body, created_at, \
             author_subscriber_id FROM messages WHERE organization_id = {org} AND thread_id = {t}.id"
        );
        for (bound, operator) in [(&scan.greater_than, ">"), (&scan.less_than, "<")] {
            if let Some(position) = bound {
                let placeholder = self.bind(Bind::BigInt(position.id));
                let _ = write!(self.sql, " AND id {operator} {placeholder}");
            }
        }
        let direction = if scan.ascending { "ASC" } else { "DESC" };
        let limit = self.bind(Bind::BigInt((scan.limit - 1).max(0)));
        let _ = write!(self.sql, " ORDER BY id {direction} LIMIT {limit}) {m})");
    }

    fn edge_field(&mut self, m: &str, field: &EdgeField) {
        match field {
            EdgeField::Constant(text) => self.constant(text),
            EdgeField::Node(fields) => self.object(fields, |s, field| s.message_field(m, field)),
        }
    }

    fn message_field(&mut self, m: &str, field: &MessageField) {
        let _ = match field {
            MessageField::Constant(text) => {
                self.constant(text);
                Ok(())
            }
            MessageField::Id => write!(self.sql, "{m}.public_id"),
            MessageField::Text => write!(self.sql, "{m}.body"),
            MessageField::CreatedAt => write!(self.sql, "confab_rfc3339({m}.created_at)"),
            MessageField::Author(fields) => {
                let s = self.alias("s");
                self.sql.push_str("(SELECT ");
                self.object(fields, |st, field| st.subscriber_field(&s, field));
                let org = self.organization.clone();
                write!(
                    self.sql,
                    " FROM thread_subscribers {s} WHERE {s}.organization_id = {org} \
                     AND {s}.id = {m}.author_subscriber_id)"
                )
            }
        };
    }

    fn subscriber_field(&mut self, s: &str, field: &SubscriberField) {
        let org = self.organization.clone();
        let _ = match field {
            SubscriberField::Constant(text) => {
                self.constant(text);
                Ok(())
            }
            SubscriberField::Id => write!(self.sql, "{s}.public_id"),
            // As `Actor::from_columns` reads the membership columns.
            SubscriberField::Name => write!(
                self.sql,
                "CASE WHEN {s}.user_id IS NOT NULL THEN (SELECT u.name FROM users u \
                 WHERE u.organization_id = {org} AND u.id = {s}.user_id) \
                 WHEN {s}.api_key_id IS NOT NULL THEN (SELECT k.name FROM api_keys k \
                 WHERE k.organization_id = {org} AND k.id = {s}.api_key_id) \
                 WHEN {s}.contact_id IS NOT NULL THEN (SELECT c.first_name || COALESCE(' ' || c.last_name, '') \
                 FROM contacts c WHERE c.organization_id = {org} AND c.id = {s}.contact_id) END"
            ),
        };
    }
}

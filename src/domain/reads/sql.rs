//! The statement behind `reads::answer`: nested `json_build_object`s, one
//! scalar subquery per object or page, the values bound as parameters.
//!
//! The text depends only on the shape of the selection (keys, fields, which
//! page bounds are given) and its page sizes, so each connection keeps one
//! prepared statement per shape and sizes (diesel caches it by its text)
//! and PostgreSQL settles on one plan for it; ids and cursors are
//! parameters. Sizes are in the text for the plan's sake (see `connection`).

use std::fmt::Write;

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Text};

use super::{
    ConnectionField, EdgeField, Fields, MessageField, PageInfoField, Root, SubscriberField,
    ThreadField,
};
use crate::db::page::{Direction, PageRequest, SortOrder};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::threads::model::ThreadScope;

/// Messages list oldest first, by id.
const MESSAGE_ORDER: SortOrder = SortOrder::Ascending;
/// Threads list newest first, by id.
const THREAD_ORDER: SortOrder = SortOrder::Descending;

/// Columns of a message the fields read.
const MESSAGE_COLUMNS: &str = "id, public_id, body, created_at_rfc3339, author_subscriber_id";
/// Columns of a thread the fields read.
const THREAD_COLUMNS: &str = "id, public_id, name, subject, created_at, updated_at";

/// Around a parameter's index in the text being written; `walk_ast` turns
/// each into a bind. Never in SQL written here (keys are GraphQL names,
/// values are parameters).
const MARK: char = '\u{1}';

/// A member's display name from the `users u`, `api_keys k` and `contacts c`
/// that `Statement::member_joins` joins for its subscriber.
const MEMBER_NAME: &str =
    "COALESCE(u.name, k.name, c.first_name || COALESCE(' ' || c.last_name, ''))";

/// Columns and joins added to each row of a page.
#[derive(Default)]
struct Joined {
    /// `, expression AS name…`
    columns: String,
    /// ` LEFT JOIN …` on the page's rows, aliased `page`.
    joins: String,
}

/// Whether any node of a message page asks for its author.
fn asks_for_author(fields: &Fields<ConnectionField<MessageField>>) -> bool {
    fields.iter().any(|(_, field)| match field {
        ConnectionField::Edges(edges) => edges.iter().any(|(_, edge)| match edge {
            EdgeField::Node(node) => node
                .iter()
                .any(|(_, field)| matches!(field, MessageField::Author(_))),
            EdgeField::Constant(_) | EdgeField::Cursor => false,
        }),
        ConnectionField::Constant(_) | ConnectionField::PageInfo(_) => false,
    })
}

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
    viewer: Viewer,
}

impl Statement {
    /// The statement answering `roots` for `scope`.
    pub(super) fn of(viewer: Viewer, roots: &Fields<Root>) -> Statement {
        let mut statement = Statement {
            sql: String::with_capacity(1024),
            binds: Vec::new(),
            aliases: 0,
            organization: String::new(),
            viewer,
        };
        statement.organization = statement.bind(Bind::BigInt(viewer.organization_id.into()));
        statement.sql.push_str("SELECT ");
        statement.object(roots, |s, root| s.root(root));
        statement.sql.push_str("::text AS data");
        statement
    }

    /// Adds a parameter; returns its placeholder, which may be written any
    /// number of times (each becomes a `$n` of the same value).
    fn bind(&mut self, value: Bind) -> String {
        self.binds.push(value);
        format!("{MARK}{}{MARK}", self.binds.len() - 1)
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

    fn root(&mut self, root: &Root) {
        match root {
            Root::Constant(text) => self.constant(text),
            Root::Thread { public_id, fields } => {
                let t = self.alias("t");
                let id = self.bind(Bind::Text(public_id.clone()));
                self.sql.push_str("(SELECT ");
                self.object(fields, |s, field| s.thread_field(&t, field));
                let _ = write!(
                    self.sql,
                    " FROM threads {t} WHERE {t}.public_id = {id} AND "
                );
                self.visible(&t);
                self.sql.push(')');
            }
            Root::Threads { page, fields } => {
                let t = self.alias("t");
                let rows = |s: &mut Self| {
                    let _ = write!(s.sql, "SELECT {THREAD_COLUMNS} FROM threads WHERE ");
                    s.visible("threads");
                    Joined::default()
                };
                self.connection(&t, page, THREAD_ORDER, fields, rows, |s, field| {
                    s.thread_field(&t, field)
                });
            }
        }
    }

    /// The conditions of `ThreadScope::visible` on the threads aliased `t`.
    fn visible(&mut self, t: &str) {
        let org = self.organization.clone();
        let _ = write!(self.sql, "{t}.organization_id = {org}");
        if let Some(contact) = ThreadScope::of(&self.viewer).only_contact {
            let contact = self.bind(Bind::BigInt(contact.into()));
            let _ = write!(
                self.sql,
                " AND {t}.id IN (SELECT ts.thread_id FROM thread_subscribers ts \
                 WHERE ts.organization_id = {org} AND ts.contact_id = {contact} \
                 AND NOT ts.is_archived)"
            );
        }
    }

    /// A page of the rows `rows` writes (`SELECT … FROM … WHERE …`) as a
    /// connection object: the keyset scan the resolvers run (one row more
    /// than the page, to tell whether more follow), numbered in scan order,
    /// then `edges` from the page's rows in the list's order and `pageInfo`
    /// from them all. `node` writes a node's fields of the row aliased `alias`.
    fn connection<N>(
        &mut self,
        alias: &str,
        page: &PageRequest,
        order: SortOrder,
        fields: &Fields<ConnectionField<N>>,
        rows: impl FnOnce(&mut Self) -> Joined,
        mut node: impl FnMut(&mut Self, &N),
    ) {
        let scan = page.scan(order);
        // Sizes are written into the text, not bound: with `LIMIT $n`
        // PostgreSQL's generic plan guesses a tenth of the rows, costs more
        // than a custom one, and so is never chosen; the statement was then
        // planned on every execution (the thread bench: 1,800 req/s; with
        // the sizes written in, 4,600). A page size is a checked small
        // integer, so this adds at most one statement per size and shape.
        let size = page.size.to_string();
        // Only `pageInfo` needs the row after the page (is there more?);
        // without it the scan takes the page alone, and the rows need no
        // numbering to drop that extra one (about a tenth of the thread
        // query's cost in PostgreSQL).
        let looks_ahead = fields
            .iter()
            .any(|(_, field)| matches!(field, ConnectionField::PageInfo(_)));
        let within_page = if looks_ahead {
            format!(" FILTER (WHERE {alias}.rn <= {size})")
        } else {
            String::new()
        };
        let list = match order {
            SortOrder::Ascending => "ASC",
            SortOrder::Descending => "DESC",
        };
        self.sql.push_str("(SELECT ");
        self.object(fields, |s, field| match field {
            ConnectionField::Constant(text) => s.constant(text),
            ConnectionField::Edges(edges) => {
                s.sql.push_str("COALESCE(json_agg(");
                s.object(edges, |s, field| match field {
                    EdgeField::Constant(text) => s.constant(text),
                    EdgeField::Cursor => s.cursor(&format!("{alias}.id")),
                    EdgeField::Node(fields) => s.object(fields, &mut node),
                });
                let _ = write!(
                    s.sql,
                    " ORDER BY {alias}.id {list}){within_page}, '[]'::json)"
                );
            }
            ConnectionField::PageInfo(info) => s.object(info, |s, field| {
                let has_more = format!("count(*) > {size}");
                let bound = |given: bool| (if given { "true" } else { "false" }).to_string();
                let (previous, next) = match page.direction {
                    Direction::Forward => (bound(page.after.is_some()), has_more),
                    Direction::Backward => (has_more, bound(page.before.is_some())),
                };
                let (first, last) = match order {
                    SortOrder::Ascending => ("min", "max"),
                    SortOrder::Descending => ("max", "min"),
                };
                let end = |edge: &str| format!("{edge}({alias}.id){within_page}");
                match field {
                    PageInfoField::Constant(text) => s.constant(text),
                    PageInfoField::HasPreviousPage => s.sql.push_str(&previous),
                    PageInfoField::HasNextPage => s.sql.push_str(&next),
                    PageInfoField::StartCursor => s.cursor(&end(first)),
                    PageInfoField::EndCursor => s.cursor(&end(last)),
                }
            }),
        });
        let direction = if scan.ascending { "ASC" } else { "DESC" };
        self.sql.push_str(" FROM (SELECT page.*");
        if looks_ahead {
            let _ = write!(
                self.sql,
                ", row_number() OVER (ORDER BY page.id {direction}) AS rn"
            );
        }
        // The page's own rows go in a subquery written after the joined
        // columns are known; write it aside, then put the pieces in order.
        let select_end = self.sql.len();
        self.sql.push_str(" FROM (");
        let joined = rows(self);
        for (bound, operator) in [(&scan.greater_than, ">"), (&scan.less_than, "<")] {
            if let Some(position) = bound {
                let placeholder = self.bind(Bind::BigInt(position.id));
                let _ = write!(self.sql, " AND id {operator} {placeholder}");
            }
        }
        let limit = if looks_ahead {
            scan.limit.to_string()
        } else {
            size
        };
        let _ = write!(
            self.sql,
            " ORDER BY id {direction} LIMIT {limit}) page{}) {alias})",
            joined.joins
        );
        self.sql.insert_str(select_end, &joined.columns);
    }

    /// The cursor of a row whose key is `key` (null for null): base64url,
    /// unpadded, of `v2:[[],<key>]`, as `graphql::pagination::Cursor` encodes it.
    fn cursor(&mut self, key: &str) {
        let _ = write!(
            self.sql,
            "rtrim(translate(encode(convert_to('v2:[[],' || ({key})::text || ']', 'UTF8'), 'base64'), '+/', '-_'), '=')"
        );
    }

    /// The condition that the subscriber aliased `s` is the viewer.
    fn is_viewer(&mut self, s: &str) {
        // As `Actor::from_columns` reads the membership columns: the first set wins.
        let (condition, id): (&str, i64) = match self.viewer.actor {
            Actor::User(id) => ("user_id", id.into()),
            Actor::ApiKey(id) => ("user_id IS NULL AND {s}.api_key_id", id.into()),
            Actor::Contact(id) => (
                "user_id IS NULL AND {s}.api_key_id IS NULL AND {s}.contact_id",
                id.into(),
            ),
        };
        let id = self.bind(Bind::BigInt(id));
        let condition = condition.replace("{s}", s);
        let _ = write!(self.sql, "{s}.{condition} = {id}");
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
                let m = self.alias("m");
                let org = self.organization.clone();
                let rows = |s: &mut Self| {
                    let _ = write!(
                        s.sql,
                        "SELECT {MESSAGE_COLUMNS} FROM messages \
                         WHERE organization_id = {org} AND thread_id = {t}.id"
                    );
                    if asks_for_author(fields) {
                        s.authors()
                    } else {
                        Joined::default()
                    }
                };
                self.connection(&m, page, MESSAGE_ORDER, fields, rows, |s, field| {
                    s.message_field(&m, field)
                });
                Ok(())
            }
            ThreadField::UnreadCount => {
                let s = self.alias("s");
                let org = self.organization.clone();
                let _ = write!(
                    self.sql,
                    "COALESCE((SELECT {s}.unread_count FROM thread_subscribers {s} \
                     WHERE {s}.organization_id = {org} AND {s}.thread_id = {t}.id \
                     AND NOT {s}.is_archived AND "
                );
                self.is_viewer(&s);
                write!(self.sql, " ORDER BY {s}.id LIMIT 1), 0)")
            }
            ThreadField::Subscribers {
                include_archived,
                fields,
            } => {
                let s = self.alias("s");
                self.sql.push_str("(SELECT COALESCE(json_agg(");
                self.object(fields, |st, field| {
                    st.subscriber_field(&format!("{s}."), field)
                });
                let org = self.organization.clone();
                let archived = if *include_archived {
                    ""
                } else {
                    " AND NOT a.is_archived"
                };
                let members = self.member_joins("a");
                write!(
                    self.sql,
                    " ORDER BY {s}.id), '[]'::json) FROM (SELECT a.id, a.public_id, a.unread_count, \
                     {MEMBER_NAME} AS name FROM thread_subscribers a{members} \
                     WHERE a.organization_id = {org} AND a.thread_id = {t}.id{archived}) {s})"
                )
            }
        };
    }

    fn message_field(&mut self, m: &str, field: &MessageField) {
        let _ = match field {
            MessageField::Constant(text) => {
                self.constant(text);
                Ok(())
            }
            MessageField::Id => write!(self.sql, "{m}.public_id"),
            MessageField::Text => write!(self.sql, "{m}.body"),
            MessageField::CreatedAt => write!(self.sql, "{m}.created_at_rfc3339"),
            MessageField::Author(fields) => {
                let _ = write!(self.sql, "CASE WHEN {m}.author_id IS NULL THEN NULL ELSE ");
                let columns = format!("{m}.author_");
                self.object(fields, |s, field| s.subscriber_field(&columns, field));
                write!(self.sql, " END")
            }
        };
    }

    /// The author of each message of a page, joined once for the page (not
    /// looked up per message): its subscriber's columns and member's name.
    fn authors(&mut self) -> Joined {
        let org = self.organization.clone();
        let members = self.member_joins("a");
        Joined {
            columns: format!(
                ", a.id AS author_id, a.public_id AS author_public_id, \
                 a.unread_count AS author_unread_count, {MEMBER_NAME} AS author_name"
            ),
            joins: format!(
                " LEFT JOIN thread_subscribers a ON a.organization_id = {org} \
                 AND a.id = page.author_subscriber_id{members}"
            ),
        }
    }

    /// The joins `MEMBER_NAME` reads, for the subscriber aliased `a`: only
    /// the member its membership columns name, as `Actor::from_columns`
    /// reads them.
    fn member_joins(&self, a: &str) -> String {
        let org = self.organization.clone();
        format!(
            " LEFT JOIN users u ON u.organization_id = {org} AND u.id = {a}.user_id \
             LEFT JOIN api_keys k ON k.organization_id = {org} AND k.id = {a}.api_key_id \
             AND {a}.user_id IS NULL \
             LEFT JOIN contacts c ON c.organization_id = {org} AND c.id = {a}.contact_id \
             AND {a}.user_id IS NULL AND {a}.api_key_id IS NULL"
        )
    }

    /// A subscriber's field from a row with its `public_id`, `name` and
    /// `unread_count` under the column prefix `columns` (`s1.`, `m2.author_`).
    fn subscriber_field(&mut self, columns: &str, field: &SubscriberField) {
        let column = match field {
            SubscriberField::Constant(text) => return self.constant(text),
            SubscriberField::Id => "public_id",
            SubscriberField::Name => "name",
            SubscriberField::UnreadCount => "unread_count",
        };
        let _ = write!(self.sql, "{columns}{column}");
    }
}

impl QueryFragment<Pg> for Statement {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        tracing::trace!(sql = %self.sql, "compiled read");
        for (n, piece) in self.sql.split(MARK).enumerate() {
            if n % 2 == 0 {
                out.push_sql(piece);
                continue;
            }
            let bind = piece
                .parse::<usize>()
                .ok()
                .and_then(|index| self.binds.get(index))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        "a compiled read lost a parameter".into(),
                    )
                })?;
            match bind {
                Bind::Text(value) => out.push_bind_param::<Text, _>(value)?,
                Bind::BigInt(value) => out.push_bind_param::<BigInt, _>(value)?,
            }
        }
        Ok(())
    }
}

crate::db::raw_statement!(Statement);

//! Compiled reads: a query whose every field `domain::reads` can answer is
//! turned into that tree and answered by one SQL statement, not the resolvers.
//!
//! `compile` says `None` to anything it does not know (directives, a field
//! or argument it does not handle, a cursor of another list, fields GraphQL
//! would merge), and the request keeps the resolver path, which also
//! produces every error. The HTTP layer compiles only documents the resolvers have already
//! answered without errors, so validation has been done once; in `verify`
//! mode every compiled answer is compared with the resolvers' (the
//! differential check the test suite runs under).

use std::num::NonZeroUsize;
use std::sync::Mutex;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
    SelectionSet,
};
use async_graphql::{Name, Request, Value as ConstValue, Variables};
use lru::LruCache;

use crate::db::DbPool;
use crate::domain::auth::Viewer;
use crate::domain::reads::{
    self, ConnectionField, EdgeField, Fields, MAX_FIELDS, MessageField, PageInfoField, Root,
    SubscriberField, ThreadField,
};
use crate::graphql::errors::ApiError;
use crate::graphql::pagination::PageRequest;

/// When reads are compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Never: every query runs on the resolvers.
    Off,
    /// For documents the resolvers have answered once without errors
    /// (`all`, which once also compiled lists of threads, is the same).
    On,
    /// Every compilable query runs on both paths and the
    /// answers are compared; a difference is an error. For tests.
    Verify,
}

impl Mode {
    /// `off`, `on`, `all` or `verify`.
    pub fn parse(text: &str) -> Result<Mode, String> {
        match text {
            "off" => Ok(Mode::Off),
            "on" | "all" => Ok(Mode::On),
            "verify" => Ok(Mode::Verify),
            other => Err(format!("expected off, on, all or verify, got {other:?}")),
        }
    }
}

/// How many answered documents a server remembers.
const REMEMBERED: usize = 512;
/// Longest document text remembered, in bytes.
const MAX_REMEMBERED_BYTES: usize = 4 * 1024;

/// A server's compiled reads: the mode, and the documents (text and
/// operation name) the resolvers have answered without errors, which are
/// therefore valid: only those are compiled.
pub struct CompiledReads {
    mode: Mode,
    answered: Mutex<LruCache<DocumentKey, ()>>,
}

impl CompiledReads {
    /// Compiled reads in `mode`.
    pub fn new(mode: Mode) -> Self {
        let capacity = NonZeroUsize::new(REMEMBERED).unwrap_or(NonZeroUsize::MIN);
        CompiledReads {
            mode,
            answered: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What to do with a checked query (its document parsed): compile it
    /// once, and answer it compiled if its document was answered before.
    pub fn plan(&self, request: &mut Request) -> Plan {
        if self.mode == Mode::Off || request.query.len() > MAX_REMEMBERED_BYTES {
            return Plan::Resolvers;
        }
        let Some(roots) = compile_request(request) else {
            return Plan::Resolvers;
        };
        let key = key(&request.query, request.operation_name.as_deref());
        if self.mode != Mode::Verify && self.lock().get(&key).is_some() {
            return Plan::Compiled(roots);
        }
        Plan::Learn(roots, key)
    }

    /// Notes that the resolvers answered this document without errors.
    pub fn remember(&self, key: DocumentKey) {
        self.lock().put(key, ());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<DocumentKey, ()>> {
        self.answered
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Compiles a request's parsed document with its variables.
fn compile_request(request: &mut Request) -> Option<Fields<Root>> {
    let variables = std::mem::take(&mut request.variables);
    let operation_name = request.operation_name.clone();
    let compiled = request
        .parsed_query()
        .ok()
        .and_then(|document| compile(document, operation_name.as_deref(), &variables));
    request.variables = variables;
    compiled
}

/// A document's text and the operation name it was sent with.
pub type DocumentKey = (Box<str>, Option<Box<str>>);

/// How a query is answered.
pub enum Plan {
    /// By the resolvers alone.
    Resolvers,
    /// By its compiled statement.
    Compiled(Fields<Root>),
    /// By the resolvers, then (if they answer without errors) its document
    /// is remembered, or in `verify` mode the compiled answer compared.
    Learn(Fields<Root>, DocumentKey),
}

fn key(query: &str, operation_name: Option<&str>) -> DocumentKey {
    (query.into(), operation_name.map(Into::into))
}

/// The root fields of the operation `operation_name` names in `document`,
/// with `variables` in place, if it is a query that can be compiled.
pub fn compile(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
) -> Option<Fields<Root>> {
    let operation = operation(document, operation_name)?;
    if operation.ty != OperationType::Query || !operation.directives.is_empty() {
        return None;
    }
    let input = Input {
        variables,
        operation,
        document,
    };
    input.fields(&operation.selection_set.node, "Query", |field| {
        match field_name(field) {
            "__typename" => leaf(field, Root::Constant("Query".into())),
            "thread" => {
                let public_id = input.string(field, "id")?;
                let fields =
                    input.fields(selection(field)?, "Thread", |f| input.thread_field(f))?;
                only_arguments(field, &["id"])?;
                Some(Root::Thread { public_id, fields })
            }
            // Without a `filter`, and without `totalCount` or `pageInfo`.
            "threads" => Some(Root::Threads {
                page: input.page(field)?,
                fields: input.connection(field, "Thread", |f| input.thread_field(f))?,
            }),
            _ => None,
        }
    })
}

/// Answers compiled root fields for `viewer`: the JSON text of `data`.
pub async fn answer(
    pool: &DbPool,
    viewer: Viewer,
    roots: &Fields<Root>,
) -> Result<String, ApiError> {
    let mut conn = pool.get().await?;
    Ok(reads::answer(&mut conn, viewer, roots).await?)
}

fn operation<'d>(
    document: &'d ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'d OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => {
            operations.get(name).map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

fn field_name(field: &Field) -> &str {
    field.name.node.as_str()
}

/// The field's selection set, for fields of object type.
fn selection(field: &Field) -> Option<&SelectionSet> {
    let set = &field.selection_set.node;
    (!set.items.is_empty()).then_some(set)
}

/// Fragments nested deeper than this stay on the resolvers (validation
/// refuses cycles; this bounds the work before it has run).
const MAX_FRAGMENT_DEPTH: usize = 8;

/// Whether a fragment on `condition` applies to an object of `type_name`.
fn applies(condition: &str, type_name: &str) -> bool {
    condition == type_name
        || (condition == "Node" && matches!(type_name, "Thread" | "Message" | "Subscriber"))
}

/// Whether two fields are the same leaf: one name, no arguments or selection.
fn is_same_leaf(a: &Field, b: &Field) -> bool {
    a.name.node == b.name.node
        && a.arguments.is_empty()
        && b.arguments.is_empty()
        && a.selection_set.node.items.is_empty()
        && b.selection_set.node.items.is_empty()
}

/// A field without arguments or selection.
fn leaf<T>(field: &Field, value: T) -> Option<T> {
    (field.arguments.is_empty() && field.selection_set.node.items.is_empty()).then_some(value)
}

/// `Some(())` when the field has no arguments beyond `allowed`.
fn only_arguments(field: &Field, allowed: &[&str]) -> Option<()> {
    field
        .arguments
        .iter()
        .all(|(name, _)| allowed.contains(&name.node.as_str()))
        .then_some(())
}

/// Argument values, with variables looked up.
struct Input<'v> {
    variables: &'v Variables,
    operation: &'v OperationDefinition,
    document: &'v ExecutableDocument,
}

impl Input<'_> {
    /// The argument's value; `Null` when absent, as is a variable the
    /// request does not give, unless the operation declares a default.
    fn value(&self, field: &Field, name: &str) -> Option<ConstValue> {
        match field.get_argument(name) {
            None => Some(ConstValue::Null),
            Some(value) => value
                .node
                .clone()
                .into_const_with(|variable| Ok::<_, ()>(self.variable(&variable)))
                .ok(),
        }
    }

    fn variable(&self, name: &Name) -> ConstValue {
        if let Some(value) = self.variables.get(name) {
            return value.clone();
        }
        self.operation
            .variable_definitions
            .iter()
            .find(|definition| definition.node.name.node == *name)
            .and_then(|definition| definition.node.default_value.as_ref())
            .map_or(ConstValue::Null, |default| default.node.clone())
    }

    fn string(&self, field: &Field, name: &str) -> Option<String> {
        match self.value(field, name)? {
            ConstValue::String(text) => Some(text),
            _ => None,
        }
    }

    fn optional_string(&self, field: &Field, name: &str) -> Option<Option<String>> {
        match self.value(field, name)? {
            ConstValue::Null => Some(None),
            ConstValue::String(text) => Some(Some(text)),
            _ => None,
        }
    }

    fn boolean(&self, field: &Field, name: &str, default: bool) -> Option<bool> {
        match self.value(field, name)? {
            ConstValue::Null => Some(default),
            ConstValue::Boolean(value) => Some(value),
            _ => None,
        }
    }

    fn optional_int(&self, field: &Field, name: &str) -> Option<Option<i32>> {
        match self.value(field, name)? {
            ConstValue::Null => Some(None),
            ConstValue::Number(number) => number.as_i64()?.try_into().ok().map(Some),
            _ => None,
        }
    }

    /// A Relay page from `first`/`after`/`last`/`before`; `None` when the
    /// resolvers would refuse it (they say why).
    fn page(&self, field: &Field) -> Option<crate::db::page::PageRequest> {
        only_arguments(field, &["first", "after", "last", "before"])?;
        PageRequest::new(
            self.optional_int(field, "first")?,
            self.optional_string(field, "after")?,
            self.optional_int(field, "last")?,
            self.optional_string(field, "before")?,
        )
        .ok()
    }
}

/// The compilers of each type's fields.
impl Input<'_> {
    /// Each field of `set` (on an object of type `type_name`, fragments
    /// spread) compiled by `compile`, under its response key; `None` if any
    /// cannot be, or the set holds directives or fields GraphQL would merge.
    fn fields<T>(
        &self,
        set: &SelectionSet,
        type_name: &str,
        mut compile: impl FnMut(&Field) -> Option<T>,
    ) -> Option<Fields<T>> {
        let mut selected = Vec::new();
        self.spread(set, type_name, &mut selected, 0)?;
        if selected.len() > MAX_FIELDS {
            return None;
        }
        let mut compiled: Fields<T> = Vec::with_capacity(selected.len());
        let mut seen: Vec<&Field> = Vec::with_capacity(selected.len());
        for field in selected {
            let key = field.response_key().node.as_str();
            if let Some(earlier) = seen.iter().find(|f| f.response_key().node == key) {
                // The same leaf asked twice (common with fragments) answers
                // once; anything else GraphQL would merge stays on the resolvers.
                if is_same_leaf(earlier, field) {
                    continue;
                }
                return None;
            }
            seen.push(field);
            compiled.push((key.to_string(), compile(field)?));
        }
        Some(compiled)
    }

    /// The fields of `set`, with fragments that apply to `type_name` spread
    /// in place; `None` for directives or fragments nested implausibly deep.
    fn spread<'s>(
        &'s self,
        set: &'s SelectionSet,
        type_name: &str,
        into: &mut Vec<&'s Field>,
        depth: usize,
    ) -> Option<()> {
        if depth > MAX_FRAGMENT_DEPTH {
            return None;
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    if !field.node.directives.is_empty() {
                        return None;
                    }
                    into.push(&field.node);
                }
                Selection::InlineFragment(fragment) => {
                    let fragment = &fragment.node;
                    let condition = fragment.type_condition.as_ref();
                    if !fragment.directives.is_empty() {
                        return None;
                    }
                    if condition.is_none_or(|c| applies(&c.node.on.node, type_name)) {
                        self.spread(&fragment.selection_set.node, type_name, into, depth + 1)?;
                    }
                }
                Selection::FragmentSpread(spread) => {
                    if !spread.node.directives.is_empty() {
                        return None;
                    }
                    let fragment = &self
                        .document
                        .fragments
                        .get(&spread.node.fragment_name.node)?
                        .node;
                    if applies(&fragment.type_condition.node.on.node, type_name) {
                        self.spread(&fragment.selection_set.node, type_name, into, depth + 1)?;
                    }
                }
            }
        }
        Some(())
    }

    fn thread_field(&self, field: &Field) -> Option<ThreadField> {
        match field_name(field) {
            "__typename" => leaf(field, ThreadField::Constant("Thread".into())),
            "id" => leaf(field, ThreadField::Id),
            "name" => leaf(field, ThreadField::Name),
            "subject" => leaf(field, ThreadField::Subject),
            "createdAt" => leaf(field, ThreadField::CreatedAt),
            "updatedAt" => leaf(field, ThreadField::UpdatedAt),
            "unreadCount" => leaf(field, ThreadField::UnreadCount),
            "subscribers" => {
                only_arguments(field, &["includeArchived"])?;
                Some(ThreadField::Subscribers {
                    include_archived: self.boolean(field, "includeArchived", false)?,
                    fields: self.fields(selection(field)?, "Subscriber", |f| {
                        self.subscriber_field(f)
                    })?,
                })
            }
            "messages" => Some(ThreadField::Messages {
                page: self.page(field)?,
                fields: self.connection(field, "Message", |f| self.message_field(f))?,
            }),
            _ => None,
        }
    }

    /// The `edges { node }` of a `<node>Connection`, nodes compiled by `node`.
    fn connection<N>(
        &self,
        field: &Field,
        node_type: &str,
        mut node: impl FnMut(&Field) -> Option<N>,
    ) -> Option<Fields<ConnectionField<N>>> {
        let connection = format!("{node_type}Connection");
        self.fields(selection(field)?, &connection, |field| {
            match field_name(field) {
                "__typename" => leaf(field, ConnectionField::Constant(connection.clone())),
                "edges" if field.arguments.is_empty() => {
                    let edge = format!("{node_type}Edge");
                    let edges =
                        self.fields(selection(field)?, &edge, |field| match field_name(field) {
                            "__typename" => leaf(field, EdgeField::Constant(edge.clone())),
                            "cursor" => leaf(field, EdgeField::Cursor),
                            "node" if field.arguments.is_empty() => Some(EdgeField::Node(
                                self.fields(selection(field)?, node_type, &mut node)?,
                            )),
                            _ => None,
                        })?;
                    Some(ConnectionField::Edges(edges))
                }
                "pageInfo" if field.arguments.is_empty() => {
                    let info = self.fields(selection(field)?, "PageInfo", |field| {
                        leaf(
                            field,
                            match field_name(field) {
                                "__typename" => PageInfoField::Constant("PageInfo".into()),
                                "hasPreviousPage" => PageInfoField::HasPreviousPage,
                                "hasNextPage" => PageInfoField::HasNextPage,
                                "startCursor" => PageInfoField::StartCursor,
                                "endCursor" => PageInfoField::EndCursor,
                                _ => return None,
                            },
                        )
                    })?;
                    Some(ConnectionField::PageInfo(info))
                }
                _ => None,
            }
        })
    }

    fn message_field(&self, field: &Field) -> Option<MessageField> {
        match field_name(field) {
            "__typename" => leaf(field, MessageField::Constant("Message".into())),
            "id" => leaf(field, MessageField::Id),
            "text" => leaf(field, MessageField::Text),
            "createdAt" => leaf(field, MessageField::CreatedAt),
            "author" if field.arguments.is_empty() => Some(MessageField::Author(self.fields(
                selection(field)?,
                "Subscriber",
                |f| self.subscriber_field(f),
            )?)),
            _ => None,
        }
    }

    fn subscriber_field(&self, field: &Field) -> Option<SubscriberField> {
        match field_name(field) {
            "__typename" => leaf(field, SubscriberField::Constant("Subscriber".into())),
            "id" => leaf(field, SubscriberField::Id),
            "name" => leaf(field, SubscriberField::Name),
            "unreadCount" => leaf(field, SubscriberField::UnreadCount),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;

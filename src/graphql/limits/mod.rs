//! Bounds on what a client's document may ask for, checked before
//! async-graphql parses, validates or executes it.
//!
//! In order: a token and nesting scan of the raw text (so the recursive
//! parser never sees unbounded input), the parse, then aliases, root fields,
//! fragment expansion and cost on the parsed document, and finally a check
//! that no string carries a NUL (PostgreSQL cannot store one).

mod cache;
mod document;
mod lexer;

use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{Positioned, Request, ServerError};
use async_graphql_value::{ConstValue, Value};

pub use cache::DocumentCache;
pub use document::{DocumentBudget, DocumentError, Measure, SchemaShape};
pub use lexer::ScanError;

/// Every bound on a document, set from the config.
#[derive(Clone, Copy, Debug)]
pub struct QueryLimits {
    /// Most lexical tokens in a document.
    pub max_tokens: usize,
    /// Deepest nesting of `{`, `[` and `(` in a document (selections and
    /// values alike).
    pub max_nesting: usize,
    /// Aliases, root fields, expanded selections and cost.
    pub budget: DocumentBudget,
}

impl Default for QueryLimits {
    fn default() -> Self {
        QueryLimits {
            max_tokens: 15_000,
            max_nesting: 32,
            budget: DocumentBudget {
                max_aliases: 100,
                max_root_fields: 50,
                max_selections: 2_000,
                max_cost: 100_000,
            },
        }
    }
}

/// How many parsed documents a guard keeps.
const CACHED_DOCUMENTS: usize = 512;

/// Checks requests against the limits, with the shape of the schema.
#[derive(Clone)]
pub struct Guard {
    limits: QueryLimits,
    shape: Arc<SchemaShape>,
    documents: Arc<DocumentCache>,
}

impl Guard {
    /// A guard for the schema whose SDL is `sdl`.
    pub fn new(sdl: &str, limits: QueryLimits) -> anyhow::Result<Guard> {
        Ok(Guard {
            limits,
            shape: Arc::new(SchemaShape::from_sdl(sdl)?),
            documents: Arc::new(DocumentCache::new(CACHED_DOCUMENTS)),
        })
    }

    /// Scans, parses and measures the request's document and checks its
    /// strings. On success the parsed document is stored in the request, so
    /// it is not parsed again. CPU-bound: bounded by the limits, and best
    /// run off the async workers.
    pub fn prepare(&self, request: &mut Request) -> Result<Measure, ServerError> {
        let (document, cached) = match self.documents.get(&request.query) {
            Some(document) => (ExecutableDocument::clone(&document), true),
            None => (self.parse(&request.query)?, false),
        };
        let measure = document::check(
            &document,
            &request.variables,
            &self.shape,
            &self.limits.budget,
        )
        .map_err(|error| validation_error(error.reason(), error.message()))?;
        let nul = match nul_in_variables(request) {
            Some(place) => Some(place),
            // A cached document was checked when it was kept.
            None if cached => None,
            None => nul_in_document(&document),
        };
        if let Some(place) = nul {
            let mut error = ServerError::new(
                format!("{place} contains a NUL character (U+0000), which is not allowed"),
                None,
            );
            set_code(&mut error, "BAD_USER_INPUT", Some("INVALID_VALUE"));
            return Err(error);
        }
        if !cached {
            self.documents.insert(&request.query, &document);
        }
        request.set_parsed_query(document);
        Ok(measure)
    }

    /// Scans and parses a document's text.
    fn parse(&self, text: &str) -> Result<ExecutableDocument, ServerError> {
        lexer::scan(text, self.limits.max_tokens, self.limits.max_nesting).map_err(|error| {
            match error {
                ScanError::TooManyTokens => validation_error(
                    "TOO_MANY_TOKENS",
                    format!(
                        "the document has more than {} tokens",
                        self.limits.max_tokens
                    ),
                ),
                ScanError::TooDeep => validation_error(
                    "TOO_DEEP",
                    format!(
                        "the document nests brackets, braces or parentheses more than {} deep",
                        self.limits.max_nesting
                    ),
                ),
            }
        })?;
        async_graphql::parser::parse_query(text).map_err(|error| {
            let mut error = ServerError::from(error);
            set_code(&mut error, "GRAPHQL_PARSE_FAILED", None);
            error
        })
    }
}

fn validation_error(reason: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, "GRAPHQL_VALIDATION_FAILED", Some(reason));
    error
}

fn set_code(error: &mut ServerError, code: &str, reason: Option<&str>) {
    let extensions = error.extensions.get_or_insert_with(Default::default);
    extensions.set("code", code);
    if let Some(reason) = reason {
        extensions.set("reason", reason);
    }
}

/// `variables.<name>` when a variable's value holds a NUL in a string or key.
fn nul_in_variables(request: &Request) -> Option<String> {
    request
        .variables
        .iter()
        .find(|(_, value)| const_has_nul(value))
        .map(|(name, _)| format!("variable `{name}`"))
}

fn const_has_nul(value: &ConstValue) -> bool {
    match value {
        ConstValue::String(text) => text.contains('\0'),
        ConstValue::List(items) => items.iter().any(const_has_nul),
        ConstValue::Object(fields) => fields
            .iter()
            .any(|(key, value)| key.contains('\0') || const_has_nul(value)),
        _ => false,
    }
}

/// Where a literal value in the document holds a NUL.
fn nul_in_document(document: &ExecutableDocument) -> Option<String> {
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    for operation in operations {
        let defaults = operation
            .node
            .variable_definitions
            .iter()
            .filter_map(|definition| definition.node.default_value.as_ref());
        if defaults.into_iter().any(|value| const_has_nul(&value.node)) {
            return Some("a variable's default value".to_string());
        }
        if let Some(place) = nul_in_selection(&operation.node.selection_set.node) {
            return Some(place);
        }
    }
    document
        .fragments
        .values()
        .find_map(|fragment| nul_in_selection(&fragment.node.selection_set.node))
}

fn nul_in_selection(set: &SelectionSet) -> Option<String> {
    set.items.iter().find_map(|item| match &item.node {
        Selection::Field(field) => {
            let argument = field
                .node
                .arguments
                .iter()
                .find(|(_, value)| value_has_nul(value));
            match argument {
                Some((name, _)) => Some(format!(
                    "argument `{}` of `{}`",
                    name.node, field.node.name.node
                )),
                None => nul_in_selection(&field.node.selection_set.node),
            }
        }
        Selection::InlineFragment(inline) => nul_in_selection(&inline.node.selection_set.node),
        Selection::FragmentSpread(_) => None,
    })
}

/// The walk of `const_has_nul` over a document's literal, which may hold
/// variables (checked with the variables). Walked in place: cloning every
/// argument into a constant first would be work on every request.
fn value_has_nul(value: &Positioned<Value>) -> bool {
    fn has_nul(value: &Value) -> bool {
        match value {
            Value::String(text) => text.contains('\0'),
            Value::List(items) => items.iter().any(has_nul),
            Value::Object(fields) => fields
                .iter()
                .any(|(key, value)| key.contains('\0') || has_nul(value)),
            _ => false,
        }
    }
    has_nul(&value.node)
}

//! Checks on a parsed document before async-graphql validates it: aliases,
//! root fields, the size of the selection once fragments are expanded, and a
//! cost that multiplies by page sizes.
//!
//! Fragments are measured once each (memoized), so a document whose
//! fragments double at every level is refused in time linear in its length
//! rather than expanded.

use std::collections::{HashMap, HashSet};

use async_graphql::Name;
use async_graphql::Variables;
use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql_value::{ConstValue, Value};

use crate::graphql::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Most bytes a scalar field serialises to: names and other short text
/// (255 characters of up to 4 bytes), ids, dates, numbers.
const SHORT_SCALAR_BYTES: u64 = 1_024;
/// A message's `text` (20,000 characters of up to 4 bytes).
const TEXT_BYTES: u64 = 80_000;
/// A message's `mediaUrls` (20 URLs of up to 2,048 bytes).
const MEDIA_URLS_BYTES: u64 = 41_000;
/// Other lists of scalars (`phoneHashes`, `publisherIds`).
const SCALAR_LIST_BYTES: u64 = 20 * SHORT_SCALAR_BYTES;

/// Items a `recentMessages`/`pendingMessages` list holds at most.
const RECENT_LIST_SIZE: u64 = 150;
/// What an unpaged list of objects (subscribers, reactions) is assumed to hold.
const UNPAGED_LIST_ESTIMATE: u64 = 20;

/// The bounds a document must keep.
#[derive(Clone, Copy, Debug)]
pub struct DocumentBudget {
    /// Fields with an alias, in the whole document.
    pub max_aliases: u64,
    /// Fields selected at the root of an operation (fragments expanded).
    pub max_root_fields: u64,
    /// Fields selected once every fragment is expanded.
    pub max_selections: u64,
    /// Objects and fields the response may hold: each field costs one,
    /// times the page size (or list size) of every list around it.
    pub max_cost: u64,
}

/// Why a document was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentError {
    TooManyAliases { found: u64, max: u64 },
    TooManyRootFields { found: u64, max: u64 },
    TooManySelections { found: u64, max: u64 },
    TooCostly { found: u64, max: u64 },
    FragmentCycle(String),
}

impl DocumentError {
    /// Stable reason, for `extensions.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            DocumentError::TooManyAliases { .. } => "TOO_MANY_ALIASES",
            DocumentError::TooManyRootFields { .. } => "TOO_MANY_ROOT_FIELDS",
            DocumentError::TooManySelections { .. } => "TOO_MANY_SELECTIONS",
            DocumentError::TooCostly { .. } => "TOO_COSTLY",
            DocumentError::FragmentCycle(_) => "FRAGMENT_CYCLE",
        }
    }

    /// What the client is told.
    pub fn message(&self) -> String {
        match self {
            DocumentError::TooManyAliases { found, max } => {
                format!("the document has {found} aliases; at most {max} are allowed")
            }
            DocumentError::TooManyRootFields { found, max } => {
                format!("the operation selects {found} root fields; at most {max} are allowed")
            }
            DocumentError::TooManySelections { found, max } => format!(
                "the document selects {found} fields once fragments are expanded; \
                 at most {max} are allowed"
            ),
            DocumentError::TooCostly { found, max } => format!(
                "the query could return about {found} values (page sizes multiplied); \
                 at most {max} are allowed: ask for smaller pages or fewer fields"
            ),
            DocumentError::FragmentCycle(name) => {
                format!("fragment {name} spreads itself")
            }
        }
    }
}

/// What each field of each output type returns, read from the schema's SDL.
#[derive(Debug, Default)]
pub struct SchemaShape {
    types: HashMap<String, HashMap<String, FieldShape>>,
}

#[derive(Debug)]
struct FieldShape {
    /// The named type under any list and non-null wrappers.
    type_name: String,
    /// Whether it is a list.
    list: bool,
}

impl SchemaShape {
    /// Reads the object and interface fields of an SDL document.
    pub fn from_sdl(sdl: &str) -> anyhow::Result<SchemaShape> {
        use async_graphql::parser::types::{BaseType, TypeKind, TypeSystemDefinition};
        let document = parse_schema(sdl)?;
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let fields = match definition.node.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let fields = fields
                .into_iter()
                .map(|field| {
                    let mut ty = &field.node.ty.node;
                    let mut list = false;
                    while let BaseType::List(inner) = &ty.base {
                        list = true;
                        ty = inner;
                    }
                    let type_name = match &ty.base {
                        BaseType::Named(name) => name.to_string(),
                        BaseType::List(_) => String::new(),
                    };
                    (
                        field.node.name.node.to_string(),
                        FieldShape { type_name, list },
                    )
                })
                .collect();
            types.insert(definition.node.name.node.to_string(), fields);
        }
        Ok(SchemaShape { types })
    }

    fn field(&self, parent: Option<&str>, name: &str) -> Option<&FieldShape> {
        self.types.get(parent?)?.get(name)
    }

    fn is_object(&self, type_name: &str) -> bool {
        self.types.contains_key(type_name)
    }
}

/// Size of a selection: fields once expanded, cost, and the most bytes its
/// response could take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    pub selections: u64,
    pub cost: u64,
    /// An upper bound of the response's size, from the longest value each
    /// field may hold.
    pub bytes: u64,
}

impl Measure {
    fn add(self, other: Measure) -> Measure {
        Measure {
            selections: self.selections.saturating_add(other.selections),
            cost: self.cost.saturating_add(other.cost),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }
}

/// The most bytes a leaf field's value serialises to.
fn leaf_bytes(name: &str, shape: Option<&FieldShape>) -> u64 {
    match name {
        "text" | "content" => TEXT_BYTES,
        "mediaUrls" => MEDIA_URLS_BYTES,
        _ if shape.is_some_and(|s| s.list) => SCALAR_LIST_BYTES,
        _ => SHORT_SCALAR_BYTES,
    }
}

/// Checks every operation of `document` against `budget`; returns the
/// largest measure.
pub fn check(
    document: &ExecutableDocument,
    variables: &Variables,
    shape: &SchemaShape,
    budget: &DocumentBudget,
) -> Result<Measure, DocumentError> {
    let aliases = count_aliases(document);
    if aliases > budget.max_aliases {
        return Err(DocumentError::TooManyAliases {
            found: aliases,
            max: budget.max_aliases,
        });
    }
    let mut walker = Walker {
        document,
        variables,
        shape,
        memo: HashMap::new(),
        visiting: HashSet::new(),
    };
    let operations: Vec<_> = match &document.operations {
        DocumentOperations::Single(operation) => vec![operation],
        DocumentOperations::Multiple(operations) => operations.values().collect(),
    };
    let mut largest = Measure::default();
    for operation in operations {
        let root = match operation.node.ty {
            OperationType::Query => "Query",
            OperationType::Mutation => "Mutation",
            OperationType::Subscription => "Subscription",
        };
        let set = &operation.node.selection_set.node;
        let root_fields = walker.root_fields(set, 0)?;
        if root_fields > budget.max_root_fields {
            return Err(DocumentError::TooManyRootFields {
                found: root_fields,
                max: budget.max_root_fields,
            });
        }
        let measure = walker.selection_set(set, Some(root))?;
        if measure.selections > budget.max_selections {
            return Err(DocumentError::TooManySelections {
                found: measure.selections,
                max: budget.max_selections,
            });
        }
        if measure.cost > budget.max_cost {
            return Err(DocumentError::TooCostly {
                found: measure.cost,
                max: budget.max_cost,
            });
        }
        largest.selections = largest.selections.max(measure.selections);
        largest.cost = largest.cost.max(measure.cost);
        largest.bytes = largest.bytes.max(measure.bytes);
    }
    Ok(largest)
}

fn count_aliases(document: &ExecutableDocument) -> u64 {
    fn count(set: &SelectionSet) -> u64 {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    u64::from(field.node.alias.is_some()) + count(&field.node.selection_set.node)
                }
                Selection::InlineFragment(inline) => count(&inline.node.selection_set.node),
                Selection::FragmentSpread(_) => 0,
            })
            .fold(0, u64::saturating_add)
    }
    let operations: u64 = match &document.operations {
        DocumentOperations::Single(operation) => count(&operation.node.selection_set.node),
        DocumentOperations::Multiple(operations) => operations
            .values()
            .map(|operation| count(&operation.node.selection_set.node))
            .fold(0, u64::saturating_add),
    };
    document
        .fragments
        .values()
        .map(|fragment| count(&fragment.node.selection_set.node))
        .fold(operations, u64::saturating_add)
}

struct Walker<'a> {
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    shape: &'a SchemaShape,
    /// Measure of each fragment already walked.
    memo: HashMap<&'a str, Measure>,
    /// Fragments being walked (a spread of one of these is a cycle).
    visiting: HashSet<&'a str>,
}

impl<'a> Walker<'a> {
    fn selection_set(
        &mut self,
        set: &'a SelectionSet,
        parent: Option<&'a str>,
    ) -> Result<Measure, DocumentError> {
        let mut total = Measure::default();
        for item in &set.items {
            let measure = match &item.node {
                Selection::Field(field) => self.field(&field.node, parent)?,
                Selection::InlineFragment(inline) => {
                    let parent = match &inline.node.type_condition {
                        Some(condition) => Some(condition.node.on.node.as_str()),
                        None => parent,
                    };
                    self.selection_set(&inline.node.selection_set.node, parent)?
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
            };
            total = total.add(measure);
        }
        Ok(total)
    }

    fn field(
        &mut self,
        field: &'a Field,
        parent: Option<&'a str>,
    ) -> Result<Measure, DocumentError> {
        let shape = self.shape.field(parent, field.name.node.as_str());
        let child_type = shape.map(|s| s.type_name.as_str());
        let children = self.selection_set(&field.selection_set.node, child_type)?;
        let multiplier = self.multiplier(field, parent, shape);
        let key = field.response_key().node.len() as u64 + 4;
        let own_bytes = if field.selection_set.node.items.is_empty() {
            leaf_bytes(field.name.node.as_str(), shape)
        } else {
            children.bytes.saturating_mul(multiplier)
        };
        Ok(Measure {
            selections: children.selections.saturating_add(1),
            cost: children.cost.saturating_mul(multiplier).saturating_add(1),
            bytes: own_bytes.saturating_add(key),
        })
    }

    fn fragment(&mut self, name: &'a str) -> Result<Measure, DocumentError> {
        if let Some(measure) = self.memo.get(name) {
            return Ok(*measure);
        }
        // An unknown fragment is for validation to report.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(Measure::default());
        };
        if !self.visiting.insert(name) {
            return Err(DocumentError::FragmentCycle(name.to_string()));
        }
        let on = fragment.node.type_condition.node.on.node.as_str();
        let measure = self.selection_set(&fragment.node.selection_set.node, Some(on))?;
        self.visiting.remove(name);
        self.memo.insert(name, measure);
        Ok(measure)
    }

    /// How many times a field's selection is repeated in the response.
    fn multiplier(&self, field: &Field, parent: Option<&str>, shape: Option<&FieldShape>) -> u64 {
        let Some(shape) = shape else { return 1 };
        let name = field.name.node.as_str();
        if shape.type_name.ends_with("Connection") {
            return self.page_size(field);
        }
        if !shape.list || !self.shape.is_object(&shape.type_name) {
            return 1;
        }
        if parent.is_some_and(|p| p.ends_with("Connection")) {
            // `edges`/`nodes`: the connection field already multiplied.
            return 1;
        }
        match name {
            "nodes" => self.list_length(field, "ids"),
            "recentMessages" | "pendingMessages" => RECENT_LIST_SIZE,
            _ => UNPAGED_LIST_ESTIMATE,
        }
    }

    /// `first` or `last`, kept within the allowed range (the resolver
    /// refuses values outside it); the default page size otherwise.
    fn page_size(&self, field: &Field) -> u64 {
        let size = ["first", "last"]
            .iter()
            .filter_map(|name| self.argument(field, name))
            .filter_map(|value| match value {
                ConstValue::Number(number) => number.as_i64(),
                _ => None,
            })
            .max();
        match size {
            Some(size) => size.clamp(1, MAX_PAGE_SIZE as i64) as u64,
            None => DEFAULT_PAGE_SIZE as u64,
        }
    }

    fn list_length(&self, field: &Field, argument: &str) -> u64 {
        match self.argument(field, argument) {
            Some(ConstValue::List(items)) => (items.len() as u64).clamp(1, MAX_PAGE_SIZE as u64),
            _ => 1,
        }
    }

    /// An argument's value, with a variable replaced by its value.
    fn argument(&self, field: &Field, name: &str) -> Option<ConstValue> {
        let (_, value) = field.arguments.iter().find(|(n, _)| n.node == name)?;
        match &value.node {
            Value::Variable(variable) => self.variables.get(&Name::new(variable.as_str())).cloned(),
            other => other.clone().into_const(),
        }
    }

    /// Fields at the root of an operation, fragments expanded.
    fn root_fields(&self, set: &'a SelectionSet, depth: usize) -> Result<u64, DocumentError> {
        // Deeper than there are fragments means a cycle, which `check`
        // reports once it walks the selection.
        if depth > self.document.fragments.len() {
            return Ok(0);
        }
        let mut count = 0u64;
        for item in &set.items {
            count = count.saturating_add(match &item.node {
                Selection::Field(_) => 1,
                Selection::InlineFragment(inline) => {
                    self.root_fields(&inline.node.selection_set.node, depth + 1)?
                }
                Selection::FragmentSpread(spread) => {
                    match self.document.fragments.get(&spread.node.fragment_name.node) {
                        Some(fragment) => {
                            self.root_fields(&fragment.node.selection_set.node, depth + 1)?
                        }
                        None => 0,
                    }
                }
            });
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = r#"
        type Query { viewer: Viewer! threads(first: Int, last: Int): ThreadConnection!
                     nodes(ids: [ID!]!): [Node]! }
        interface Node { id: ID! }
        type Viewer { organization: Org! }
        type Org { id: ID! name: String! }
        type ThreadConnection { edges: [ThreadEdge!]! totalCount: Int! }
        type ThreadEdge { node: Thread! cursor: String! }
        type Thread implements Node { id: ID! recentMessages: [Message!]! subscribers: [Sub!]! }
        type Message { text: String! }
        type Sub { name: String }
    "#;

    const BUDGET: DocumentBudget = DocumentBudget {
        max_aliases: 10,
        max_root_fields: 5,
        max_selections: 1_000,
        max_cost: 100_000,
    };

    fn measure(query: &str, variables: serde_json::Value) -> Result<Measure, DocumentError> {
        let shape = SchemaShape::from_sdl(SDL).expect("sdl");
        let document = async_graphql::parser::parse_query(query).expect("parses");
        let variables = Variables::from_json(variables);
        check(&document, &variables, &shape, &BUDGET)
    }

    fn measure_query(query: &str) -> Result<Measure, DocumentError> {
        measure(query, serde_json::json!({}))
    }

    #[test]
    fn cost_multiplies_by_page_sizes() {
        let query =
            "{ threads(first: 10) { totalCount edges { node { recentMessages { text } } } } }";
        // threads 1 + 10 × (totalCount, edges, node, recentMessages 1 each + 150 × text 1):
        // fields beside `edges` are counted per page item too, erring high.
        let found = measure_query(query).expect("within budget");
        assert_eq!(found.cost, 1 + 10 * (1 + 1 + 1 + 1 + 150));
        let by_variable = measure(
            "query($n: Int) { threads(first: $n) { edges { node { id } } } }",
            serde_json::json!({ "n": 1000 }),
        );
        assert_eq!(by_variable.map(|m| m.cost), Ok(1 + 1000 * 3));
        let default = measure_query("{ threads { edges { node { id } } } }");
        assert_eq!(default.map(|m| m.cost), Ok(1 + 50 * 3));
    }

    #[test]
    fn bytes_bound_long_text_by_page_size() {
        let small = measure_query("{ viewer { organization { id name } } }");
        assert!(small.expect("measured").bytes < 4 * SHORT_SCALAR_BYTES);
        let texts =
            measure_query("{ threads(first: 10) { edges { node { recentMessages { text } } } } }");
        assert!(texts.expect("measured").bytes >= 10 * 150 * TEXT_BYTES);
    }

    #[test]
    fn out_of_range_page_sizes_are_left_to_the_resolver() {
        let found = measure_query("{ threads(first: 99999999999) { edges { node { id } } } }");
        assert_eq!(found.map(|m| m.cost), Ok(1 + 1000 * 3));
    }

    #[test]
    fn aliases_and_costly_pages_are_refused() {
        let aliases: String = (0..11)
            .map(|i| format!("a{i}: viewer {{ organization {{ id }} }} "))
            .collect();
        assert_eq!(
            measure_query(&format!("{{ {aliases} }}")).map_err(|e| e.reason()),
            Err("TOO_MANY_ALIASES")
        );
        let costly = "{ threads(first: 1000) { edges { node { recentMessages { text } } } } }";
        assert_eq!(
            measure_query(costly).map_err(|e| e.reason()),
            Err("TOO_COSTLY")
        );
    }

    #[test]
    fn doubling_fragments_are_measured_once_each() {
        let mut query = String::from("fragment F0 on Viewer { organization { id } }\n");
        for k in 1..=60 {
            query.push_str(&format!(
                "fragment F{k} on Viewer {{ ...F{} ...F{} }}\n",
                k - 1,
                k - 1
            ));
        }
        query.push_str("query { viewer { ...F60 } }");
        // Expanded, this would be 2^60 fields: the test finishes only
        // because each fragment is measured once.
        let found = measure_query(&query);
        assert_eq!(found.map_err(|e| e.reason()), Err("TOO_MANY_SELECTIONS"));
    }

    #[test]
    fn fragment_cycles_are_refused() {
        let query =
            "fragment A on Viewer { ...B } fragment B on Viewer { ...A } { viewer { ...A } }";
        assert_eq!(
            measure_query(query),
            Err(DocumentError::FragmentCycle("A".to_string()))
        );
    }

    #[test]
    fn root_fields_count_through_fragments() {
        let query = "fragment R on Query { a: viewer { organization { id } } b: viewer { organization { id } } } \
                     { ...R ...R ...R }";
        assert_eq!(
            measure_query(query).map_err(|e| e.reason()),
            Err("TOO_MANY_ROOT_FIELDS")
        );
    }
}

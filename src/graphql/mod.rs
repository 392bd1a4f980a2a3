//! The GraphQL schema: assembled here from each concept's queries and
//! mutations, with the cross-cutting parts (ids, connections, errors).

pub mod context;
pub mod errors;
pub mod node;
pub mod pagination;

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptySubscription, MergedObject, Schema};

use crate::auth::Viewer;
use crate::contacts::{ContactsMutation, ContactsQuery};
use crate::db::DbPool;
use crate::organizations::{ApiKeyLoader, OrganizationLoader, UserLoader, ViewerQuery};
use node::NodeQuery;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(NodeQuery, ViewerQuery, ContactsQuery);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(ContactsMutation);

/// The executable schema.
pub type ConfabSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits that keep one request from exhausting the server.
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    /// Deepest selection nesting accepted.
    pub max_depth: usize,
    /// Highest complexity (fields, weighted) accepted.
    pub max_complexity: usize,
    /// Whether `__schema`/`__type` introspection is allowed.
    pub introspection: bool,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        SchemaLimits {
            max_depth: 16,
            max_complexity: 5_000,
            introspection: true,
        }
    }
}

/// Builds the schema over a pool.
pub fn build_schema(pool: DbPool, limits: SchemaLimits) -> ConfabSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .data(pool)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .finish()
        .sdl()
}

/// Attaches the caller and this request's DataLoaders to a request.
pub fn with_request_data(
    request: async_graphql::Request,
    pool: &DbPool,
    viewer: Viewer,
) -> async_graphql::Request {
    let organization_id = viewer.organization_id;
    request
        .data(viewer)
        .data(DataLoader::new(
            OrganizationLoader { pool: pool.clone() },
            tokio::spawn,
        ))
        .data(DataLoader::new(
            UserLoader {
                pool: pool.clone(),
                organization_id,
            },
            tokio::spawn,
        ))
        .data(DataLoader::new(
            ApiKeyLoader {
                pool: pool.clone(),
                organization_id,
            },
            tokio::spawn,
        ))
}

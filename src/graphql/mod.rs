//! The GraphQL schema: assembled here from each concept's queries and
//! mutations, with the cross-cutting parts (ids, connections, errors).

pub mod budget;
pub mod channels;
pub mod compiled;
pub mod contacts;
pub mod context;
pub mod conversations;
pub mod enums;
pub mod errors;
pub mod events;
pub mod input;
pub mod limits;
pub mod loaders;
pub mod messages;
pub mod mutation;
pub mod node;
pub mod organizations;
pub mod pagination;
pub mod search;
pub mod threads;
pub mod webhooks;

use async_graphql::{Data, MergedObject, Schema};

use crate::db::DbPool;
use crate::domain::auth::Viewer;
use crate::domain::events::EventHub;
use crate::graphql::channels::{ChannelsMutation, ChannelsQuery};
use crate::graphql::contacts::{ContactsMutation, ContactsQuery};
use crate::graphql::conversations::{ConversationsMutation, ConversationsQuery};
use crate::graphql::events::{Subscription, TypingMutation};
use crate::graphql::messages::MessagesMutation;
use crate::graphql::organizations::ViewerQuery;
use crate::graphql::search::SearchQuery;
use crate::graphql::threads::{ReadStateMutation, ThreadsMutation, ThreadsQuery};
use crate::graphql::webhooks::{WebhooksMutation, WebhooksQuery};
pub use loaders::LoaderCache;
use loaders::Loaders;
use node::NodeQuery;

/// The root query type.
#[derive(MergedObject, Default)]
pub struct Query(
    NodeQuery,
    ViewerQuery,
    ContactsQuery,
    ThreadsQuery,
    ConversationsQuery,
    ChannelsQuery,
    SearchQuery,
    WebhooksQuery,
);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    TypingMutation,
    ContactsMutation,
    ThreadsMutation,
    ReadStateMutation,
    MessagesMutation,
    ConversationsMutation,
    ChannelsMutation,
    WebhooksMutation,
);

/// The executable schema.
pub type ConfabSchema = Schema<Query, Mutation, Subscription>;

/// Limits the schema enforces while validating and executing (the
/// document's own bounds are checked before, by `limits::Guard`).
#[derive(Clone, Copy, Debug)]
pub struct SchemaLimits {
    /// Deepest selection nesting accepted.
    pub max_depth: usize,
    /// Whether `__schema`/`__type` introspection is allowed.
    pub introspection: bool,
    /// Largest response, in bytes.
    pub max_response_bytes: usize,
    /// Which addresses webhooks may target.
    pub webhook_targets: crate::domain::webhooks::TargetPolicy,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        SchemaLimits {
            max_depth: 16,
            introspection: true,
            max_response_bytes: 8 * 1024 * 1024,
            webhook_targets: Default::default(),
        }
    }
}

/// The two executable schemas: the same types, with and without counting
/// response bytes as fields resolve. Counting costs about a fifth of a
/// small query's CPU, so it runs only for documents whose measured upper
/// bound (`limits::Measure::bytes`) could pass the cap.
#[derive(Clone)]
pub struct Schemas {
    /// Without byte counting: for documents that cannot grow past the cap.
    pub plain: ConfabSchema,
    /// With byte counting: for documents that might.
    pub counted: ConfabSchema,
    /// The response cap both enforce.
    pub max_response_bytes: usize,
}

impl Schemas {
    /// The schema to run a document measured at `measure` with.
    pub fn for_measure(&self, measure: &limits::Measure) -> &ConfabSchema {
        if measure.bytes > self.max_response_bytes as u64 {
            &self.counted
        } else {
            &self.plain
        }
    }
}

/// Builds both schemas over a pool.
pub fn build_schemas(pool: DbPool, hub: EventHub, limits: SchemaLimits) -> Schemas {
    let build = |counted: bool| {
        let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
            .data(pool.clone())
            .data(hub.clone())
            .data(limits.webhook_targets)
            .limit_depth(limits.max_depth);
        if counted {
            builder = builder.extension(budget::ResponseBudget {
                max_bytes: limits.max_response_bytes,
            });
        }
        if !limits.introspection {
            builder = builder.disable_introspection();
        }
        builder.finish()
    };
    Schemas {
        plain: build(false),
        counted: build(true),
        max_response_bytes: limits.max_response_bytes,
    }
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl()
}

/// The caller and its DataLoaders: the context of one request, or of one
/// WebSocket connection's operations.
pub fn context_data(pool: &DbPool, viewer: Viewer, cache: LoaderCache) -> Data {
    let mut data = Data::default();
    data.insert(Loaders::new(pool.clone(), viewer.organization_id, cache));
    data.insert(viewer);
    data
}

//! The GraphQL schema: assembled here from each concept's queries and
//! mutations, with the cross-cutting parts (ids, connections, errors).

pub mod context;
pub mod errors;
pub mod input;
pub mod loaders;
pub mod node;
pub mod pagination;

use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::{Data, MergedObject, Schema};

use crate::auth::Viewer;
use crate::channels::{
    Channel, ChannelsMutation, ChannelsQuery, MembersByChannel, PendingByChannel,
    PublishersByChannel,
};
use crate::contacts::{Contact, ContactsMutation, ContactsQuery};
use crate::conversations::{Conversation, ConversationsMutation, ConversationsQuery};
use crate::db::DbPool;
use crate::events::{EventHub, Subscription, TypingMutation};
use crate::messages::{Message, MessagesMutation, ReactionsByMessage};
use crate::organizations::{ApiKey, Organization, User, ViewerQuery};
use crate::threads::{Subscriber, SubscribersByThread, Thread, ThreadsMutation, ThreadsQuery};
use loaders::{Batched, ByIds, Pages};
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
);

/// The root mutation type.
#[derive(MergedObject, Default)]
pub struct Mutation(
    TypingMutation,
    ContactsMutation,
    ThreadsMutation,
    MessagesMutation,
    ConversationsMutation,
    ChannelsMutation,
);

/// The executable schema.
pub type ConfabSchema = Schema<Query, Mutation, Subscription>;

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
pub fn build_schema(pool: DbPool, hub: EventHub, limits: SchemaLimits) -> ConfabSchema {
    let mut builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(pool)
        .data(hub)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL of the schema, as checked in at `schema.graphql`.
pub fn sdl() -> String {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .finish()
        .sdl()
}

/// How long what a DataLoader loaded may be reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoaderCache {
    /// For the rest of the request: right for queries, which read one
    /// snapshot; a chat thread's 50 messages have a handful of authors.
    Request,
    /// Never: for mutations (which change what was loaded) and for
    /// WebSocket connections (whose events must show current data).
    Off,
}

/// The caller and its DataLoaders: the context of one request, or of one
/// WebSocket connection's operations.
pub fn context_data(pool: &DbPool, viewer: Viewer, cache: LoaderCache) -> Data {
    let org = viewer.organization_id;
    let pool = || pool.clone();
    let mut data = Data::default();
    data.insert(viewer);
    data.insert(batched(ByIds::<Organization>::new(pool(), org), cache));
    data.insert(batched(ByIds::<User>::new(pool(), org), cache));
    data.insert(batched(ByIds::<ApiKey>::new(pool(), org), cache));
    data.insert(batched(ByIds::<Contact>::new(pool(), org), cache));
    data.insert(batched(ByIds::<Thread>::new(pool(), org), cache));
    data.insert(batched(ByIds::<Subscriber>::new(pool(), org), cache));
    data.insert(batched(ByIds::<Conversation>::new(pool(), org), cache));
    data.insert(batched(ByIds::<Channel>::new(pool(), org), cache));
    data.insert(batched(Pages::<Message>::new(pool(), org), cache));
    data.insert(batched(Pages::<Thread>::new(pool(), org), cache));
    data.insert(batched(Pages::<Conversation>::new(pool(), org), cache));
    data.insert(batched(SubscribersByThread {
        pool: pool(),
        organization_id: org,
    }, cache));
    data.insert(batched(ReactionsByMessage {
        pool: pool(),
        organization_id: org,
    }, cache));
    data.insert(batched(MembersByChannel {
        pool: pool(),
        organization_id: org,
    }, cache));
    data.insert(batched(PublishersByChannel {
        pool: pool(),
        organization_id: org,
    }, cache));
    data.insert(batched(PendingByChannel {
        pool: pool(),
        organization_id: org,
    }, cache));
    data
}

/// A DataLoader that runs its batches on the Tokio runtime.
fn batched<L: Send + Sync + 'static>(loader: L, cache: LoaderCache) -> Batched<L> {
    let loader = DataLoader::with_cache(loader, tokio::spawn, HashMapCache::default());
    loader.enable_all_cache(cache == LoaderCache::Request);
    loader
}

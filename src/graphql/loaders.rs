//! Generic DataLoaders: every nested lookup in the schema goes through one
//! of these, so a query costs a fixed number of statements however many
//! rows its pages hold.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_graphql::connection::Connection;
use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::{Context, ObjectType, OutputType};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::context::loader;
use super::errors::ApiError;
use super::pagination::{Cursor, PageRequest};
use crate::db::DbPool;
use crate::db::ids::OrganizationId;

/// How long a loader waits for more keys before it queries. Sibling fields
/// register their keys in the same poll of their parent, so rather than a
/// timer (a millisecond at every nesting level) the batch waits one turn of
/// the scheduler; see `spawn_after_siblings`.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::ZERO;

/// Runs a loader's batch after yielding once, so that the task resolving
/// the sibling fields finishes registering their keys first.
fn spawn_after_siblings(
    batch: futures_util::future::BoxFuture<'static, ()>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        tokio::task::yield_now().await;
        batch.await;
    })
}

/// A DataLoader as the request context holds it. Its cache hashes with
/// foldhash: keys are internal ids, and SipHash cost more per request
/// than any other hashing (BENCHMARKS.md).
pub type Batched<L> = DataLoader<L, HashMapCache<foldhash::fast::RandomState>>;

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

/// A loader made from a pool and the caller's organization.
pub trait NewLoader: Send + Sync + Sized + 'static {
    fn create(pool: DbPool, organization_id: OrganizationId) -> Self;
}

/// The DataLoaders of one request or WebSocket connection, each made the
/// first time a resolver asks for it: most operations need only a few, and
/// an idle subscription should cost little memory.
pub struct Loaders {
    pool: DbPool,
    organization_id: OrganizationId,
    cache: LoaderCache,
    made: Mutex<foldhash::HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Loaders {
    /// Loaders for one caller.
    pub fn new(pool: DbPool, organization_id: OrganizationId, cache: LoaderCache) -> Self {
        Loaders {
            pool,
            organization_id,
            cache,
            made: Mutex::default(),
        }
    }

    /// The loader of type `L`, made on first use.
    pub fn get<L: NewLoader>(&self) -> Arc<Batched<L>> {
        let mut made = self
            .made
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(existing) = made.get(&TypeId::of::<L>())
            && let Ok(loader) = existing.clone().downcast::<Batched<L>>()
        {
            return loader;
        }
        let loader = DataLoader::with_cache(
            L::create(self.pool.clone(), self.organization_id),
            spawn_after_siblings,
            HashMapCache::new(),
        )
        .delay(BATCH_WINDOW);
        loader.enable_all_cache(self.cache == LoaderCache::Request);
        let loader = Arc::new(loader);
        made.insert(TypeId::of::<L>(), loader.clone());
        loader
    }
}

/// A loader's state: the pool and the caller's organization. `Rows` says
/// what it loads (`ByIds<T>`, `Pages<T>`, `Children<C>`).
pub struct Fetcher<Rows> {
    pool: DbPool,
    organization_id: OrganizationId,
    rows: PhantomData<fn() -> Rows>,
}

impl<Rows: 'static> NewLoader for Fetcher<Rows>
where
    Fetcher<Rows>: Send + Sync,
{
    fn create(pool: DbPool, organization_id: OrganizationId) -> Self {
        Fetcher {
            pool,
            organization_id,
            rows: PhantomData,
        }
    }
}

/// Rows that can be fetched in bulk by internal id within an organization
/// (implemented with `fetch_by_ids!`).
pub trait FetchByIds: Sized + Clone + Send + Sync + 'static {
    /// The row's typed internal id.
    type Id: Copy + Hash + Eq + Send + Sync + 'static;

    /// The rows of `organization_id` with these ids (missing ones left out).
    fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        ids: &[Self::Id],
    ) -> impl Future<Output = QueryResult<Vec<Self>>> + Send;

    /// The row's internal id.
    fn key(&self) -> Self::Id;
}

/// Implements `FetchByIds` for row types with an `id: $id` field, each from
/// a function `(conn, organization_id, ids) -> QueryResult<Vec<Row>>`.
macro_rules! fetch_by_ids {
    ($($row:ty: $id:ty => $fetch:path),+ $(,)?) => {$(
        impl $crate::graphql::loaders::FetchByIds for $row {
            type Id = $id;

            async fn fetch(
                conn: &mut diesel_async::AsyncPgConnection,
                organization_id: $crate::db::ids::OrganizationId,
                ids: &[$id],
            ) -> diesel::QueryResult<Vec<Self>> {
                $fetch(conn, organization_id, ids).await
            }

            fn key(&self) -> $id {
                self.id
            }
        }
    )+};
}
pub(crate) use fetch_by_ids;

/// What `Fetcher<ById<T>>` loads: `T` by internal id.
pub struct ById<T>(PhantomData<fn() -> T>);

/// Loads `T` by internal id.
pub type ByIds<T> = Fetcher<ById<T>>;

impl<T: FetchByIds> Loader<T::Id> for ByIds<T> {
    type Value = T;
    type Error = ApiError;

    async fn load(&self, keys: &[T::Id]) -> Result<HashMap<T::Id, T>, ApiError> {
        let mut conn = self.pool.get().await?;
        let rows = T::fetch(&mut conn, self.organization_id, keys).await?;
        Ok(rows.into_iter().map(|row| (row.key(), row)).collect())
    }
}

/// The `T` with this internal id (none without an id), through the
/// request's `ByIds<T>` loader.
pub async fn load_by_id<T: FetchByIds>(
    ctx: &Context<'_>,
    id: Option<T::Id>,
) -> Result<Option<T>, ApiError> {
    match id {
        Some(id) => loader::<ByIds<T>>(ctx)?.load_one(id).await,
        None => Ok(None),
    }
}

/// Children fetched for many parents in one statement, grouped by parent id
/// by `Children<Self>`. Implemented by a marker type per kind of child.
pub trait FetchChildren: Send + Sync + 'static {
    /// One child.
    type Child: Clone + Send + Sync + 'static;
    /// The typed id of the parent.
    type Parent: Copy + Hash + Eq + Send + Sync + 'static;

    /// The children of these parents, each with its parent's id, in the
    /// order each parent lists them.
    fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        parent_ids: &[Self::Parent],
    ) -> impl Future<Output = QueryResult<Vec<(Self::Parent, Self::Child)>>> + Send;
}

/// Declares marker types implementing `FetchChildren`, each from a function
/// `(conn, organization_id, parent_ids) -> QueryResult<Vec<Row>>` and a
/// closure placing a row under its parent (`None` leaves it out).
macro_rules! fetch_children {
    ($($(#[$doc:meta])* $marker:ident: $parent:ty => $child:ty = $fetch:path, $place:expr;)+) => {$(
        $(#[$doc])*
        pub struct $marker;

        impl $crate::graphql::loaders::FetchChildren for $marker {
            type Child = $child;
            type Parent = $parent;

            async fn fetch(
                conn: &mut diesel_async::AsyncPgConnection,
                organization_id: $crate::db::ids::OrganizationId,
                parent_ids: &[$parent],
            ) -> diesel::QueryResult<Vec<($parent, $child)>> {
                let rows = $fetch(conn, organization_id, parent_ids).await?;
                Ok(rows.into_iter().filter_map($place).collect())
            }
        }
    )+};
}
pub(crate) use fetch_children;

/// What `Fetcher<ChildrenOf<C>>` loads: the children `C` names.
pub struct ChildrenOf<C>(PhantomData<fn() -> C>);

/// Loads the children `C` names, grouped by parent id (parents without
/// children get none).
pub type Children<C> = Fetcher<ChildrenOf<C>>;

impl<C: FetchChildren> Loader<C::Parent> for Children<C> {
    type Value = Vec<C::Child>;
    type Error = ApiError;

    async fn load(
        &self,
        parent_ids: &[C::Parent],
    ) -> Result<HashMap<C::Parent, Vec<C::Child>>, ApiError> {
        let mut conn = self.pool.get().await?;
        let mut by_parent: HashMap<C::Parent, Vec<C::Child>> = HashMap::new();
        for (parent, child) in C::fetch(&mut conn, self.organization_id, parent_ids).await? {
            by_parent.entry(parent).or_default().push(child);
        }
        Ok(by_parent)
    }
}

/// Children that can be fetched a page per parent in one statement.
pub trait FetchPages: Sized + Clone + Send + Sync + 'static {
    /// What the children hang off.
    type Parent: Copy + Hash + Eq + Send + Sync + 'static;

    /// For each parent, the rows of its page (with the parent they were
    /// fetched for), in the page's scan order.
    fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        parents: &[Self::Parent],
        page: &PageRequest,
    ) -> impl Future<Output = QueryResult<Vec<(Self::Parent, Self)>>> + Send;
}

/// One page of `parent`'s children as a connection, through the request's
/// `Pages<T>` loader; `position` places a row for its cursor.
pub async fn page_of<T, Fields, Place>(
    ctx: &Context<'_>,
    parent: T::Parent,
    page: PageRequest,
    position: impl Fn(&T) -> Place,
    fields: Fields,
) -> Result<Connection<Cursor, T, Fields>, ApiError>
where
    T: FetchPages + OutputType,
    Fields: ObjectType,
    Place: Into<Cursor>,
{
    let rows = loader::<Pages<T>>(ctx)?
        .load_one((parent, page.clone()))
        .await?;
    Ok(page.into_connection(rows.unwrap_or_default(), position, fields))
}

/// What `Fetcher<PagesOf<T>>` loads: a page of `T` per parent.
pub struct PagesOf<T>(PhantomData<fn() -> T>);

/// Loads a page of `T` per parent, keyed by (parent, page).
pub type Pages<T> = Fetcher<PagesOf<T>>;

impl<T: FetchPages> Loader<(T::Parent, PageRequest)> for Pages<T> {
    type Value = Vec<T>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(T::Parent, PageRequest)],
    ) -> Result<HashMap<(T::Parent, PageRequest), Vec<T>>, ApiError> {
        // One statement per distinct page shape (usually one per query).
        let mut parents_by_page: foldhash::HashMap<&PageRequest, Vec<T::Parent>> =
            foldhash::HashMap::default();
        for (parent, page) in keys {
            parents_by_page.entry(page).or_default().push(*parent);
        }
        let mut conn = self.pool.get().await?;
        let mut pages = HashMap::with_capacity(keys.len());
        for (page, parents) in parents_by_page {
            let mut rows: foldhash::HashMap<T::Parent, Vec<T>> =
                parents.iter().map(|parent| (*parent, Vec::new())).collect();
            for (parent, row) in T::fetch(&mut conn, self.organization_id, &parents, page).await? {
                if let Some(list) = rows.get_mut(&parent) {
                    list.push(row);
                }
            }
            pages.extend(
                rows.into_iter()
                    .map(|(parent, list)| ((parent, page.clone()), list)),
            );
        }
        Ok(pages)
    }
}

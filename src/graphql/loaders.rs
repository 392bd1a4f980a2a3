//! Generic DataLoaders: every nested lookup in the schema goes through one
//! of these, so a query costs a fixed number of statements however many
//! rows its pages hold.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::errors::ApiError;
use super::pagination::PageRequest;
use crate::db::DbPool;

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

/// A DataLoader as the request context holds it.
pub type Batched<L> = DataLoader<L, HashMapCache>;

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
    fn create(pool: DbPool, organization_id: i64) -> Self;
}

/// The DataLoaders of one request or WebSocket connection, each made the
/// first time a resolver asks for it: most operations need only a few, and
/// an idle subscription should cost little memory.
pub struct Loaders {
    pool: DbPool,
    organization_id: i64,
    cache: LoaderCache,
    made: Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
}

impl Loaders {
    /// Loaders for one caller.
    pub fn new(pool: DbPool, organization_id: i64, cache: LoaderCache) -> Self {
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
            HashMapCache::default(),
        )
        .delay(BATCH_WINDOW);
        loader.enable_all_cache(self.cache == LoaderCache::Request);
        let loader = Arc::new(loader);
        made.insert(TypeId::of::<L>(), loader.clone());
        loader
    }
}

impl<T: FetchByIds> NewLoader for ByIds<T> {
    fn create(pool: DbPool, organization_id: i64) -> Self {
        ByIds::new(pool, organization_id)
    }
}

impl<T: FetchPages> NewLoader for Pages<T> {
    fn create(pool: DbPool, organization_id: i64) -> Self {
        Pages::new(pool, organization_id)
    }
}

/// Rows that can be fetched in bulk by internal id within an organization.
pub trait FetchByIds: Sized + Clone + Send + Sync + 'static {
    /// The rows of `organization_id` with these ids (missing ones left out).
    fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: i64,
        ids: &[i64],
    ) -> impl Future<Output = QueryResult<Vec<Self>>> + Send;

    /// The row's internal id.
    fn key(&self) -> i64;
}

/// Loads `T` by internal id.
pub struct ByIds<T> {
    pool: DbPool,
    organization_id: i64,
    rows: PhantomData<fn() -> T>,
}

impl<T> ByIds<T> {
    /// A loader for one request of one organization.
    pub fn new(pool: DbPool, organization_id: i64) -> Self {
        ByIds {
            pool,
            organization_id,
            rows: PhantomData,
        }
    }
}

impl<T: FetchByIds> Loader<i64> for ByIds<T> {
    type Value = T;
    type Error = ApiError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, T>, ApiError> {
        let mut conn = self.pool.get().await?;
        let rows = T::fetch(&mut conn, self.organization_id, keys).await?;
        Ok(rows.into_iter().map(|row| (row.key(), row)).collect())
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
        organization_id: i64,
        parents: &[Self::Parent],
        page: &PageRequest,
    ) -> impl Future<Output = QueryResult<Vec<(Self::Parent, Self)>>> + Send;
}

/// Loads a page of `T` per parent, keyed by (parent, page).
pub struct Pages<T> {
    pool: DbPool,
    organization_id: i64,
    rows: PhantomData<fn() -> T>,
}

impl<T> Pages<T> {
    /// A loader for one request of one organization.
    pub fn new(pool: DbPool, organization_id: i64) -> Self {
        Pages {
            pool,
            organization_id,
            rows: PhantomData,
        }
    }
}

impl<T: FetchPages> Loader<(T::Parent, PageRequest)> for Pages<T> {
    type Value = Vec<T>;
    type Error = ApiError;

    async fn load(
        &self,
        keys: &[(T::Parent, PageRequest)],
    ) -> Result<HashMap<(T::Parent, PageRequest), Vec<T>>, ApiError> {
        // One statement per distinct page shape (usually one per query).
        let mut parents_by_page: HashMap<PageRequest, Vec<T::Parent>> = HashMap::new();
        for (parent, page) in keys {
            parents_by_page
                .entry(page.clone())
                .or_default()
                .push(*parent);
        }
        let mut conn = self.pool.get().await?;
        let mut pages = HashMap::with_capacity(keys.len());
        for (page, parents) in parents_by_page {
            for parent in &parents {
                pages.insert((*parent, page.clone()), Vec::new());
            }
            for (parent, row) in T::fetch(&mut conn, self.organization_id, &parents, &page).await? {
                if let Some(rows) = pages.get_mut(&(parent, page.clone())) {
                    rows.push(row);
                }
            }
        }
        Ok(pages)
    }
}

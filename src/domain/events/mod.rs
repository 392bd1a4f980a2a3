//! The event log, its LISTEN/NOTIFY fan-out, and the subscriptions over it.
//!
//! Every change records its events in the `Tx` that makes it, which appends
//! them at commit; see `model::append` and `model::after` for how positions
//! let writers run side by side while readers never skip an event, `payload`
//! for what events carry, and `hub` for how events reach live subscribers on
//! every server instance.

pub mod horizon;
pub mod hub;
pub mod model;
pub mod payload;

use std::time::Duration;

pub use hub::EventHub;
pub use model::{EventKind, NewEvent, append};
pub use payload::EventPayload;

use crate::db::DbPool;

/// How often the pruner runs.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// Deletes events older than `retention`, every minute, until the process
/// ends. Harmless when several servers do it at once.
pub fn spawn_pruner(pool: DbPool, retention: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(PRUNE_EVERY);
        loop {
            ticks.tick().await;
            let Ok(retention) = chrono::Duration::from_std(retention) else {
                return;
            };
            let result = match pool.get().await {
                Ok(mut conn) => model::prune(&mut conn, chrono::Utc::now() - retention)
                    .await
                    .map_err(|e| e.to_string()),
                Err(error) => Err(error.to_string()),
            };
            match result {
                Ok(0) => {}
                Ok(organizations) => tracing::debug!(organizations, "pruned old events"),
                Err(error) => tracing::warn!(%error, "pruning events failed"),
            }
        }
    })
}

//! How many queries run at once. A read is CPU work in PostgreSQL: more of
//! them at once than the database's cores can run only lengthens the tail.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::ServerError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::response::coded_error;
use crate::telemetry::Refused;

/// Admits queries in arrival order, at most `size` running at once, over
/// HTTP and WebSocket alike. Mutations and subscriptions do not pass it: a
/// write spends most of its time waiting for its commit to reach the disk,
/// so more of them at once is more throughput (BENCHMARKS.md, "Reads:
/// queries admitted by cores").
pub struct ReadGate {
    permits: Arc<Semaphore>,
    wait: Duration,
}

/// The gate stayed full for the whole wait.
#[derive(Debug, PartialEq, Eq)]
pub struct GateFull;

impl GateFull {
    /// What a refused query is answered: `SERVICE_UNAVAILABLE`, with the
    /// reason `READ_GATE_FULL`.
    pub fn error(&self) -> ServerError {
        let mut error = coded_error(
            "the server is running too many queries; try again shortly",
            "SERVICE_UNAVAILABLE",
        );
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("reason", Refused::ReadGateFull.as_str());
        error
    }
}

impl ReadGate {
    /// A gate of `size` places (at least one), where a query waits at most
    /// `wait` for its turn.
    pub fn new(size: usize, wait: Duration) -> Self {
        ReadGate {
            permits: Arc::new(Semaphore::new(size.max(1))),
            wait,
        }
    }

    /// A place, held until the returned permit is dropped (it may outlive
    /// the borrow: a WebSocket query holds it inside its result stream).
    pub async fn enter(&self) -> Result<OwnedSemaphorePermit, GateFull> {
        let acquire = self.permits.clone().acquire_owned();
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one admits nobody.
            Ok(Err(_)) | Err(_) => Err(GateFull),
        }
    }
}

/// The default size: twice the cores this process may use, which is what
/// PostgreSQL on the same machine can run (set `CONFAB_READ_CONCURRENCY`
/// to about twice the database's cores when it runs elsewhere).
pub fn default_size() -> usize {
    std::thread::available_parallelism().map_or(4, |cores| 2 * cores.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_gate_refuses_after_its_wait_and_admits_once_a_place_frees() {
        let gate = ReadGate::new(1, Duration::from_millis(20));
        let first = gate.enter().await;
        assert!(first.is_ok());
        assert_eq!(gate.enter().await.err(), Some(GateFull));
        drop(first);
        assert!(gate.enter().await.is_ok());
    }

    #[tokio::test]
    async fn a_size_of_zero_still_admits_one() {
        let gate = ReadGate::new(0, Duration::from_millis(20));
        assert!(gate.enter().await.is_ok());
    }
}

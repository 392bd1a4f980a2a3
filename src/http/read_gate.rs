//! How many queries run at once. A read is CPU work in PostgreSQL: more of
//! them at once than the database's cores can run only lengthens the tail.

use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// Admits queries in arrival order, at most `size` running at once.
/// Mutations and subscriptions do not pass it: a write spends most of its
/// time waiting for its commit to reach the disk, so more of them at once
/// is more throughput (BENCHMARKS.md, "Reads: queries admitted by cores").
pub struct ReadGate {
    permits: Semaphore,
    wait: Duration,
}

/// The gate stayed full for the whole wait.
#[derive(Debug, PartialEq, Eq)]
pub struct GateFull;

impl ReadGate {
    /// A gate of `size` places (at least one), where a query waits at most
    /// `wait` for its turn.
    pub fn new(size: usize, wait: Duration) -> Self {
        ReadGate {
            permits: Semaphore::new(size.max(1)),
            wait,
        }
    }

    /// A place, held until the returned permit is dropped.
    pub async fn enter(&self) -> Result<SemaphorePermit<'_>, GateFull> {
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
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

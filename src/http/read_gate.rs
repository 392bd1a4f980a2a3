//! How many queries run at once. A read is CPU work in PostgreSQL: more of
//! them at once than the database's cores can run only lengthens the tail.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_graphql::ServerError;
use foldhash::HashMap;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

use super::response::coded_error;
use crate::db::ids::OrganizationId;
use crate::telemetry::Refused;

/// Organizations tracked before those with no query at the gate are forgotten.
const TRACKED_ORGANIZATIONS: usize = 1024;

/// Admits queries in arrival order, at most `size` running at once, over
/// HTTP and WebSocket alike. Mutations and subscriptions do not pass it: a
/// write spends most of its time waiting for its commit to reach the disk,
/// so more of them at once is more throughput (BENCHMARKS.md, "Reads:
/// queries admitted by cores").
///
/// One organization may hold all places but one: its further queries wait
/// for one of its own to finish, so another organization's query finds a
/// place free rather than queueing behind them.
pub struct ReadGate {
    places: Arc<Semaphore>,
    /// The places one organization may hold.
    share: usize,
    shares: Mutex<HashMap<OrganizationId, Arc<Semaphore>>>,
    wait: Duration,
}

/// A query's place at the gate, given back when dropped.
pub struct Turn {
    _share: OwnedSemaphorePermit,
    _place: OwnedSemaphorePermit,
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
        let size = size.max(1);
        ReadGate {
            places: Arc::new(Semaphore::new(size)),
            share: (size - 1).max(1),
            shares: Mutex::new(HashMap::default()),
            wait,
        }
    }

    /// A place for a query of `organization`, held until the turn is
    /// dropped (it may outlive the borrow: a WebSocket query holds it inside
    /// its result stream).
    pub async fn enter(&self, organization: OrganizationId) -> Result<Turn, GateFull> {
        let share = self.share_of(organization);
        let places = self.places.clone();
        let admitted = async move {
            let share = share.acquire_owned().await?;
            let place = places.acquire_owned().await?;
            Ok::<_, AcquireError>(Turn {
                _share: share,
                _place: place,
            })
        };
        match tokio::time::timeout(self.wait, admitted).await {
            Ok(Ok(turn)) => Ok(turn),
            // The semaphores are never closed; a closed one admits nobody.
            Ok(Err(_)) | Err(_) => Err(GateFull),
        }
    }

    /// The organization's share of the places.
    fn share_of(&self, organization: OrganizationId) -> Arc<Semaphore> {
        let mut shares = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        if shares.len() >= TRACKED_ORGANIZATIONS && !shares.contains_key(&organization) {
            // A share held by nothing but the map has no query at the gate.
            shares.retain(|_, share| Arc::strong_count(share) > 1);
        }
        shares
            .entry(organization)
            .or_insert_with(|| Arc::new(Semaphore::new(self.share)))
            .clone()
    }
}

/// The default size: twice the cores this process may use, which is what
/// PostgreSQL on the same machine can run, and the one place no
/// organization may take alone (set `CONFAB_READ_CONCURRENCY` to about
/// twice the database's cores, plus one, when it runs elsewhere).
pub fn default_size() -> usize {
    std::thread::available_parallelism().map_or(5, |cores| 2 * cores.get() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACME: OrganizationId = OrganizationId(1);
    const GLOBEX: OrganizationId = OrganizationId(2);

    #[tokio::test]
    async fn a_full_gate_refuses_after_its_wait_and_admits_once_a_place_frees() {
        let gate = ReadGate::new(1, Duration::from_millis(20));
        let first = gate.enter(ACME).await;
        assert!(first.is_ok());
        assert!(gate.enter(GLOBEX).await.is_err());
        drop(first);
        assert!(gate.enter(GLOBEX).await.is_ok());
    }

    #[tokio::test]
    async fn a_size_of_zero_still_admits_one() {
        let gate = ReadGate::new(0, Duration::from_millis(20));
        assert!(gate.enter(ACME).await.is_ok());
    }

    #[tokio::test]
    async fn one_organization_leaves_a_place_for_the_others() {
        let gate = ReadGate::new(4, Duration::from_millis(20));
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(gate.enter(ACME).await.map_err(|_| "a place"));
        }
        assert!(held.iter().all(Result::is_ok));
        assert!(
            gate.enter(ACME).await.is_err(),
            "its fourth waits for its own"
        );
        let other = gate.enter(GLOBEX).await;
        assert!(other.is_ok(), "another organization is admitted at once");
        drop(held);
        drop(other);
        assert!(gate.enter(ACME).await.is_ok());
    }
}

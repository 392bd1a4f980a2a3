//! `Tx`: one operation's transaction, which collects the events the operation
//! records and appends them all at commit.
//!
//! Appending takes no lock: an event's position comes from its transaction
//! id, and readers take only events below the oldest transaction still
//! running (see `events::model::after`), so operations of one organization
//! run and commit side by side and readers still never skip an event. The
//! NOTIFY that wakes readers goes out after the commit (see
//! `events::model::announce` for why).

use std::ops::{Deref, DerefMut};

use diesel::result::Error;
use diesel_async::{AnsiTransactionManager, AsyncPgConnection, TransactionManager};

use crate::db::ids::OrganizationId;
use crate::domain::events::{self, NewEvent};

/// A transaction in progress. It derefs to its connection for queries;
/// events go through `record` and are appended when it commits.
pub struct Tx<'c> {
    conn: &'c mut AsyncPgConnection,
    /// `(organization id, event)`, in the order recorded.
    events: Vec<(OrganizationId, NewEvent)>,
}

impl Tx<'_> {
    /// Records an event of `organization_id`, appended at commit in the
    /// order recorded. A rolled back transaction appends nothing.
    pub fn record(&mut self, organization_id: OrganizationId, event: NewEvent) {
        self.events.push((organization_id, event));
    }

    /// The connection the transaction runs on.
    pub fn conn(&mut self) -> &mut AsyncPgConnection {
        self.conn
    }

    /// Appends the recorded events: one statement per organization (in
    /// organization id order), each event in the order recorded. Returns
    /// each organization's last position, to announce after the commit.
    async fn append_events(self) -> Result<Vec<(OrganizationId, i64)>, Error> {
        let mut by_organization: Vec<(OrganizationId, Vec<NewEvent>)> = Vec::new();
        for (organization_id, event) in self.events {
            match by_organization
                .iter_mut()
                .find(|(id, _)| *id == organization_id)
            {
                Some((_, events)) => events.push(event),
                None => by_organization.push((organization_id, vec![event])),
            }
        }
        by_organization.sort_by_key(|(id, _)| *id);
        let mut appended = Vec::with_capacity(by_organization.len());
        for (organization_id, batch) in by_organization {
            let positions = events::append(self.conn, organization_id, batch).await?;
            appended.extend(positions.last().map(|last| (organization_id, *last)));
        }
        Ok(appended)
    }
}

impl Deref for Tx<'_> {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        self.conn
    }
}

impl DerefMut for Tx<'_> {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        self.conn
    }
}

/// Runs `body` in a transaction: on `Ok` appends the events it recorded,
/// commits and announces them; on `Err` rolls back (recording nothing) and
/// returns the error.
pub async fn run<R, E, F>(conn: &mut AsyncPgConnection, body: F) -> Result<R, E>
where
    F: AsyncFnOnce(&mut Tx<'_>) -> Result<R, E>,
    E: From<Error>,
{
    AnsiTransactionManager::begin_transaction(conn).await?;
    let mut tx = Tx {
        conn: &mut *conn,
        events: Vec::new(),
    };
    let outcome = match body(&mut tx).await {
        Ok(value) => tx
            .append_events()
            .await
            .map(|appended| (value, appended))
            .map_err(E::from),
        Err(error) => Err(error),
    };
    match outcome {
        Ok((value, appended)) => {
            AnsiTransactionManager::commit_transaction(conn).await?;
            // Committed: a failed announcement only delays delivery (the
            // hubs' periodic sweep reads the events), so it is not an error.
            if let Err(error) = events::model::announce(conn, &appended).await {
                tracing::warn!(%error, "announcing committed events failed");
            }
            Ok(value)
        }
        Err(error) => match AnsiTransactionManager::rollback_transaction(conn).await {
            // A broken transaction manager: the original error says more.
            Ok(()) | Err(Error::BrokenTransactionManager) => Err(error),
            Err(rollback_error) => Err(rollback_error.into()),
        },
    }
}

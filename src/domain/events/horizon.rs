//! Where readers of the event log stand: PostgreSQL snapshots as positions.
//! What had committed at one moment, and the position through which everything has settled.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use super::model::POSITIONS_PER_TRANSACTION;
use crate::db::cached::cached_sql;

/// Which transactions had committed at one moment: where a live feed
/// starts. Events it includes are history; every other event will commit
/// later, at a position above `settled_through`.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Transactions below this had ended.
    xmin: i64,
    /// Transactions from this on had not started.
    xmax: i64,
    /// Transactions between the two still running.
    running: Vec<i64>,
}

impl Snapshot {
    /// Every event at or below this position was committed (or never will be).
    pub fn settled_through(&self) -> i64 {
        self.xmin.saturating_mul(POSITIONS_PER_TRANSACTION) - 1
    }

    /// Whether the event at `position` had committed at this moment.
    pub fn includes(&self, position: i64) -> bool {
        let xid = position / POSITIONS_PER_TRANSACTION;
        xid < self.xmin || (xid < self.xmax && !self.running.contains(&xid))
    }

    /// Whether no event after `position` had committed at this moment.
    pub fn is_before(&self, position: i64) -> bool {
        position / POSITIONS_PER_TRANSACTION >= self.xmax
    }

    /// Parses `pg_current_snapshot()::text`: `xmin:xmax:running,…`.
    pub fn parse(text: &str) -> Option<Snapshot> {
        let mut parts = text.split(':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let running = match parts.next()? {
            "" => Vec::new(),
            list => list
                .split(',')
                .map(|xid| xid.parse().ok())
                .collect::<Option<_>>()?,
        };
        parts.next().is_none().then_some(Snapshot {
            xmin,
            xmax,
            running,
        })
    }
}

#[derive(QueryableByName)]
struct SnapshotText {
    #[diesel(sql_type = Text)]
    snapshot: String,
}

/// The database's snapshot now.
pub async fn snapshot(conn: &mut AsyncPgConnection) -> QueryResult<Snapshot> {
    let text: SnapshotText = cached_sql("SELECT pg_current_snapshot()::text AS snapshot")
        .get_result(conn)
        .await?;
    Snapshot::parse(&text.snapshot).ok_or_else(|| {
        diesel::result::Error::DeserializationError(
            format!("unexpected snapshot {:?}", text.snapshot).into(),
        )
    })
}

#[derive(QueryableByName)]
struct Horizon {
    #[diesel(sql_type = BigInt)]
    horizon: i64,
}

/// The position through which every event of this database has settled
/// (see `SETTLED`): a reader starting after it misses nothing that commits
/// later, and replays at most what transactions still running committed.
pub async fn settled_position(conn: &mut AsyncPgConnection) -> QueryResult<i64> {
    let horizon: Horizon = cached_sql(
        "SELECT (COALESCE(
             (SELECT min(running::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS running
              WHERE NOT EXISTS (SELECT FROM pg_stat_activity a
                                WHERE a.backend_xid = running::xid AND a.datname <> current_database())),
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint) * $1) - 1 AS horizon",
    )
    .bind::<BigInt, _>(POSITIONS_PER_TRANSACTION)
    .get_result(conn)
    .await?;
    Ok(horizon.horizon)
}

#[cfg(test)]
mod tests {
    use super::{POSITIONS_PER_TRANSACTION, Snapshot};

    fn at(xid: i64, place: i64) -> i64 {
        xid * POSITIONS_PER_TRANSACTION + place
    }

    #[test]
    fn a_snapshot_tells_history_from_what_commits_later() {
        let snapshot = Snapshot::parse("100:105:100,103").expect("parses");
        assert_eq!(snapshot.settled_through(), at(100, 0) - 1);
        for (position, committed) in [
            (at(99, 7), true),
            (at(100, 0), false),
            (at(101, 2), true),
            (at(103, 0), false),
            (at(104, 0), true),
            (at(105, 0), false),
        ] {
            assert_eq!(snapshot.includes(position), committed, "{position}");
        }
        assert!(!snapshot.is_before(at(104, 9)));
        assert!(snapshot.is_before(at(105, 0)));
    }

    #[test]
    fn snapshots_parse_as_postgres_prints_them() {
        let idle = Snapshot::parse("7:7:").expect("parses");
        assert_eq!(idle.settled_through(), at(7, 0) - 1);
        assert!(idle.includes(at(6, 3)) && !idle.includes(at(7, 0)));
        for bad in ["", "1:2", "1:2:x", "1:2:3:4", "a:2:"] {
            assert_eq!(Snapshot::parse(bad), None, "{bad}");
        }
    }
}

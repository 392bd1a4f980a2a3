//! Keyset pages: which rows of a sorted list one page holds, and how to scan
//! the index for them (never OFFSET, so page 10,000 costs page 1).
//!
//! A row's place in a list is its `Position`: the values it is sorted by
//! (`SortKey`s, none for lists sorted by id alone) and then its unique key
//! as the tiebreaker. Pages are bounded by positions, compared as tuples.

use chrono::{DateTime, Utc};
use diesel::dsl;
use diesel::expression::Expression;
use diesel::prelude::*;
use diesel::query_dsl::methods::{FilterDsl, LimitDsl, OrderDsl};
use diesel::sql_types::BigInt;

/// Which end of the ordering a page is taken from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `first`/`after`: ascending from the start (or from `after`).
    Forward,
    /// `last`/`before`: descending from the end (or from `before`).
    Backward,
}

/// How a list is sorted by its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SortOrder {
    /// Oldest first (messages, contacts).
    Ascending,
    /// Newest first (threads).
    Descending,
}

/// One value a list is sorted by ahead of the row's key (a search rank, a
/// last-activity time). Lists sorted by their key alone have none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// An integer (counts, ranks scaled to integers).
    Int(i64),
    /// A text (names); never holds NUL.
    Text(String),
    /// A point in time (last activity).
    Time(DateTime<Utc>),
}

/// A row's place in a sorted list: its sort keys, then its unique key in the
/// list (the row's id, or a channel message's position) as the tiebreaker.
/// Positions compare as the tuple `(keys…, key)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Position {
    /// The values the list is sorted by, most significant first.
    pub keys: Vec<SortKey>,
    /// The row's unique key in the list.
    pub id: i64,
}

impl Position {
    /// The place of a row in a list sorted by its key alone.
    pub fn of_id(id: i64) -> Self {
        Position {
            keys: Vec::new(),
            id,
        }
    }
}

impl From<i64> for Position {
    fn from(id: i64) -> Self {
        Position::of_id(id)
    }
}

/// How to scan the index for one page: the bounds and the scan direction.
/// Rows come back in scan order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scan {
    /// Only rows placed after this.
    pub greater_than: Option<Position>,
    /// Only rows placed before this.
    pub less_than: Option<Position>,
    /// Scan with ascending keys.
    pub ascending: bool,
    /// Rows to fetch (one more than the page).
    pub limit: i64,
}

/// A validated page request: cursor positions, size and direction. Built
/// from Relay arguments by the GraphQL layer (`PageRequest::new`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Position of the `after` cursor.
    pub after: Option<Position>,
    /// Position of the `before` cursor.
    pub before: Option<Position>,
    /// Rows wanted on the page.
    pub size: usize,
    /// Which end the page is taken from.
    pub direction: Direction,
}

impl PageRequest {
    /// The last `size` rows (e.g. a thread's newest messages).
    pub fn last(size: usize) -> Self {
        PageRequest {
            after: None,
            before: None,
            size,
            direction: Direction::Backward,
        }
    }

    /// How to scan a list sorted in `order` for this page. A forward page
    /// scans the list's own order; a backward page scans it in reverse from
    /// `before` (and `into_connection` turns it back).
    pub fn scan(&self, order: SortOrder) -> Scan {
        let (greater_than, less_than) = match order {
            SortOrder::Ascending => (self.after.clone(), self.before.clone()),
            SortOrder::Descending => (self.before.clone(), self.after.clone()),
        };
        let forward = self.direction == Direction::Forward;
        Scan {
            greater_than,
            less_than,
            ascending: forward == (order == SortOrder::Ascending),
            limit: self.size as i64 + 1,
        }
    }
}

/// Narrows `query` to the page `scan` describes, for a list sorted by the
/// unique `key` column alone: the bounds on `key`, the order and the limit.
/// (A list sorted by other values first would compare `(keys…, key)`; its
/// cursors carry those keys, which lists by key alone refuse.)
pub fn keyset<Q, C>(query: Q, key: C, scan: &Scan) -> dsl::Limit<Q>
where
    C: Expression<SqlType = BigInt> + ExpressionMethods + Copy,
    Q: FilterDsl<dsl::Gt<C, i64>, Output = Q>
        + FilterDsl<dsl::Lt<C, i64>, Output = Q>
        + OrderDsl<dsl::Asc<C>, Output = Q>
        + OrderDsl<dsl::Desc<C>, Output = Q>
        + LimitDsl,
{
    let mut query = query;
    if let Some(bound) = &scan.greater_than {
        debug_assert!(bound.keys.is_empty(), "a list sorted by key alone");
        query = FilterDsl::filter(query, key.gt(bound.id));
    }
    if let Some(bound) = &scan.less_than {
        debug_assert!(bound.keys.is_empty(), "a list sorted by key alone");
        query = FilterDsl::filter(query, key.lt(bound.id));
    }
    let query = if scan.ascending {
        OrderDsl::order(query, key.asc())
    } else {
        OrderDsl::order(query, key.desc())
    };
    LimitDsl::limit(query, scan.limit)
}

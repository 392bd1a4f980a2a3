//! Keyset pages: which rows of a list sorted by key one page holds, and how
//! to scan the key index for them (never OFFSET, so page 10,000 costs page 1).

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

/// How to scan the key index for one page: the key bounds and the scan
/// direction. Rows come back in scan order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scan {
    /// Only keys greater than this.
    pub greater_than: Option<i64>,
    /// Only keys less than this.
    pub less_than: Option<i64>,
    /// Scan with ascending keys.
    pub ascending: bool,
    /// Rows to fetch (one more than the page).
    pub limit: i64,
}

/// A validated page request: cursor keys, size and direction. Built from
/// Relay arguments by the GraphQL layer (`PageRequest::new`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PageRequest {
    /// Key of the `after` cursor.
    pub after: Option<i64>,
    /// Key of the `before` cursor.
    pub before: Option<i64>,
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
            SortOrder::Ascending => (self.after, self.before),
            SortOrder::Descending => (self.before, self.after),
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

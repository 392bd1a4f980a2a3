//! Relay connections over keyset pagination.
//!
//! Cursors are opaque strings wrapping a row's internal key; a page is fetched
//! with `WHERE key > after` (or `< before`) `ORDER BY key LIMIT n + 1`, so any
//! page costs what the first costs. The extra row tells whether more exist.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ObjectType, OutputType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::errors::{ApiError, UserErrorCode};
pub use crate::db::page::{Direction, PageRequest, Scan, SortOrder};

/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;

/// An opaque cursor holding a row's internal key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyCursor(pub i64);

const CURSOR_PREFIX: &str = "k1:";

/// A cursor string that this server did not make.
#[derive(Debug)]
pub struct InvalidCursor(String);

impl std::fmt::Display for InvalidCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid cursor {:?}", self.0)
    }
}

impl CursorType for KeyCursor {
    type Error = InvalidCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        let invalid = || InvalidCursor(s.to_string());
        let bytes = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let key = text.strip_prefix(CURSOR_PREFIX).ok_or_else(invalid)?;
        key.parse().map(KeyCursor).map_err(|_| invalid())
    }

    fn encode_cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{}", self.0))
    }
}

/// The API half of `db::page::PageRequest`: reading Relay arguments and
/// building connections.
impl PageRequest {
    /// Validates Relay arguments: at most one of `first` and `last`, each 1 to 1000.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Self, ApiError> {
        let check = |name: &str, value: i32| {
            if (1..=MAX_PAGE_SIZE as i64).contains(&i64::from(value)) {
                Ok(value as usize)
            } else {
                Err(ApiError::bad_input(
                    UserErrorCode::PageSizeOutOfRange,
                    format!("`{name}` must be between 1 and {MAX_PAGE_SIZE}, got {value}"),
                ))
            }
        };
        let (size, direction) = match (first, last) {
            (Some(_), Some(_)) => {
                return Err(ApiError::bad_input(
                    UserErrorCode::PageSizeOutOfRange,
                    "pass `first` or `last`, not both",
                ));
            }
            (Some(first), None) => (check("first", first)?, Direction::Forward),
            (None, Some(last)) => (check("last", last)?, Direction::Backward),
            (None, None) if before.is_some() && after.is_none() => {
                (DEFAULT_PAGE_SIZE, Direction::Backward)
            }
            (None, None) => (DEFAULT_PAGE_SIZE, Direction::Forward),
        };
        let decode = |cursor: Option<String>| {
            cursor
                .map(|c| KeyCursor::decode_cursor(&c).map(|k| k.0))
                .transpose()
                .map_err(|e| ApiError::bad_input(UserErrorCode::InvalidCursor, e.to_string()))
        };
        Ok(PageRequest {
            after: decode(after)?,
            before: decode(before)?,
            size,
            direction,
        })
    }

    /// Builds the connection from rows fetched with this request's `scan`.
    pub fn into_connection<Node, Fields>(
        self,
        mut rows: Vec<Node>,
        key: impl Fn(&Node) -> i64,
        fields: Fields,
    ) -> Connection<KeyCursor, Node, Fields>
    where
        Node: OutputType,
        Fields: ObjectType,
    {
        let has_more = rows.len() > self.size;
        rows.truncate(self.size);
        let (has_previous_page, has_next_page) = match self.direction {
            Direction::Forward => (self.after.is_some(), has_more),
            Direction::Backward => {
                rows.reverse();
                (has_more, self.before.is_some())
            }
        };
        let mut connection =
            Connection::with_additional_fields(has_previous_page, has_next_page, fields);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(KeyCursor(key(&row)), row)),
        );
        connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = KeyCursor(42).encode_cursor();
        assert_eq!(KeyCursor::decode_cursor(&cursor).ok(), Some(KeyCursor(42)));
        assert!(KeyCursor::decode_cursor("not a cursor").is_err());
        assert!(KeyCursor::decode_cursor(&URL_SAFE_NO_PAD.encode("k1:x")).is_err());
    }

    #[test]
    fn page_sizes_outside_1_to_1000_are_refused() {
        assert!(PageRequest::new(Some(0), None, None, None).is_err());
        assert!(PageRequest::new(Some(1001), None, None, None).is_err());
        assert!(PageRequest::new(None, None, Some(-1), None).is_err());
        assert!(PageRequest::new(Some(1), None, Some(1), None).is_err());
        assert_eq!(
            PageRequest::new(Some(1000), None, None, None)
                .map(|p| p.size)
                .ok(),
            Some(1000)
        );
    }
}

//! Relay connections over keyset pagination: the cursors, reading page
//! arguments, and building connections from the rows fetched.
//!
//! Cursors are opaque strings wrapping a row's place in its list (see
//! `Cursor`); a page is fetched with `WHERE key > after` (or `< before`)
//! `ORDER BY key LIMIT n + 1`, so any page costs what the first costs. The
//! extra row tells whether more exist.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{ObjectType, OutputType};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::errors::{ApiError, UserErrorCode};
use crate::db::ids::{ChannelId, ContactId, ConversationId, MessageId, ThreadId};
pub use crate::db::page::{Direction, PageRequest, Position, Scan, SortKey, SortOrder};

/// Page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;

/// An opaque cursor: a row's place in a list, its sort keys (none for lists
/// sorted by key alone, which all are today) and its key as the tiebreaker.
/// Encoded as base64url of `v2:` and the JSON `[[keys…], key]`, each key
/// `{"i": int}`, `{"s": text}` or `{"t": RFC 3339 time}`. Version 1 cursors
/// (`k1:<key>`, handed out before sort keys existed) still decode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The values the list is sorted by, most significant first.
    pub keys: Vec<SortKey>,
    /// The row's unique key in the list.
    pub id: i64,
}

impl From<i64> for Cursor {
    fn from(id: i64) -> Self {
        Cursor {
            keys: Vec::new(),
            id,
        }
    }
}

/// A cursor at a row whose typed id is its only sort key.
macro_rules! cursor_from_ids {
    ($($id:ty),*) => {$(
        impl From<$id> for Cursor {
            fn from(id: $id) -> Self {
                Cursor::from(i64::from(id))
            }
        }
    )*};
}

cursor_from_ids!(ContactId, ThreadId, ConversationId, ChannelId, MessageId);

impl From<Position> for Cursor {
    fn from(position: Position) -> Self {
        Cursor {
            keys: position.keys,
            id: position.id,
        }
    }
}

impl From<Cursor> for Position {
    fn from(cursor: Cursor) -> Self {
        Position {
            keys: cursor.keys,
            id: cursor.id,
        }
    }
}

/// The prefix of version 1 cursors: a bare key.
const V1_PREFIX: &str = "k1:";
/// The prefix of version 2 cursors: sort keys and a key, as JSON.
const V2_PREFIX: &str = "v2:";
/// Most sort keys a cursor may hold.
const MAX_SORT_KEYS: usize = 8;

/// A sort key as a version 2 cursor spells it.
#[derive(Serialize, Deserialize)]
enum WireKey {
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "s")]
    Text(String),
    #[serde(rename = "t")]
    Time(DateTime<Utc>),
}

/// A version 2 cursor's JSON: `[[keys…], key]`.
#[derive(Serialize, Deserialize)]
struct Wire(Vec<WireKey>, i64);

/// A cursor string that this server did not make.
#[derive(Debug)]
pub struct InvalidCursor(String);

impl std::fmt::Display for InvalidCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid cursor {:?}", self.0)
    }
}

impl Cursor {
    /// Reads the text inside the base64, either version; `None` if it is not
    /// a cursor this server makes.
    fn parse(text: &str) -> Option<Cursor> {
        if let Some(key) = text.strip_prefix(V1_PREFIX) {
            return key.parse::<i64>().ok().map(Cursor::from);
        }
        let Wire(keys, id) = serde_json::from_str(text.strip_prefix(V2_PREFIX)?).ok()?;
        if keys.len() > MAX_SORT_KEYS {
            return None;
        }
        let keys = keys
            .into_iter()
            .map(|key| match key {
                WireKey::Int(value) => Some(SortKey::Int(value)),
                WireKey::Text(text) if text.contains('\0') => None,
                WireKey::Text(text) => Some(SortKey::Text(text)),
                WireKey::Time(time) => Some(SortKey::Time(time)),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Cursor { keys, id })
    }
}

impl CursorType for Cursor {
    type Error = InvalidCursor;

    fn decode_cursor(s: &str) -> Result<Self, Self::Error> {
        URL_SAFE_NO_PAD
            .decode(s)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .and_then(|text| Cursor::parse(&text))
            .ok_or_else(|| InvalidCursor(s.to_string()))
    }

    fn encode_cursor(&self) -> String {
        if self.keys.is_empty() {
            // Every list today: skip building the JSON.
            return URL_SAFE_NO_PAD.encode(format!("{V2_PREFIX}[[],{}]", self.id));
        }
        let keys = self
            .keys
            .iter()
            .map(|key| match key {
                SortKey::Int(value) => WireKey::Int(*value),
                SortKey::Text(text) => WireKey::Text(text.clone()),
                SortKey::Time(time) => WireKey::Time(*time),
            })
            .collect();
        // Serializing integers, strings and times cannot fail.
        let json = serde_json::to_string(&Wire(keys, self.id)).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(format!("{V2_PREFIX}{json}"))
    }
}

/// The API half of `db::page::PageRequest`: reading Relay arguments and
/// building connections.
impl PageRequest {
    /// Validates Relay arguments for a list sorted by its key alone: at
    /// most one of `first` and `last`, each 1 to 1000.
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Self, ApiError> {
        PageRequest::sorted_by(0, first, after, last, before)
    }

    /// Validates Relay arguments for a list sorted by `sort_keys` values
    /// ahead of its key: cursors must hold that many sort keys.
    pub fn sorted_by(
        sort_keys: usize,
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
            let Some(text) = cursor else { return Ok(None) };
            match Cursor::decode_cursor(&text) {
                Ok(cursor) if cursor.keys.len() == sort_keys => Ok(Some(Position::from(cursor))),
                Ok(_) => Err(InvalidCursor(text).to_string()),
                Err(invalid) => Err(invalid.to_string()),
            }
            .map_err(|message| ApiError::bad_input(UserErrorCode::InvalidCursor, message))
        };
        Ok(PageRequest {
            after: decode(after)?,
            before: decode(before)?,
            size,
            direction,
        })
    }

    /// Builds the connection from rows fetched with this request's `scan`.
    /// `position` gives a row's place (its key, for lists sorted by key alone).
    pub fn into_connection<Node, Fields, Place>(
        &self,
        mut rows: Vec<Node>,
        position: impl Fn(&Node) -> Place,
        fields: Fields,
    ) -> Connection<Cursor, Node, Fields>
    where
        Node: OutputType,
        Fields: ObjectType,
        Place: Into<Cursor>,
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
                .map(|row| Edge::new(position(&row).into(), row)),
        );
        connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(text: &str) -> Option<Cursor> {
        Cursor::decode_cursor(&encoded(text)).ok()
    }

    #[test]
    fn cursors_round_trip() {
        let time = DateTime::parse_from_rfc3339("2026-11-21T10:00:00.123456Z")
            .expect("time")
            .with_timezone(&Utc);
        let cursors = [
            Cursor::from(42),
            Cursor::from(0),
            Cursor::from(i64::MIN),
            Cursor::from(i64::MAX),
            Cursor {
                keys: vec![
                    SortKey::Int(-7),
                    SortKey::Text("Zoë \"quoted\" ,]} 😀".to_string()),
                    SortKey::Time(time),
                ],
                id: 9,
            },
        ];
        for cursor in cursors {
            let text = cursor.encode_cursor();
            assert_eq!(
                Cursor::decode_cursor(&text).ok(),
                Some(cursor.clone()),
                "{text}"
            );
            let inner = URL_SAFE_NO_PAD.decode(&text).expect("base64url");
            assert!(inner.starts_with(b"v2:"), "{text}");
        }
        assert_eq!(
            Cursor::from(42).encode_cursor(),
            encoded("v2:[[],42]"),
            "the fast path spells what the JSON would"
        );
        assert_eq!(decode(r#"v2:[[],42]"#), Some(Cursor::from(42)));
        assert_eq!(decode(r#"v2: [ [ ] , 42 ] "#), Some(Cursor::from(42)));
    }

    #[test]
    fn version_1_cursors_still_decode() {
        assert_eq!(decode("k1:42"), Some(Cursor::from(42)));
        assert_eq!(decode("k1:-3"), Some(Cursor::from(-3)));
        assert_eq!(
            decode(&format!("k1:{}", i64::MAX)),
            Some(Cursor::from(i64::MAX))
        );
        // What the server handed out before sort keys existed: `k1:<id>`.
        assert_eq!(
            Cursor::decode_cursor("azE6MTIzNDU").ok(),
            Some(Cursor::from(12345))
        );
    }

    #[test]
    fn garbage_is_not_a_cursor() {
        let garbage = [
            "",
            "k1:",
            "k1:x",
            "k1:4\u{0}",
            "k1:\u{0}4",
            "k1:9223372036854775808",
            "k1:-9223372036854775809",
            "k1:99999999999999999999999999999999",
            "k1:1.5",
            "k1:1e3",
            "k1: 1",
            "k2:1",
            "v1:[[],1]",
            "v3:[[],1]",
            "V2:[[],1]",
            "v2:",
            "v2:42",
            "v2:[]",
            "v2:[[]]",
            "v2:[[],1,2]",
            "v2:[[],\"1\"]",
            "v2:[[],1.0]",
            "v2:[[],1e3]",
            "v2:[[],9223372036854775808]",
            "v2:[[],99999999999999999999999999]",
            "v2:[[],1] trailing",
            "v2:[[{\"i\":1.5}],1]",
            "v2:[[{\"i\":9223372036854775808}],1]",
            "v2:[[{\"x\":1}],1]",
            "v2:[[{\"i\":1,\"s\":\"a\"}],1]",
            "v2:[[{\"s\":\"a\\u0000b\"}],1]",
            "v2:[[{\"t\":\"yesterday\"}],1]",
            "v2:[[1],1]",
            "v2:[[],1]\u{0}",
            "v2:[[{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1},{\"i\":1}],1]",
            "\u{0}",
        ];
        for text in garbage {
            assert_eq!(decode(text), None, "{text:?}");
        }
        for raw in [
            "not a cursor",
            "a2E6MQ==",
            "\u{0}",
            "azE6\u{0}MTIzNDU",
            "!!!!",
        ] {
            assert!(Cursor::decode_cursor(raw).is_err(), "{raw:?}");
        }
        assert!(Cursor::decode_cursor(&URL_SAFE_NO_PAD.encode([0xff, 0xfe, 0x00])).is_err());
    }

    #[test]
    fn lists_sorted_by_key_alone_refuse_cursors_with_sort_keys() {
        let with_key = Cursor {
            keys: vec![SortKey::Int(1)],
            id: 2,
        }
        .encode_cursor();
        let error = PageRequest::new(Some(1), Some(with_key.clone()), None, None)
            .err()
            .map(|e| async_graphql::Error::from(e).message);
        assert_eq!(error, Some(format!("invalid cursor {with_key:?}")));
        let page = PageRequest::sorted_by(1, Some(1), Some(with_key), None, None).ok();
        assert_eq!(
            page.and_then(|p| p.after),
            Some(Position {
                keys: vec![SortKey::Int(1)],
                id: 2
            })
        );
        let old = PageRequest::new(None, None, Some(5), Some(encoded("k1:7"))).ok();
        assert_eq!(old.and_then(|p| p.before), Some(Position::of_id(7)));
        assert!(PageRequest::new(Some(1), Some("bm9wZQ".to_string()), None, None).is_err());
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

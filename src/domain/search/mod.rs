//! Search: messages by full text in their organization's language, and
//! threads and contacts by name (trigrams, for partial words and typos).
//!
//! Every search runs as one SQL statement per page, inside the caller's
//! `ThreadScope`, ordered by relevance (an integer score, `SCORE_SCALE`
//! times PostgreSQL's float), then newest first, with keyset bounds on
//! `(score, created_at, id)` (messages) or `(score, id)` (names).

pub mod model;
pub mod names;

use crate::db::page::{Position, SortKey, SortOrder};
use crate::domain::errors::{Code, Violation};

/// Hits list best first.
pub const ORDER: SortOrder = SortOrder::Descending;

/// Longest query text, in characters.
pub const MAX_QUERY_CHARS: usize = 256;

/// Scores are PostgreSQL's `ts_rank` or `word_similarity` (floats) times
/// this, rounded: integers sort and round-trip through cursors exactly.
pub const SCORE_SCALE: f64 = 1_000_000.0;

/// The marks `ts_headline` puts around each matched word of a snippet.
pub const HIGHLIGHT_START: &str = "<mark>";
/// The mark after a matched word.
pub const HIGHLIGHT_STOP: &str = "</mark>";

/// A score as the API shows it: the scaled integer back as a float.
pub fn score_value(score: i64) -> f64 {
    score as f64 / SCORE_SCALE
}

/// A validated query text: trimmed, not blank, at most `MAX_QUERY_CHARS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueryText(String);

impl QueryText {
    /// Checks `text` (the argument `field`); leading and trailing blanks go.
    pub fn parse(field: &str, text: &str) -> Result<QueryText, Violation> {
        let violation = |code, message: String| Violation {
            field: vec![field.to_string()],
            code,
            message,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(violation(
                Code::Required,
                format!("`{field}` must not be blank"),
            ));
        }
        let chars = trimmed.chars().count();
        if chars > MAX_QUERY_CHARS {
            return Err(violation(
                Code::TooLong,
                format!("`{field}` may be at most {MAX_QUERY_CHARS} characters long, got {chars}"),
            ));
        }
        Ok(QueryText(trimmed.to_string()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a cursor position has the shape of a message hit's place:
/// `[score, created_at]` then the id.
pub fn is_message_position(position: &Position) -> bool {
    matches!(
        position.keys.as_slice(),
        [SortKey::Int(_), SortKey::Time(_)]
    )
}

/// Whether a cursor position has the shape of a name hit's place: `[score]`
/// then the id.
pub fn is_name_position(position: &Position) -> bool {
    matches!(position.keys.as_slice(), [SortKey::Int(_)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn query_text_is_trimmed_and_bounded() {
        let parsed = QueryText::parse("query", "  \"hello world\" -spam \n");
        assert_eq!(parsed.map(|q| q.0), Ok("\"hello world\" -spam".to_string()));
        for blank in ["", "   ", "\n\t"] {
            let error = QueryText::parse("query", blank).err().map(|v| v.code);
            assert_eq!(error, Some(Code::Required), "{blank:?}");
        }
        let longest = "é".repeat(MAX_QUERY_CHARS);
        assert!(
            QueryText::parse("query", &longest).is_ok(),
            "counts characters, not bytes"
        );
        let error = QueryText::parse("query", &format!("{longest}x")).err();
        assert_eq!(error.as_ref().map(|v| v.code), Some(Code::TooLong));
        assert_eq!(error.map(|v| v.field), Some(vec!["query".to_string()]));
    }

    #[test]
    fn positions_of_hits_have_their_shapes() {
        let at = |keys| Position { keys, id: 1 };
        let time = SortKey::Time(Utc::now());
        assert!(is_message_position(&at(vec![
            SortKey::Int(5),
            time.clone()
        ])));
        assert!(!is_message_position(&at(vec![
            time.clone(),
            SortKey::Int(5)
        ])));
        assert!(!is_message_position(&at(vec![SortKey::Int(5)])));
        assert!(is_name_position(&at(vec![SortKey::Int(5)])));
        assert!(!is_name_position(&at(vec![SortKey::Text("5".into())])));
        assert!(!is_name_position(&at(vec![])));
        assert_eq!(score_value(1_500_000), 1.5);
    }
}

//! A pre-parse scan of a GraphQL document: counts its tokens and the deepest
//! nesting of `{`, `[` and `(`, without building anything.
//!
//! The parser recurses once per nesting level of selections *and* values, so
//! this runs first: nothing a client sends reaches the parser unbounded.

/// What a scan found over a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanError {
    /// More lexical tokens than allowed.
    TooManyTokens,
    /// Brackets, braces or parentheses nested deeper than allowed.
    TooDeep,
}

/// Token count and deepest nesting of a document that passed the scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanSummary {
    pub tokens: usize,
    pub depth: usize,
}

/// Scans `source`, stopping at the first limit it exceeds, in time linear in
/// its length. Malformed input is not an error here (the parser reports it);
/// every character that is not ignored counts towards a token.
pub fn scan(source: &str, max_tokens: usize, max_depth: usize) -> Result<ScanSummary, ScanError> {
    let bytes = source.as_bytes();
    let mut summary = ScanSummary::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        summary.tokens += 1;
        if summary.tokens > max_tokens {
            return Err(ScanError::TooManyTokens);
        }
        i = match byte {
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max_depth {
                    return Err(ScanError::TooDeep);
                }
                summary.depth = summary.depth.max(depth);
                i + 1
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i + 1
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => skip_block_string(bytes, i + 3),
            b'"' => skip_string(bytes, i + 1),
            b'.' if bytes[i..].starts_with(b"...") => i + 3,
            b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => {
                let mut end = i + 1;
                while end < bytes.len()
                    && matches!(bytes[end], b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'+' | b'-')
                {
                    end += 1;
                }
                end
            }
            // Any other character is a token of its own (a punctuator, or
            // something the parser will refuse); multi-byte characters are
            // skipped whole.
            _ => i + utf8_width(byte),
        };
    }
    Ok(summary)
}

/// The index after the closing quote of a `"…"` string starting at `i`.
fn skip_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' | b'\n' | b'\r' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index after the closing `"""` of a block string starting at `i`.
fn skip_block_string(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() {
        if bytes[i..].starts_with(b"\\\"\"\"") {
            i += 4;
        } else if bytes[i..].starts_with(b"\"\"\"") {
            return i + 3;
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn utf8_width(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tokens_and_nesting() {
        let summary = scan(
            "query Q($a: Int) { a(x: [1, 2]) { b ...F } } # {{{{",
            100,
            10,
        );
        // query Q ( $ a : Int ) { a ( x : [ 1 2 ] ) { b ... F } }
        assert_eq!(
            summary,
            Ok(ScanSummary {
                tokens: 24,
                depth: 3
            })
        );
    }

    #[test]
    fn strings_and_comments_hide_their_brackets() {
        let source = r#"{ a(s: "[[[{{{\"", t: """ ((( \""" """) }"#;
        assert_eq!(scan(source, 100, 2).map(|s| s.depth), Ok(2));
    }

    #[test]
    fn stops_at_the_first_limit() {
        let deep = format!(
            "{{nodes(ids:{}1{})}}",
            "[".repeat(300_000),
            "]".repeat(300_000)
        );
        assert_eq!(scan(&deep, 1_000_000, 64), Err(ScanError::TooDeep));
        let long = "{ a }".repeat(10_000);
        assert_eq!(scan(&long, 15_000, 64), Err(ScanError::TooManyTokens));
    }

    #[test]
    fn unterminated_input_ends_the_scan() {
        assert!(scan("{ a(s: \"open", 100, 10).is_ok());
        assert!(scan("{ a(s: \"\"\"open", 100, 10).is_ok());
        assert!(scan("\u{1F600}{", 100, 10).is_ok());
    }
}

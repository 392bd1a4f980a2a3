//! Checks and normalisation shared by the mutations of every concept.

/// Longest free-text value accepted for names and similar short fields.
pub const MAX_SHORT_TEXT: usize = 255;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// Trims a value; blank becomes `None`.
pub fn non_blank(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// A lower-cased email address, or `None` when it is not one.
///
/// Deliberately simple (one `@`, a dotted domain, no spaces): anything
/// stricter rejects real addresses.
pub fn normalize_email(value: &str) -> Option<String> {
    let email = value.trim();
    let (local, domain) = email.split_once('@')?;
    let well_formed = !local.is_empty()
        && email.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    well_formed.then(|| email.to_lowercase())
}

/// A phone number in E.164 form (`+` and 8 to 15 digits, no leading zero in
/// the country code), or `None`. Spaces, dashes, dots and parentheses are
/// allowed on input and removed.
pub fn normalize_e164(value: &str) -> Option<String> {
    let compact: String = value
        .trim()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
        .collect();
    let digits = compact.strip_prefix('+')?;
    let valid = (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(compact)
}

/// An absolute http(s) URL, or `None`.
pub fn normalize_http_url(value: &str) -> Option<String> {
    let value = value.trim();
    if value.len() > MAX_URL {
        return None;
    }
    let url = url::Url::parse(value).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host().is_some()).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(
            normalize_email(" Ada@Example.COM ").as_deref(),
            Some("ada@example.com")
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
    }

    #[test]
    fn phones() {
        assert_eq!(
            normalize_e164("+1 (415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            normalize_e164("+420777123456").as_deref(),
            Some("+420777123456")
        );
        for bad in [
            "",
            "4155550100",
            "+0123456789",
            "+1234",
            "+1234567890123456",
            "+1415555010a",
        ] {
            assert_eq!(normalize_e164(bad), None, "{bad}");
        }
    }

    #[test]
    fn urls() {
        assert!(normalize_http_url("https://example.com/a.png").is_some());
        assert_eq!(normalize_http_url("ftp://example.com/a.png"), None);
        assert_eq!(normalize_http_url("/relative.png"), None);
    }
}

//! Checks and normalisation shared by every concept: required and bounded
//! text, E.164 phones (libphonenumber), emails and http(s) URLs.

/// Longest free-text value accepted for names and similar short fields.
pub const MAX_SHORT_TEXT: usize = 255;
/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// Trims a value; blank becomes `None`.
pub fn non_blank(value: &str) -> Option<String> {
    let trimmed = value.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

/// Longest email address accepted (the limit of SMTP's forward path).
const MAX_EMAIL: usize = 254;

/// A lower-cased email address, or `None` when it is not one.
///
/// The syntax is checked by the `email_address` crate (RFC 5322 addr-spec),
/// bare addresses only: no display name (`Ada <ada@example.com>`), no
/// domain literal (`ada@[127.0.0.1]`), and the domain must have a dot.
pub fn normalize_email(value: &str) -> Option<String> {
    let email = value.trim();
    if email.len() > MAX_EMAIL {
        return None;
    }
    let options = email_address::Options::default()
        .without_display_text()
        .without_domain_literal()
        .with_required_tld();
    let parsed = email_address::EmailAddress::parse_with_options(email, options).ok()?;
    Some(parsed.as_str().to_lowercase())
}

/// Characters a phone number may be written with besides digits; they are
/// dropped. Letters (vanity numbers), extensions and `tel:` URIs are refused.
fn is_phone_character(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')')
}

/// Loads libphonenumber's metadata now rather than on the first request
/// that checks a phone (it takes a noticeable moment).
pub fn warm_up() {
    let _ = normalize_e164("+14155550100");
}

/// A valid phone number in E.164 form (`+`, country code, national number),
/// or `None`.
///
/// Parsed and validated by the `phonenumber` crate (libphonenumber's
/// metadata), so the number must exist in its country's numbering plan, not
/// just have the right length. Spaces, dashes, dots and parentheses are
/// allowed on input and removed. The country code is required: a number
/// written without `+` is read as starting with its country code
/// (`31612345678` is `+31612345678`), and one starting with `0` is a
/// national number without a country code and refused.
pub fn normalize_e164(value: &str) -> Option<String> {
    let value = value.trim();
    if !value.chars().all(is_phone_character) {
        return None;
    }
    let international = match value.strip_prefix('+') {
        Some(_) => value.to_string(),
        None => {
            let first_digit = value.chars().find(char::is_ascii_digit)?;
            if first_digit == '0' {
                return None;
            }
            format!("+{value}")
        }
    };
    if international.matches('+').count() != 1 {
        return None;
    }
    let number = phonenumber::parse(None, &international).ok()?;
    if !number.is_valid() || number.extension().is_some() {
        return None;
    }
    Some(number.format().mode(phonenumber::Mode::E164).to_string())
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
        for good in [
            "ada.lovelace+inbox@example.co.uk",
            "o'brien@example.ie",
            "user_name-1@sub.example.org",
        ] {
            assert_eq!(normalize_email(good).as_deref(), Some(good), "{good}");
        }
        let longest_local = format!("{}@example.com", "a".repeat(64));
        assert!(normalize_email(&longest_local).is_some());
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@b@c.com",
            "a@.com",
            "a@example..com",
            "a@example.com.",
            "ada@exa mple.com",
            "Ada <ada@example.com>",
            "ada@[127.0.0.1]",
            "ada\u{0}@example.com",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad}");
        }
        let long_local = format!("{}@example.com", "a".repeat(65));
        assert_eq!(normalize_email(&long_local), None, "local part over 64");
        let long = format!("a@{}.com", "b".repeat(250));
        assert_eq!(normalize_email(&long), None, "over 254 characters");
    }

    #[test]
    fn phones_from_several_countries() {
        for (input, e164) in [
            ("+1 (415) 555-0100", "+14155550100"),
            ("+1 415.555.0199", "+14155550199"),
            ("+44 20 7946 0958", "+442079460958"),
            ("+44 (0)20 7946 0958", "+442079460958"),
            ("+31 6 12345678", "+31612345678"),
            ("+49 30 12345678", "+493012345678"),
            ("+33 6 12 34 56 78", "+33612345678"),
            ("+39 06 1234 5678", "+390612345678"),
            ("+420 777 123 456", "+420777123456"),
            ("+81 3-1234-5678", "+81312345678"),
            ("+61 412 345 678", "+61412345678"),
            ("+55 11 91234-5678", "+5511912345678"),
            ("+91 98765 43210", "+919876543210"),
            ("  +14155550100  ", "+14155550100"),
            // The ends of the ranges `seed-demo` writes.
            ("+14155550001", "+14155550001"),
            ("+14155559999", "+14155559999"),
            ("+14155560001", "+14155560001"),
        ] {
            assert_eq!(normalize_e164(input).as_deref(), Some(e164), "{input}");
        }
    }

    #[test]
    fn phones_without_plus_start_with_their_country_code() {
        for (input, e164) in [
            ("31612345678", "+31612345678"),
            ("31 6 12345678", "+31612345678"),
            ("14155550100", "+14155550100"),
            ("1 (415) 555-0100", "+14155550100"),
            ("442079460958", "+442079460958"),
        ] {
            assert_eq!(normalize_e164(input).as_deref(), Some(e164), "{input}");
        }
        // National numbers have no country code: refused, not guessed.
        for national in [
            "0612345678",
            "06 12345678",
            "020 7946 0958",
            "(0)20 7946 0958",
            "0031612345678",
        ] {
            assert_eq!(normalize_e164(national), None, "{national}");
        }
    }

    #[test]
    fn invalid_phones_are_refused() {
        for bad in [
            "",
            "   ",
            "+",
            "+0123456789",
            "+1234",
            "+1 415 555 010",
            "+31 6 1234",
            "+1234567890123456",
            "+1415555010a",
            "+1 800 FLOWERS",
            "+14155550100 ext. 5",
            "tel:+14155550100",
            "++14155550100",
            "+1+4155550100",
            "+999 123 4567",
            "+1 011 555 0100",
            "+44 99 7946 0958",
            // A US number without its country code reads as +41 55 550 100,
            // which Switzerland does not have.
            "4155550100",
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

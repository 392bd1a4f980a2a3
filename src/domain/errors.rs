//! The domain's errors: expected failures (`Violation`s of a rule, each with
//! a stable `Code` and the path of the input at fault) and database failures.

use crate::domain::validation::{non_blank, normalize_email, normalize_http_url};

/// Stable codes for the expected failures of an operation. The GraphQL
/// layer shows each as the user error code of the same name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The id does not name an object this caller can see.
    NotFound,
    /// A required value is missing or blank.
    Required,
    /// A value is longer than allowed.
    TooLong,
    /// Not an email address.
    InvalidEmail,
    /// Not a valid phone number with its country code (E.164).
    InvalidPhone,
    /// Not an absolute http(s) URL.
    InvalidUrl,
    /// Another object already has this unique value.
    Duplicate,
    /// The thread's contact is set and cannot change.
    ContactImmutable,
    /// Only the message's author may do this.
    NotAuthor,
    /// The caller is not an active subscriber of the thread.
    NotASubscriber,
    /// A value is not allowed here.
    InvalidValue,
    /// An interval is longer than allowed.
    IntervalTooLong,
    /// An interval ends before it starts.
    IntervalReversed,
    /// More ids than allowed.
    TooManyIds,
    /// `first`/`last` outside 1 to 1000, or both given.
    PageSizeOutOfRange,
    /// A cursor this server did not make.
    InvalidCursor,
    /// A new schedule must lie in the future.
    PublishTimeInPast,
    /// A channel needs at least one subscriber.
    EmptySubscriberSet,
    /// The message is not waiting to be published.
    NotPending,
    /// A webhook URL names (or resolves to) a private, loopback or
    /// link-local address.
    PrivateAddress,
}

/// One broken rule: where (the path of the input at fault, e.g.
/// `["input", "email"]`; empty when it concerns the whole input), why, and
/// a stable code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Path to the input field at fault; empty for the whole input.
    pub field: Vec<String>,
    /// A stable, machine-readable code.
    pub code: Code,
    /// A human-readable explanation.
    pub message: String,
}

impl Violation {
    /// A violation about `input.<field>`.
    pub fn on_input(field: &str, code: Code, message: impl Into<String>) -> Self {
        Violation {
            field: vec!["input".to_string(), field.to_string()],
            code,
            message: message.into(),
        }
    }

    /// A violation about item `index` of the list `input.<field>`.
    pub fn on_item(field: &str, index: usize, code: Code, message: impl Into<String>) -> Self {
        Violation {
            field: vec!["input".to_string(), field.to_string(), index.to_string()],
            code,
            message: message.into(),
        }
    }

    /// `input.<field>` names nothing the caller can see.
    pub fn not_found(field: &str, id: &str) -> Self {
        Violation::on_input(field, Code::NotFound, format!("no object with id {id:?}"))
    }
}

/// Why a domain operation did not happen.
#[derive(Debug)]
pub enum DomainError {
    /// The request broke rules; nothing was written.
    Rejected(Vec<Violation>),
    /// The database failed.
    Database(diesel::result::Error),
}

impl DomainError {
    /// Rejected for one rule about `input.<field>`.
    pub fn on_input(field: &str, code: Code, message: impl Into<String>) -> Self {
        DomainError::Rejected(vec![Violation::on_input(field, code, message)])
    }

    /// `input.<field>` names nothing the caller can see.
    pub fn not_found(field: &str, id: &str) -> Self {
        DomainError::Rejected(vec![Violation::not_found(field, id)])
    }
}

impl From<diesel::result::Error> for DomainError {
    fn from(error: diesel::result::Error) -> Self {
        DomainError::Database(error)
    }
}

/// What operations return.
pub type DomainResult<T> = Result<T, DomainError>;

/// Whether `error` is a violation of the unique constraint or index `name`.
pub fn is_unique_violation(error: &diesel::result::Error, name: &str) -> bool {
    matches!(
        error,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, info)
            if info.constraint_name() == Some(name)
    )
}

/// The violations found so far in one request, so an operation reports
/// every problem at once and writes nothing when there is any.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// Records a violation on `input.<field>`.
    pub fn push(&mut self, field: &str, code: Code, message: impl Into<String>) {
        self.0.push(Violation::on_input(field, code, message));
    }

    /// Records an already built violation.
    pub fn push_violation(&mut self, violation: Violation) {
        self.0.push(violation);
    }

    /// The violations recorded, in order.
    pub fn into_vec(self) -> Vec<Violation> {
        self.0
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok when nothing was recorded, else the request is rejected.
    pub fn finish(self) -> DomainResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(DomainError::Rejected(self.0))
        }
    }

    /// A trimmed, non-blank value of at most `max` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        match non_blank(value) {
            None => {
                self.push(field, Code::Required, format!("{field} is required"));
                None
            }
            Some(text) => self.optional_text(field, Some(&text), max),
        }
    }

    /// Like `required_text`, but blank or absent is simply `None`.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        let text = non_blank(value?)?;
        if text.chars().count() > max {
            self.push(
                field,
                Code::TooLong,
                format!("{field} must be at most {max} characters"),
            );
            return None;
        }
        Some(text)
    }

    /// A list of at most `max` http(s) URLs; violations point at the bad item.
    pub fn url_list(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        if values.len() > max {
            self.push(field, Code::TooLong, format!("at most {max} {field}"));
            return Vec::new();
        }
        let mut urls = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            match normalize_http_url(value) {
                Some(url) => urls.push(url),
                None => self.push_violation(Violation::on_item(
                    field,
                    index,
                    Code::InvalidUrl,
                    format!("{value:?} is not an absolute http(s) URL"),
                )),
            }
        }
        urls
    }

    /// A phone number in E.164 form.
    pub fn optional_phone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        self.optional_normalized(
            field,
            value,
            crate::domain::validation::normalize_e164,
            Code::InvalidPhone,
            "is not a valid phone number with its country code (E.164), e.g. +14155550100",
        )
    }

    /// An absolute http(s) URL.
    pub fn optional_url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let problem = "is not an absolute http(s) URL";
        self.optional_normalized(field, value, normalize_http_url, Code::InvalidUrl, problem)
    }

    /// A lower-cased email address.
    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let problem = "is not an email address";
        self.optional_normalized(field, value, normalize_email, Code::InvalidEmail, problem)
    }

    /// A non-blank value in the form `normalize` gives it; when it has none,
    /// records `code` with the message "<value> <problem>".
    fn optional_normalized(
        &mut self,
        field: &str,
        value: Option<&str>,
        normalize: fn(&str) -> Option<String>,
        code: Code,
        problem: &str,
    ) -> Option<String> {
        let value = non_blank(value?)?;
        let normalized = normalize(&value);
        if normalized.is_none() {
            self.push(field, code, format!("{value:?} {problem}"));
        }
        normalized
    }
}

/// A change to an optional value: leave it, clear it, or set it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Change<T> {
    /// Leave the value as it is.
    #[default]
    Keep,
    /// Clear the value.
    Clear,
    /// Set the value.
    Set(T),
}

impl<T> Change<T> {
    /// Whether the value is left alone.
    pub fn is_keep(&self) -> bool {
        matches!(self, Change::Keep)
    }

    /// Maps the value being set.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Change<U> {
        match self {
            Change::Keep => Change::Keep,
            Change::Clear => Change::Clear,
            Change::Set(value) => Change::Set(f(value)),
        }
    }

    /// The column change: `None` leaves the column, `Some(None)` clears it,
    /// a value goes through `validate` (whose `None` clears too).
    pub fn into_column<U>(self, validate: impl FnOnce(T) -> Option<U>) -> Option<Option<U>> {
        match self {
            Change::Keep => None,
            Change::Clear => Some(None),
            Change::Set(value) => Some(validate(value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_collect_in_order_and_reject() {
        let mut violations = Violations::default();
        assert_eq!(
            violations.optional_text("name", Some("  Ada "), 10),
            Some("Ada".into())
        );
        assert_eq!(
            violations.optional_text("name", Some("x".repeat(11).as_str()), 10),
            None
        );
        assert_eq!(violations.required_text("subject", " ", 10), None);
        let Err(DomainError::Rejected(found)) = violations.finish() else {
            panic!("expected a rejection");
        };
        let codes: Vec<Code> = found.iter().map(|v| v.code).collect();
        assert_eq!(codes, [Code::TooLong, Code::Required]);
        assert_eq!(found[1].field, ["input", "subject"]);
    }

    #[test]
    fn url_list_points_at_the_bad_item() {
        let mut violations = Violations::default();
        let urls = ["https://a.example/x".to_string(), "nope".to_string()];
        assert_eq!(violations.url_list("mediaUrls", &urls, 5).len(), 1);
        let found = violations.into_vec();
        assert_eq!(found[0].field, ["input", "mediaUrls", "1"]);
        assert_eq!(found[0].code, Code::InvalidUrl);
    }

    #[test]
    fn changes_map_to_columns() {
        assert_eq!(Change::<i32>::Keep.into_column(Some), None);
        assert_eq!(Change::<i32>::Clear.into_column(Some), Some(None));
        assert_eq!(
            Change::Set(2).map(|v| v * 2).into_column(Some),
            Some(Some(4))
        );
    }
}

//! Validation of mutation input: each check (the domain's `Violations`)
//! normalises a value or records a `UserError` against its field, so a mutation reports every problem at once
//! and writes nothing when there is any.

use async_graphql::MaybeUndefined;

use super::errors::{MutationError, UserError, UserErrorCode};
use crate::domain::errors::{Change, Violations};

/// The user errors found so far in one mutation's input.
#[derive(Debug, Default)]
pub struct InputErrors(Vec<UserError>);

impl InputErrors {
    /// Records an error on `input.<field>`.
    pub fn push(&mut self, field: &str, code: UserErrorCode, message: impl Into<String>) {
        self.0.push(UserError::on_input(field, code, message));
    }

    /// Records an error on an already built path.
    pub fn push_error(&mut self, error: UserError) {
        self.0.push(error);
    }

    /// Ok when nothing was recorded, else the errors as a mutation failure.
    pub fn finish(self) -> Result<(), MutationError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(MutationError::User(self.0))
        }
    }

    /// Runs one of the domain's checks (`Violations`), recording what it finds.
    fn check<T>(&mut self, check: impl FnOnce(&mut Violations) -> T) -> T {
        let mut found = Violations::default();
        let value = check(&mut found);
        self.0
            .extend(found.into_vec().into_iter().map(UserError::from));
        value
    }

    /// A trimmed, non-blank value of at most `max` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        self.check(|found| found.required_text(field, value, max))
    }

    /// Like `required_text`, but blank or absent is simply `None`.
    pub fn optional_text(
        &mut self,
        field: &str,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        self.check(|found| found.optional_text(field, value, max))
    }

    /// A lower-cased email address.
    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        self.check(|found| found.optional_email(field, value))
    }

    /// A phone number in E.164 form.
    pub fn optional_phone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        self.check(|found| found.optional_phone(field, value))
    }

    /// An absolute http(s) URL.
    pub fn optional_url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        self.check(|found| found.optional_url(field, value))
    }

    /// A list of at most `max` http(s) URLs; errors point at the bad item.
    pub fn url_list(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        self.check(|found| found.url_list(field, values, max))
    }
}

/// Maps an optional input to a column change: absent leaves the column,
/// null clears it, a value goes through `validate` (whose `None` clears too).
pub fn changed<T, U>(
    value: MaybeUndefined<T>,
    validate: impl FnOnce(T) -> Option<U>,
) -> Option<Option<U>> {
    match value {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(value) => Some(validate(value)),
    }
}

impl<T> From<MaybeUndefined<T>> for Change<T> {
    fn from(value: MaybeUndefined<T>) -> Self {
        match value {
            MaybeUndefined::Undefined => Change::Keep,
            MaybeUndefined::Null => Change::Clear,
            MaybeUndefined::Value(value) => Change::Set(value),
        }
    }
}

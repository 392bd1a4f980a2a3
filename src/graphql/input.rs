//! Validation of mutation input: each check normalises a value or records a
//! `UserError` against its field, so a mutation reports every problem at once
//! and writes nothing when there is any.

use async_graphql::MaybeUndefined;

use super::errors::{MutationError, UserError, UserErrorCode};
use crate::domain::errors::Change;
use crate::domain::validation::{non_blank, normalize_e164, normalize_email, normalize_http_url};

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

    /// A trimmed, non-blank value of at most `max` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) -> Option<String> {
        match non_blank(value) {
            None => {
                self.push(
                    field,
                    UserErrorCode::Required,
                    format!("{field} is required"),
                );
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
                UserErrorCode::TooLong,
                format!("{field} must be at most {max} characters"),
            );
            return None;
        }
        Some(text)
    }

    /// A lower-cased email address.
    pub fn optional_email(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = non_blank(value?)?;
        let email = normalize_email(&value);
        if email.is_none() {
            self.push(
                field,
                UserErrorCode::InvalidEmail,
                format!("{value:?} is not an email address"),
            );
        }
        email
    }

    /// A valid phone number with its country code, in E.164 form.
    pub fn optional_phone(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = non_blank(value?)?;
        let phone = normalize_e164(&value);
        if phone.is_none() {
            self.push(
                field,
                UserErrorCode::InvalidPhone,
                format!(
                    "{value:?} is not a valid phone number with its country code (E.164), e.g. +14155550100"
                ),
            );
        }
        phone
    }

    /// An absolute http(s) URL.
    pub fn optional_url(&mut self, field: &str, value: Option<&str>) -> Option<String> {
        let value = non_blank(value?)?;
        let url = normalize_http_url(&value);
        if url.is_none() {
            self.push(
                field,
                UserErrorCode::InvalidUrl,
                format!("{value:?} is not an absolute http(s) URL"),
            );
        }
        url
    }

    /// A list of at most `max` http(s) URLs; errors point at the bad item.
    pub fn url_list(&mut self, field: &str, values: &[String], max: usize) -> Vec<String> {
        if values.len() > max {
            self.push(
                field,
                UserErrorCode::TooLong,
                format!("at most {max} {field}"),
            );
            return Vec::new();
        }
        let mut urls = Vec::with_capacity(values.len());
        for (index, value) in values.iter().enumerate() {
            match normalize_http_url(value) {
                Some(url) => urls.push(url),
                None => self.push_error(UserError {
                    field: Some(vec![
                        "input".to_string(),
                        field.to_string(),
                        index.to_string(),
                    ]),
                    message: format!("{value:?} is not an absolute http(s) URL"),
                    code: UserErrorCode::InvalidUrl,
                }),
            }
        }
        urls
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

//! Errors as the API shows them.
//!
//! Two kinds, as DESIGN.md says: expected failures of a mutation are
//! `UserError`s in its payload, with a stable `code`; everything else is a
//! top-level GraphQL error carrying `extensions.code`. Internal details are
//! logged here and never returned.

use async_graphql::{Enum, ErrorExtensions, SimpleObject};

use crate::db::PoolOrQueryError;

/// A failure that ends a field with a top-level GraphQL error.
///
/// It deliberately has no `Display`: async-graphql turns anything that
/// displays into an error message, and database errors must never reach a
/// client that way. Resolvers return `Result<T, ApiError>`.
#[derive(Clone, Debug)]
pub enum ApiError {
    /// No usable credentials.
    Unauthenticated,
    /// The request is well formed but its arguments are not acceptable.
    BadUserInput(String),
    /// The database cannot be reached or is overloaded; retrying may work.
    Unavailable,
    /// A bug or an unexpected database failure; already logged.
    Internal,
}

impl ApiError {
    /// The stable code put in `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "UNAUTHENTICATED",
            ApiError::BadUserInput(_) => "BAD_USER_INPUT",
            ApiError::Unavailable => "SERVICE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => {
                "authentication required: send `Authorization: Bearer <token>`".to_string()
            }
            ApiError::BadUserInput(message) => message.clone(),
            ApiError::Unavailable => "the database is unavailable; try again shortly".to_string(),
            ApiError::Internal => "internal error".to_string(),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message())
            .extend_with(|_, ext| ext.set("code", error.code()))
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &error {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                tracing::warn!(%error, "database connection lost");
                ApiError::Unavailable
            }
            // SQLSTATE 57014: the statement timeout cancelled the query.
            Error::DatabaseError(_, info) if info.message().contains("statement timeout") => {
                tracing::warn!(%error, "statement timed out");
                ApiError::Unavailable
            }
            _ => {
                tracing::error!(%error, "database error");
                ApiError::Internal
            }
        }
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        tracing::warn!(%error, "no database connection available");
        ApiError::Unavailable
    }
}

impl From<PoolOrQueryError> for ApiError {
    fn from(error: PoolOrQueryError) -> Self {
        match error {
            PoolOrQueryError::Pool(error) => error.into(),
            PoolOrQueryError::Query(error) => error.into(),
        }
    }
}

/// Stable codes for the expected failures of a mutation.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserErrorCode {
    /// The id does not name an object this caller can see.
    NotFound,
    /// A required value is missing or blank.
    Required,
    /// A value is longer than allowed.
    TooLong,
    /// Not an email address.
    InvalidEmail,
    /// Not a phone number in E.164 form (`+` and country code).
    InvalidPhone,
    /// Not an absolute http(s) URL.
    InvalidUrl,
}

/// An expected failure of a mutation, pointing at the input field at fault.
#[derive(SimpleObject, Clone, Debug, PartialEq)]
pub struct UserError {
    /// Path to the input field at fault, e.g. `["input", "email"]`; null when
    /// the error concerns the whole input.
    pub field: Option<Vec<String>>,
    /// A human-readable explanation.
    pub message: String,
    /// A stable, machine-readable code.
    pub code: UserErrorCode,
}

impl UserError {
    /// An error about `input.<field>`.
    pub fn on_input(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        UserError {
            field: Some(vec!["input".to_string(), field.to_string()]),
            message: message.into(),
            code,
        }
    }

    /// The `id` in the input names nothing the caller can see.
    pub fn not_found(field: &str, id: &str) -> Self {
        UserError::on_input(
            field,
            UserErrorCode::NotFound,
            format!("no object with id {id:?}"),
        )
    }
}

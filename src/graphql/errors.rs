//! Errors as the API shows them.
//!
//! Two kinds, as DESIGN.md says: expected failures of a mutation are
//! `UserError`s in its payload, with a stable `code`; everything else is a
//! top-level GraphQL error carrying `extensions.code`. Internal details are
//! logged here and never returned.

use async_graphql::resolver_utils::EnumType;
use async_graphql::{Enum, ErrorExtensions, SimpleObject};

use crate::db::PoolOrQueryError;
use crate::domain::errors::{Code, DomainError, Violation};

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
    BadUserInput {
        /// Stable reason, put in `extensions.reason`.
        reason: UserErrorCode,
        message: String,
    },
    /// The caller's token may not do this (e.g. a contact token editing contacts).
    Forbidden,
    /// The object named by an argument does not exist for this caller.
    NotFound(String),
    /// An event cursor older than the retention window: refetch, then
    /// subscribe without `after`.
    CursorExpired,
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
            ApiError::BadUserInput { .. } => "BAD_USER_INPUT",
            ApiError::Forbidden => "FORBIDDEN",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::CursorExpired => "CURSOR_EXPIRED",
            ApiError::Unavailable => "SERVICE_UNAVAILABLE",
            ApiError::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::Unauthenticated => {
                "authentication required: send `Authorization: Bearer <token>`".to_string()
            }
            ApiError::BadUserInput { message, .. } => message.clone(),
            ApiError::Forbidden => "this token may not do that".to_string(),
            ApiError::NotFound(what) => format!("no {what} with this id"),
            ApiError::CursorExpired => "the cursor is older than the event retention window: \
                 refetch the data, then subscribe again without `after`"
                .to_string(),
            ApiError::Unavailable => "the database is unavailable; try again shortly".to_string(),
            ApiError::Internal => "internal error".to_string(),
        }
    }
}

impl ApiError {
    /// A `BAD_USER_INPUT` error with a stable reason.
    pub fn bad_input(reason: UserErrorCode, message: impl Into<String>) -> Self {
        ApiError::BadUserInput {
            reason,
            message: message.into(),
        }
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(error: ApiError) -> Self {
        async_graphql::Error::new(error.message()).extend_with(|_, ext| {
            ext.set("code", error.code());
            if let ApiError::BadUserInput { reason, .. } = &error {
                ext.set("reason", reason.as_str());
            }
        })
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

// The domain's `Code`, each variant described for the schema; `remote`
// derives the conversions both ways.
/// Stable codes for the expected failures of a mutation.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "Code")]
pub enum UserErrorCode {
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
    /// Another object already has this unique value (e.g. channel + identifier).
    Duplicate,
    /// The thread's contact is set and cannot change.
    ContactImmutable,
    /// Only the message's author may do this.
    NotAuthor,
    /// The caller is not an active subscriber of the thread.
    NotASubscriber,
    /// A value is not allowed here (e.g. a META message sent by a client).
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

impl UserErrorCode {
    /// The code as it appears in the schema, e.g. `NOT_FOUND`.
    pub fn as_str(self) -> &'static str {
        Self::items()
            .iter()
            .find(|item| item.value == self)
            .map_or("", |item| item.name)
    }
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

/// Why a mutation did not happen: expected failures (reported as user
/// errors, with the transaction rolled back) or an `ApiError`.
#[derive(Debug)]
pub enum MutationError {
    User(Vec<UserError>),
    Api(ApiError),
}

impl MutationError {
    /// One user error about `input.<field>`.
    pub fn on_input(field: &str, code: UserErrorCode, message: impl Into<String>) -> Self {
        MutationError::User(vec![UserError::on_input(field, code, message)])
    }

    /// `input.<field>` names nothing the caller can see.
    pub fn not_found(field: &str, id: &str) -> Self {
        MutationError::User(vec![UserError::not_found(field, id)])
    }
}

impl From<diesel::result::Error> for MutationError {
    fn from(error: diesel::result::Error) -> Self {
        MutationError::Api(error.into())
    }
}

impl From<ApiError> for MutationError {
    fn from(error: ApiError) -> Self {
        MutationError::Api(error)
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for MutationError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        MutationError::Api(error.into())
    }
}

impl From<Violation> for UserError {
    /// An empty path (the whole input) becomes a null `field`.
    fn from(violation: Violation) -> Self {
        UserError {
            field: (!violation.field.is_empty()).then_some(violation.field),
            message: violation.message,
            code: violation.code.into(),
        }
    }
}

impl From<DomainError> for MutationError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Rejected(violations) => {
                MutationError::User(violations.into_iter().map(UserError::from).collect())
            }
            DomainError::Database(error) => error.into(),
        }
    }
}

/// A mutation payload: the result on success, user errors otherwise.
pub trait Payload<T>: Sized {
    /// The payload of a mutation that succeeded.
    fn done(result: T) -> Self;
    /// The payload of a mutation refused with user errors.
    fn failed(errors: Vec<UserError>) -> Self;

    /// Turns a mutation's outcome into its payload or a top-level error.
    fn from_result(result: Result<T, MutationError>) -> Result<Self, ApiError> {
        match result {
            Ok(value) => Ok(Self::done(value)),
            Err(MutationError::User(errors)) => Ok(Self::failed(errors)),
            Err(MutationError::Api(error)) => Err(error),
        }
    }
}

/// Messages async-graphql gives when a client's value cannot be coerced to
/// its input type (a bad `DateTime` literal, an `Int` out of range, a
/// missing variable). They are the client's mistake, and safe to show.
const INPUT_COERCION_MESSAGES: [&str; 5] = [
    "Failed to parse",
    "Expected input type",
    "Invalid value for argument",
    "Variable ",
    "Oneof",
];

/// Every error leaves with a code, and internal text never leaves.
///
/// Errors without a path are the document's own (parse, validation,
/// limits): `GRAPHQL_VALIDATION_FAILED`. Field errors without a code did not
/// come through `ApiError`: input coercion failures become
/// `BAD_USER_INPUT`; anything else is logged and hidden as
/// `INTERNAL_SERVER_ERROR`.
pub fn sanitize_errors(errors: &mut [async_graphql::ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if error.path.is_empty() {
            extensions.set("code", "GRAPHQL_VALIDATION_FAILED");
        } else if INPUT_COERCION_MESSAGES
            .iter()
            .any(|prefix| error.message.starts_with(prefix))
        {
            extensions.set("code", "BAD_USER_INPUT");
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "uncoded field error");
            error.message = "internal error".to_string();
            extensions.set("code", "INTERNAL_SERVER_ERROR");
        }
    }
}

pub use crate::domain::errors::is_unique_violation;

/// Declares a mutation payload: its result fields beside `userErrors`, with
/// its `Payload` impl. A field `name: T` is an `Option<T>`: the result on
/// success, null when the mutation was refused. A field `name: T = value`
/// is a plain `T`: the result on success, `value` when refused. With one
/// field the result is a `T`, with several a tuple in field order.
macro_rules! payload {
    (@type $ty:ty) => { Option<$ty> };
    (@type $ty:ty = $refused:expr) => { $ty };
    (@done $value:ident) => { Some($value) };
    (@done $value:ident = $refused:expr) => { $value };
    (@refused) => { None };
    (@refused = $refused:expr) => { $refused };
    ($(#[$meta:meta])* $name:ident {
        $($(#[$field_meta:meta])* $field:ident: $ty:ty $(= $refused:expr)?),+ $(,)?
    }) => {
        $(#[$meta])*
        #[derive(async_graphql::SimpleObject)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                pub $field: $crate::graphql::errors::payload!(@type $ty $(= $refused)?),
            )+
            pub user_errors: Vec<$crate::graphql::errors::UserError>,
        }

        // One field: `(T)` is `T`, and the pattern `(value)` is `value`.
        #[allow(unused_parens)]
        impl $crate::graphql::errors::Payload<($($ty),+)> for $name {
            fn done(($($field),+): ($($ty),+)) -> Self {
                $name {
                    $($field: $crate::graphql::errors::payload!(@done $field $(= $refused)?),)+
                    user_errors: Vec::new(),
                }
            }

            fn failed(user_errors: Vec<$crate::graphql::errors::UserError>) -> Self {
                $name {
                    $($field: $crate::graphql::errors::payload!(@refused $(= $refused)?),)+
                    user_errors,
                }
            }
        }
    };
}
pub(crate) use payload;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_become_the_same_user_errors() {
        let rejected = DomainError::Rejected(vec![
            Violation::on_item("memberIds", 2, Code::NotASubscriber, "no"),
            Violation {
                field: Vec::new(),
                code: Code::Duplicate,
                message: "whole input".into(),
            },
        ]);
        let MutationError::User(errors) = MutationError::from(rejected) else {
            panic!("expected user errors");
        };
        assert_eq!(
            errors,
            [
                UserError {
                    field: Some(vec!["input".into(), "memberIds".into(), "2".into()]),
                    message: "no".into(),
                    code: UserErrorCode::NotASubscriber,
                },
                UserError {
                    field: None,
                    message: "whole input".into(),
                    code: UserErrorCode::Duplicate,
                },
            ]
        );
        assert_eq!(
            UserErrorCode::from(Code::IntervalTooLong).as_str(),
            "INTERVAL_TOO_LONG"
        );
    }
}

//! Mutation input as the domain takes it: an optional GraphQL input field
//! (absent, null or a value) becomes the domain's `Change` (keep, clear, set).

use async_graphql::MaybeUndefined;

use crate::domain::errors::Change;

impl<T> From<MaybeUndefined<T>> for Change<T> {
    fn from(value: MaybeUndefined<T>) -> Self {
        match value {
            MaybeUndefined::Undefined => Change::Keep,
            MaybeUndefined::Null => Change::Clear,
            MaybeUndefined::Value(value) => Change::Set(value),
        }
    }
}

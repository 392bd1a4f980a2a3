//! What resolvers take from the request context.

use async_graphql::Context;
use async_graphql::dataloader::{DataLoader, Loader};

use super::errors::ApiError;
use crate::auth::Viewer;
use crate::db::{DbConn, DbPool};

/// The authenticated caller. Every request through the HTTP layer has one.
pub fn viewer(ctx: &Context<'_>) -> Result<Viewer, ApiError> {
    ctx.data_opt::<Viewer>()
        .copied()
        .ok_or(ApiError::Unauthenticated)
}

/// A pooled database connection.
pub async fn db(ctx: &Context<'_>) -> Result<DbConn, ApiError> {
    let pool = ctx.data_opt::<DbPool>().ok_or(ApiError::Internal)?;
    Ok(pool.get().await?)
}

/// This request's DataLoader of type `L`.
pub fn loader<'a, L: Loader<i64>>(ctx: &'a Context<'_>) -> Result<&'a DataLoader<L>, ApiError> {
    ctx.data_opt::<DataLoader<L>>().ok_or_else(|| {
        tracing::error!(
            loader = std::any::type_name::<L>(),
            "DataLoader missing from context"
        );
        ApiError::Internal
    })
}

//! What resolvers take from the request context.

use async_graphql::Context;
use super::loaders::Batched;

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
pub fn loader<'a, L: Send + Sync + 'static>(
    ctx: &'a Context<'_>,
) -> Result<&'a Batched<L>, ApiError> {
    ctx.data_opt::<Batched<L>>().ok_or_else(|| {
        tracing::error!(
            loader = std::any::type_name::<L>(),
            "DataLoader missing from context"
        );
        ApiError::Internal
    })
}

/// The caller, when it acts for the organization (an api key or a user);
/// contact tokens get `FORBIDDEN`.
pub fn staff_viewer(ctx: &Context<'_>) -> Result<Viewer, ApiError> {
    let viewer = viewer(ctx)?;
    match viewer.actor {
        crate::auth::Actor::Contact(_) => Err(ApiError::Forbidden),
        crate::auth::Actor::User(_) | crate::auth::Actor::ApiKey(_) => Ok(viewer),
    }
}

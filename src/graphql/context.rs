//! What resolvers take from the request context.

use async_graphql::Context;
use std::sync::Arc;

use super::loaders::{Batched, Loaders, NewLoader};

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
pub fn loader<L: NewLoader>(ctx: &Context<'_>) -> Result<Arc<Batched<L>>, ApiError> {
    let loaders = ctx.data_opt::<Loaders>().ok_or_else(|| {
        tracing::error!("DataLoaders missing from context");
        ApiError::Internal
    })?;
    Ok(loaders.get::<L>())
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

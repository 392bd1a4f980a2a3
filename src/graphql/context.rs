//! What resolvers take from the request context.
//! The viewer, the pooled connection and the request's loaders.

use async_graphql::Context;
use std::sync::Arc;

use super::loaders::{Batched, Loaders, NewLoader};

use super::errors::ApiError;
use crate::db::{DbConn, DbPool};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::webhooks::TargetPolicy;

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
        crate::domain::auth::Actor::Contact(_) => Err(ApiError::Forbidden),
        crate::domain::auth::Actor::User(_) | crate::domain::auth::Actor::ApiKey(_) => Ok(viewer),
    }
}

/// Whether the caller may see the private details (email, phone) of
/// `member`: api keys and users see everyone's, a contact token only its
/// own contact's. Names stay visible to every caller who sees the member.
pub fn may_see_details(ctx: &Context<'_>, member: crate::domain::auth::Actor) -> bool {
    use crate::domain::auth::Actor;
    match ctx.data_opt::<Viewer>().map(|viewer| viewer.actor) {
        Some(Actor::Contact(own)) => member == Actor::Contact(own),
        Some(Actor::User(_) | Actor::ApiKey(_)) => true,
        None => false,
    }
}

/// The caller, when it is an api key (webhooks are managed by api keys
/// only); user and contact tokens get `FORBIDDEN`.
pub fn api_key_viewer(ctx: &Context<'_>) -> Result<Viewer, ApiError> {
    let viewer = viewer(ctx)?;
    match viewer.actor {
        Actor::ApiKey(_) => Ok(viewer),
        Actor::User(_) | Actor::Contact(_) => Err(ApiError::Forbidden),
    }
}

/// An api key managing webhooks, with the target policy the schema was built with.
pub struct WebhookManager {
    /// The api key's viewer.
    pub viewer: Viewer,
    /// Which addresses webhooks may target.
    pub policy: TargetPolicy,
}

/// The caller as a `WebhookManager` (api keys only, else `FORBIDDEN`).
pub fn webhook_manager(ctx: &Context<'_>) -> Result<WebhookManager, ApiError> {
    Ok(WebhookManager {
        viewer: api_key_viewer(ctx)?,
        policy: ctx.data_opt::<TargetPolicy>().copied().unwrap_or_default(),
    })
}

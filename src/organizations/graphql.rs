//! GraphQL types for organizations, users, api keys and the viewer.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, ID, Object};

use super::model::{self, ApiKey, Organization, User};
use crate::auth::{Actor, Viewer};
use crate::db::DbPool;
use crate::graphql::context::{self, loader};
use crate::graphql::errors::ApiError;

#[Object]
impl Organization {
    /// Opaque id (`org_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
}

/// An internal member of the organization: an agent, a recruiter.
#[Object]
impl User {
    /// Opaque id (`usr_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn email(&self) -> &str {
        &self.email
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
}

/// An organization-level credential. Its token is shown only when created.
#[Object]
impl ApiKey {
    /// Opaque id (`key_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.created_at
    }
}

/// The caller: its organization, and the user or api key it acts as.
#[Object(name = "Viewer")]
impl Viewer {
    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization, ApiError> {
        loader::<OrganizationLoader>(ctx)?
            .load_one(self.organization_id)
            .await?
            .ok_or(ApiError::Internal)
    }

    /// The user, when the token is a user token.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, ApiError> {
        match self.actor {
            Actor::User(id) => loader::<UserLoader>(ctx)?.load_one(id).await,
            Actor::ApiKey(_) => Ok(None),
        }
    }

    /// The api key, when the token is an api key.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>, ApiError> {
        match self.actor {
            Actor::ApiKey(id) => loader::<ApiKeyLoader>(ctx)?.load_one(id).await,
            Actor::User(_) => Ok(None),
        }
    }
}

/// `Query.viewer`.
#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the request's token acts as.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer, ApiError> {
        context::viewer(ctx)
    }
}

/// Organizations by internal id.
pub struct OrganizationLoader {
    pub pool: DbPool,
}

impl Loader<i64> for OrganizationLoader {
    type Value = Organization;
    type Error = ApiError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, Organization>, ApiError> {
        let mut conn = self.pool.get().await?;
        let rows = model::organizations_by_ids(&mut conn, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Users of the viewer's organization by internal id.
pub struct UserLoader {
    pub pool: DbPool,
    pub organization_id: i64,
}

impl Loader<i64> for UserLoader {
    type Value = User;
    type Error = ApiError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, User>, ApiError> {
        let mut conn = self.pool.get().await?;
        let rows = model::users_by_ids(&mut conn, self.organization_id, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

/// Api keys of the viewer's organization by internal id.
pub struct ApiKeyLoader {
    pub pool: DbPool,
    pub organization_id: i64,
}

impl Loader<i64> for ApiKeyLoader {
    type Value = ApiKey;
    type Error = ApiError;

    async fn load(&self, keys: &[i64]) -> Result<HashMap<i64, ApiKey>, ApiError> {
        let mut conn = self.pool.get().await?;
        let rows = model::api_keys_by_ids(&mut conn, self.organization_id, keys).await?;
        Ok(rows.into_iter().map(|row| (row.id, row)).collect())
    }
}

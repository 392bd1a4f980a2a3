//! GraphQL types for organizations, users, api keys and the viewer.
//! Read-only: tenants and credentials are created by the CLI.

use async_graphql::{Context, ID, Object};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{ApiKeyId, OrganizationId, UserId};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::contacts::Contact;
use crate::domain::organizations::model::{self, ApiKey, Organization, User};
use crate::graphql::context::{self, loader, may_see_details};
use crate::graphql::errors::ApiError;
use crate::graphql::loaders::{ByIds, fetch_by_ids};

/// Declares the `#[Object]` of a named record: `id` (its public id,
/// described by the doc attribute given), `name`, the extra fields given,
/// then `createdAt`.
macro_rules! named_object {
    ($(#[$meta:meta])* $ty:ident, #[$id_doc:meta] { $($fields:tt)* }) => {
        $(#[$meta])*
        #[Object]
        impl $ty {
            #[$id_doc]
            pub async fn id(&self) -> ID {
                ID(self.public_id.clone())
            }
            async fn name(&self) -> &str {
                &self.name
            }
            $($fields)*
            async fn created_at(&self) -> chrono::DateTime<chrono::Utc> {
                self.created_at
            }
        }
    };
}

named_object!(
    Organization,
    #[doc = "Opaque id (`org_…`)."]
    {}
);

named_object!(
    /// An internal member of the organization: an agent, a recruiter.
    User, #[doc = "Opaque id (`usr_…`)."] {
        /// Null for contact tokens: a chat widget sees staff by name only.
        async fn email(&self, ctx: &Context<'_>) -> Option<&str> {
            Some(self.email.as_str()).filter(|_| may_see_details(ctx, Actor::User(self.id)))
        }
    }
);

named_object!(
    /// An organization-level credential. Its token is shown only when created.
    ApiKey, #[doc = "Opaque id (`key_…`)."] {}
);

/// The caller: its organization, and the user, api key or contact it acts as.
#[Object(name = "Viewer")]
impl Viewer {
    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization, ApiError> {
        loader::<ByIds<Organization>>(ctx)?
            .load_one(self.organization_id)
            .await?
            .ok_or(ApiError::Internal)
    }

    /// The user, when the token is a user token.
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, ApiError> {
        match self.actor {
            Actor::User(id) => loader::<ByIds<User>>(ctx)?.load_one(id).await,
            Actor::ApiKey(_) | Actor::Contact(_) => Ok(None),
        }
    }

    /// The api key, when the token is an api key.
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>, ApiError> {
        match self.actor {
            Actor::ApiKey(id) => loader::<ByIds<ApiKey>>(ctx)?.load_one(id).await,
            Actor::User(_) | Actor::Contact(_) => Ok(None),
        }
    }

    /// The contact, when the token is a contact token.
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        match self.actor {
            Actor::Contact(id) => loader::<ByIds<Contact>>(ctx)?.load_one(id).await,
            Actor::User(_) | Actor::ApiKey(_) => Ok(None),
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

/// The caller's own organization, if `ids` holds it (never another).
async fn own_organization(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    ids: &[OrganizationId],
) -> QueryResult<Vec<Organization>> {
    let own: Vec<OrganizationId> = ids
        .iter()
        .copied()
        .filter(|id| *id == organization_id)
        .collect();
    model::organizations_by_ids(conn, &own).await
}

fetch_by_ids!(
    Organization: OrganizationId => own_organization,
    User: UserId => model::users_by_ids,
    ApiKey: ApiKeyId => model::api_keys_by_ids,
);

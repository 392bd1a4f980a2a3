//! The Relay `Node` interface: any object refetched by its id.

use async_graphql::{Context, ID, Interface, Object};

use super::context::{db, viewer};
use super::errors::ApiError;
use crate::contacts::{self, Contact};
use crate::ids::IdKind;
use crate::organizations::{self, ApiKey, Organization, User};

/// Most ids `nodes` takes at once.
const MAX_NODES: usize = 100;

/// An object with a globally addressable id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID", desc = "Opaque, type-prefixed id."))]
pub enum Node {
    Organization(Organization),
    User(User),
    ApiKey(ApiKey),
    Contact(Contact),
}

/// `Query.node` and `Query.nodes`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// The object with this id, or null when the caller cannot see one.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>, ApiError> {
        find_node(ctx, &id).await
    }

    /// The objects with these ids (at most 100), in order; null for each the
    /// caller cannot see.
    async fn nodes(&self, ctx: &Context<'_>, ids: Vec<ID>) -> Result<Vec<Option<Node>>, ApiError> {
        if ids.len() > MAX_NODES {
            return Err(ApiError::BadUserInput(format!(
                "at most {MAX_NODES} ids at once, got {}",
                ids.len()
            )));
        }
        let mut nodes = Vec::with_capacity(ids.len());
        for id in &ids {
            nodes.push(find_node(ctx, id).await?);
        }
        Ok(nodes)
    }
}

async fn find_node(ctx: &Context<'_>, id: &str) -> Result<Option<Node>, ApiError> {
    let viewer = viewer(ctx)?;
    let Some(kind) = IdKind::of(id) else {
        return Ok(None);
    };
    let org = viewer.organization_id;
    let mut conn = db(ctx).await?;
    let conn = &mut conn;
    Ok(match kind {
        IdKind::Organization => organizations::model::organizations_by_ids(conn, &[org])
            .await?
            .into_iter()
            .find(|o| o.public_id == id)
            .map(Node::Organization),
        IdKind::User => organizations::model::find_user(conn, org, id)
            .await?
            .map(Node::User),
        IdKind::ApiKey => organizations::model::find_api_key(conn, org, id)
            .await?
            .map(Node::ApiKey),
        IdKind::Contact => contacts::model::find(conn, org, id)
            .await?
            .map(Node::Contact),
    })
}

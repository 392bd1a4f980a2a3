//! The Relay `Node` interface: any object refetched by its id.
//! Public ids carry their kind in a prefix, so `node` knows which loader to ask.

use async_graphql::{Context, ID, Interface, Object};

use super::context::{db, viewer};
use super::errors::{ApiError, UserErrorCode};
use crate::db::ids::{IdKind, ThreadId};
use crate::domain::auth::Actor;
use crate::domain::channels::model::ChannelScope;
use crate::domain::channels::{self, Channel};
use crate::domain::contacts::Contact;
use crate::domain::conversations::{self, Conversation};
use crate::domain::messages::{self, Message};
use crate::domain::organizations::{self, ApiKey, Organization, User};
use crate::domain::threads::model::ThreadScope;
use crate::domain::threads::{self, Subscriber, Thread};
use crate::domain::webhooks::{self, Webhook, WebhookDelivery};
use crate::graphql::messages::ReactionGroup;

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
    Thread(Thread),
    Subscriber(Subscriber),
    Message(Message),
    Conversation(Conversation),
    Channel(Channel),
    ReactionGroup(ReactionGroup),
    Webhook(Webhook),
    WebhookDelivery(WebhookDelivery),
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
            return Err(ApiError::bad_input(
                UserErrorCode::TooManyIds,
                format!("at most {MAX_NODES} ids at once, got {}", ids.len()),
            ));
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
    let staff = !matches!(viewer.actor, Actor::Contact(_));
    let api_key = matches!(viewer.actor, Actor::ApiKey(_));
    let mut conn = db(ctx).await?;
    let conn = &mut conn;
    Ok(match kind {
        IdKind::Organization => organizations::model::organizations_by_ids(conn, &[org])
            .await?
            .into_iter()
            .find(|o| o.public_id == id)
            .map(Node::Organization),
        IdKind::User if staff => organizations::model::find_user(conn, org, id)
            .await?
            .map(Node::User),
        IdKind::ApiKey if staff => organizations::model::find_api_key(conn, org, id)
            .await?
            .map(Node::ApiKey),
        IdKind::Contact => super::contacts::find_visible(conn, &viewer, id)
            .await?
            .map(Node::Contact),
        IdKind::Thread => threads::model::find(conn, ThreadScope::of(&viewer), id)
            .await?
            .map(Node::Thread),
        IdKind::Subscriber => {
            let subscriber = threads::subscribers::find(conn, org, id).await?;
            match subscriber {
                Some(subscriber)
                    if staff || visible_thread(conn, &viewer, subscriber.thread_id).await? =>
                {
                    Some(Node::Subscriber(subscriber))
                }
                _ => None,
            }
        }
        IdKind::Message => match messages::model::find(conn, org, id).await? {
            Some(message) if message.conversation_id.is_some() && staff => {
                Some(Node::Message(message))
            }
            Some(message) if message.thread_id.is_some() => {
                super::messages::find_visible_thread_message(conn, &viewer, id)
                    .await?
                    .map(|(message, _)| Node::Message(message))
            }
            _ => None,
        },
        IdKind::Conversation if staff => conversations::model::find(conn, org, id)
            .await?
            .map(Node::Conversation),
        IdKind::Channel => channels::model::find(conn, ChannelScope::of(&viewer), id)
            .await?
            .map(Node::Channel),
        IdKind::ReactionGroup => super::messages::find_visible_reaction_group(conn, &viewer, id)
            .await?
            .map(Node::ReactionGroup),
        IdKind::Webhook if api_key => webhooks::model::find(conn, org, id)
            .await?
            .map(Node::Webhook),
        IdKind::WebhookDelivery if api_key => webhooks::model::find_delivery(conn, org, id)
            .await?
            .map(Node::WebhookDelivery),
        IdKind::User
        | IdKind::ApiKey
        | IdKind::Conversation
        | IdKind::Webhook
        | IdKind::WebhookDelivery => None,
    })
}

async fn visible_thread(
    conn: &mut diesel_async::AsyncPgConnection,
    viewer: &crate::domain::auth::Viewer,
    thread_id: ThreadId,
) -> Result<bool, ApiError> {
    Ok(match viewer.actor {
        Actor::Contact(contact) => {
            threads::subscribers::is_active_member(conn, thread_id, Actor::Contact(contact)).await?
        }
        Actor::User(_) | Actor::ApiKey(_) => true,
    })
}

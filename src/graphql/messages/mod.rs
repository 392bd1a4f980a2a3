//! GraphQL types and mutations for messages and reactions.
//! Resolvers decode and map; the message rules live in `domain::messages`.

mod mutations;

pub use mutations::MessagesMutation;

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::{Context, Enum, ID, InputObject, Object};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use crate::db::ids::{IdKind, MessageId, OrganizationId, SubscriberId};
use crate::domain::auth::Viewer;
use crate::domain::channels::Channel;
use crate::domain::conversations::Conversation;
use crate::domain::messages::model::{self, Container, Message};
use crate::domain::messages::service;
pub use crate::domain::messages::service::find_visible_thread_message;
use crate::domain::threads::Thread;
use crate::domain::threads::subscribers::Subscriber;
use crate::graphql::context::{loader, viewer};
use crate::graphql::errors::{ApiError, payload};
use crate::graphql::loaders::{
    ByIds, Children, FetchPages, Pages, fetch_children, load_by_id, page_of,
};
use crate::graphql::mutation::mutations;
use crate::graphql::pagination::{Cursor, PageRequest};

impl FetchPages for Message {
    type Parent = Container;

    async fn fetch(
        conn: &mut AsyncPgConnection,
        organization_id: OrganizationId,
        containers: &[Container],
        page: &PageRequest,
    ) -> QueryResult<Vec<(Container, Self)>> {
        model::page_per_container(conn, organization_id, containers, page).await
    }
}

/// How many messages `recentMessages` returns.
pub const RECENT_MESSAGES: usize = 150;

/// A page of a thread's, conversation's or channel's messages as a connection.
pub async fn message_page(
    ctx: &Context<'_>,
    container: Container,
    page: PageRequest,
) -> Result<Connection<Cursor, Message>, ApiError> {
    page_of(ctx, container, page, |m| container.key_of(m), EmptyFields).await
}

/// The newest `RECENT_MESSAGES` messages of a container, oldest first, and
/// whether older ones exist.
pub async fn recent_messages(
    ctx: &Context<'_>,
    container: Container,
) -> Result<(Vec<Message>, bool), ApiError> {
    let page = PageRequest::last(RECENT_MESSAGES);
    let mut rows = loader::<Pages<Message>>(ctx)?
        .load_one((container, page))
        .await?
        .unwrap_or_default();
    let has_more = rows.len() > RECENT_MESSAGES;
    rows.truncate(RECENT_MESSAGES);
    rows.reverse();
    Ok((rows, has_more))
}

/// The reactions with one emoji on one message, as loaded.
#[derive(Clone, Debug)]
pub struct EmojiReactions {
    emoji: String,
    subscriber_ids: Vec<SubscriberId>,
}

/// Reactions on a message with one emoji.
#[derive(Clone, Debug)]
pub struct ReactionGroup {
    message_public_id: String,
    emoji: String,
    subscriber_ids: Vec<SubscriberId>,
}

impl ReactionGroup {
    fn new(message_public_id: &str, reactions: EmojiReactions) -> Self {
        ReactionGroup {
            message_public_id: message_public_id.to_string(),
            emoji: reactions.emoji,
            subscriber_ids: reactions.subscriber_ids,
        }
    }

    /// The id of the group of `emoji` on a message: `rxn_` and the base64url
    /// of `<message id>:<emoji>`.
    pub fn public_id(message_public_id: &str, emoji: &str) -> String {
        format!(
            "{}_{}",
            IdKind::ReactionGroup.prefix(),
            URL_SAFE_NO_PAD.encode(format!("{message_public_id}:{emoji}"))
        )
    }

    /// The message id and emoji a reaction-group id names, if it is one.
    pub fn parse_id(id: &str) -> Option<(String, String)> {
        let encoded = id
            .strip_prefix(IdKind::ReactionGroup.prefix())?
            .strip_prefix('_')?;
        let decoded = String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).ok()?).ok()?;
        let (message_id, emoji) = decoded.split_once(':')?;
        (IdKind::of(message_id) == Some(IdKind::Message) && !emoji.is_empty())
            .then(|| (message_id.to_string(), emoji.to_string()))
    }
}

/// The reaction group with this id, as the viewer may see it (its message
/// must be visible and still have reactions with that emoji).
pub async fn find_visible_reaction_group(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    public_id: &str,
) -> QueryResult<Option<ReactionGroup>> {
    let Some((message_id, emoji)) = ReactionGroup::parse_id(public_id) else {
        return Ok(None);
    };
    let Some((message, _)) = find_visible_thread_message(conn, viewer, &message_id).await? else {
        return Ok(None);
    };
    let group = model::reaction_groups(conn, viewer.organization_id, &[message.id])
        .await?
        .into_iter()
        .find(|(_, group_emoji, _)| *group_emoji == emoji);
    Ok(group.map(|(_, emoji, subscriber_ids)| {
        ReactionGroup::new(
            &message.public_id,
            EmojiReactions {
                emoji,
                subscriber_ids,
            },
        )
    }))
}

fetch_children! {
    /// Reaction groups, by message id.
    ReactionsByMessage: MessageId => EmojiReactions = model::reaction_groups,
        |(message_id, emoji, subscriber_ids)| Some((message_id, EmojiReactions { emoji, subscriber_ids }));
}

#[Object]
impl ReactionGroup {
    /// Opaque, stable id of this emoji on this message (`rxn_…`, the
    /// base64url of `<message id>:<emoji>`), so client caches (Apollo,
    /// Relay) can normalize and merge `Message.reactions`. `node(id:)`
    /// refetches it while the message has reactions with that emoji.
    pub async fn id(&self) -> ID {
        ID(ReactionGroup::public_id(
            &self.message_public_id,
            &self.emoji,
        ))
    }
    async fn emoji(&self) -> &str {
        &self.emoji
    }
    async fn count(&self) -> usize {
        self.subscriber_ids.len()
    }
    /// Whether the caller is among those who reacted.
    async fn viewer_reacted(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        let viewer = viewer(ctx)?;
        let reacted = loader::<ByIds<Subscriber>>(ctx)?
            .load_many(self.subscriber_ids.iter().copied())
            .await?;
        Ok(reacted.values().any(|s| s.member() == Some(viewer.actor)))
    }
    /// Who reacted, in order.
    async fn subscribers(&self, ctx: &Context<'_>) -> Result<Vec<Subscriber>, ApiError> {
        let mut reacted = loader::<ByIds<Subscriber>>(ctx)?
            .load_many(self.subscriber_ids.iter().copied())
            .await?;
        Ok(self
            .subscriber_ids
            .iter()
            .filter_map(|id| reacted.remove(id))
            .collect())
    }
}

/// The kinds of message.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::messages::kind::MessageKind")]
pub enum MessageType {
    Text,
    /// Written by the system, e.g. when a subscriber joins or leaves.
    Meta,
    TrackingUpdate,
    PickupReminder,
}

/// One message, in a thread or in a conversation.
#[Object]
impl Message {
    /// Opaque id (`msg_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    async fn text(&self) -> &str {
        &self.body
    }
    #[graphql(name = "type")]
    async fn kind(&self) -> MessageType {
        self.kind.into()
    }
    /// A machine-readable event name (meta messages: `subscriber_joined`, `subscriber_left`).
    async fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }
    /// Who wrote it; null for system messages and conversation messages.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<Subscriber>, ApiError> {
        load_by_id(ctx, self.author_subscriber_id).await
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// When the author last edited it.
    async fn edited_at(&self) -> Option<DateTime<Utc>> {
        self.edited_at
    }
    async fn media_urls(&self) -> Vec<String> {
        self.media_url_list()
    }
    /// Reactions grouped by emoji, in order of first reaction.
    async fn reactions(&self, ctx: &Context<'_>) -> Result<Vec<ReactionGroup>, ApiError> {
        Ok(loader::<Children<ReactionsByMessage>>(ctx)?
            .load_one(self.id)
            .await?
            .unwrap_or_default()
            .into_iter()
            .map(|reactions| ReactionGroup::new(&self.public_id, reactions))
            .collect())
    }
    async fn resource_id(&self) -> Option<&str> {
        self.resource_id.as_deref()
    }
    /// The sender's idempotency key, if it gave one.
    async fn client_message_id(&self) -> Option<&str> {
        self.client_message_id.as_deref()
    }
    async fn thread(&self, ctx: &Context<'_>) -> Result<Option<Thread>, ApiError> {
        load_by_id(ctx, self.thread_id).await
    }
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<Conversation>, ApiError> {
        load_by_id(ctx, self.conversation_id).await
    }
    /// When it is (or was) to be published to its channel.
    async fn publish_to_channel_at(&self) -> Option<DateTime<Utc>> {
        self.publish_to_channel_at
    }
    /// When it was published to its channel; null while pending.
    async fn published_at(&self) -> Option<DateTime<Utc>> {
        self.published_at
    }
    /// The channel it is published (or scheduled) to.
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<Channel>, ApiError> {
        load_by_id(ctx, self.channel_id).await
    }
    /// Conversation messages: when it was written.
    async fn written_at(&self) -> Option<DateTime<Utc>> {
        self.written_at
    }
    /// Conversation messages: whether the organization wrote it (else the contact).
    async fn written_by_me(&self) -> Option<bool> {
        self.written_by_me
    }
}

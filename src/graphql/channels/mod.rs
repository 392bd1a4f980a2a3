//! GraphQL types, queries and mutations for channels and publishing.
//! Resolvers decode and map; the channel rules live in `domain::channels`.

mod mutations;

pub use mutations::ChannelsMutation;

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::db::ids::{ChannelId, ThreadId};
use crate::domain::auth::Actor;
use crate::domain::channels::model::{self, Channel, ChannelMember, ChannelScope};
use crate::domain::channels::service;
use crate::domain::contacts::Contact;
use crate::domain::messages::Message;
use crate::domain::messages::model::{self as messages, Container};
use crate::domain::organizations::{ApiKey, User};
use crate::domain::threads::Thread;
use crate::graphql::context::{db, loader, viewer};
use crate::graphql::errors::{ApiError, payload};
use crate::graphql::loaders::{ByIds, Children, fetch_by_ids, fetch_children, load_by_id};
use crate::graphql::messages::{message_page, recent_messages};
use crate::graphql::mutation::mutations;
use crate::graphql::pagination::{Cursor, PageRequest};
use crate::graphql::threads::{SubscriberKind, member_details};

fetch_by_ids!(Channel: ChannelId => model::by_ids);

fetch_children! {
    /// Channel members, by channel id.
    MembersByChannel: ChannelId => ChannelMember = model::members_of, |m| Some((m.channel_id, m));
    /// The ids of the threads publishing into channels, by channel id.
    PublishersByChannel: ChannelId => ThreadId = model::publishers_of, Some;
    /// Pending (scheduled) messages, by channel id.
    PendingByChannel: ChannelId => Message = messages::pending_in_channels, |m| Some((m.channel_id?, m));
}

/// A member of a channel's subscriber set.
#[derive(Clone)]
pub struct ChannelSubscriber {
    /// The channel's public id, for the subscriber's own id.
    channel: String,
    member: ChannelMember,
}

#[Object]
impl ChannelSubscriber {
    /// Opaque and stable (`chsub_…`): the channel and the member's place in
    /// its set, so client caches can normalise subscribers.
    async fn id(&self) -> ID {
        use base64::Engine;
        let key = format!("{}:{}", self.channel, self.member.position);
        ID(format!(
            "chsub_{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key)
        ))
    }
    async fn kind(&self) -> Option<SubscriberKind> {
        Some(match self.member.member()? {
            Actor::User(_) => SubscriberKind::User,
            Actor::ApiKey(_) => SubscriberKind::ApiKey,
            Actor::Contact(_) => SubscriberKind::Contact,
        })
    }
    async fn name(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(member_details(ctx, self.member.member())
            .await?
            .map(|d| d.name))
    }
    async fn email(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(member_details(ctx, self.member.member())
            .await?
            .and_then(|d| d.email))
    }
    async fn phone(&self, ctx: &Context<'_>) -> Result<Option<String>, ApiError> {
        Ok(member_details(ctx, self.member.member())
            .await?
            .and_then(|d| d.phone))
    }
    async fn user(&self, ctx: &Context<'_>) -> Result<Option<User>, ApiError> {
        load_by_id(ctx, self.member.user_id).await
    }
    async fn api_key(&self, ctx: &Context<'_>) -> Result<Option<ApiKey>, ApiError> {
        load_by_id(ctx, self.member.api_key_id).await
    }
    async fn contact(&self, ctx: &Context<'_>) -> Result<Option<Contact>, ApiError> {
        load_by_id(ctx, self.member.contact_id).await
    }
}

async fn members(ctx: &Context<'_>, channel_id: ChannelId) -> Result<Vec<ChannelMember>, ApiError> {
    Ok(loader::<Children<MembersByChannel>>(ctx)?
        .load_one(channel_id)
        .await?
        .unwrap_or_default())
}

/// A space for one exact set of subscribers; threads publish into it.
#[Object]
impl Channel {
    /// Opaque id (`chan_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    /// By default the names of its subscribers.
    async fn name(&self) -> &str {
        &self.name
    }
    /// SHA-256 (hex) of the sorted subscriber ids: one channel per distinct set.
    async fn subscriber_hash(&self) -> &str {
        &self.subscriber_hash
    }
    async fn subscribers(&self, ctx: &Context<'_>) -> Result<Vec<ChannelSubscriber>, ApiError> {
        Ok(members(ctx, self.id)
            .await?
            .into_iter()
            .map(|member| ChannelSubscriber {
                channel: self.public_id.clone(),
                member,
            })
            .collect())
    }
    /// SHA-256 (hex) of each subscriber's E.164 phone, for matching without revealing it.
    async fn phone_hashes(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        let mut hashes = Vec::new();
        for member in members(ctx, self.id).await? {
            if let Some(phone) = member_details(ctx, member.member())
                .await?
                .and_then(|d| d.phone)
            {
                let digest = Sha256::digest(phone.as_bytes());
                hashes.push(digest.iter().map(|b| format!("{b:02x}")).collect());
            }
        }
        Ok(hashes)
    }
    /// The resources (or, without one, the threads) whose threads publish here.
    async fn publisher_ids(&self, ctx: &Context<'_>) -> Result<Vec<String>, ApiError> {
        let thread_ids = loader::<Children<PublishersByChannel>>(ctx)?
            .load_one(self.id)
            .await?
            .unwrap_or_default();
        let mut threads = loader::<ByIds<Thread>>(ctx)?
            .load_many(thread_ids.iter().copied())
            .await?;
        Ok(thread_ids
            .iter()
            .filter_map(|id| threads.remove(id))
            .map(|t| t.resource_id.unwrap_or(t.public_id))
            .collect())
    }
    /// Published messages, in publishing order.
    async fn messages(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Message>, ApiError> {
        let page = PageRequest::new(first, after, last, before)?;
        message_page(ctx, Container::Channel(self.id), page).await
    }
    /// The newest 150 published messages, oldest first.
    async fn recent_messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>, ApiError> {
        Ok(recent_messages(ctx, Container::Channel(self.id)).await?.0)
    }
    /// Whether there are published messages older than `recentMessages`.
    async fn has_more(&self, ctx: &Context<'_>) -> Result<bool, ApiError> {
        Ok(recent_messages(ctx, Container::Channel(self.id)).await?.1)
    }
    /// Messages scheduled for later, earliest first.
    async fn pending_messages(&self, ctx: &Context<'_>) -> Result<Vec<Message>, ApiError> {
        Ok(loader::<Children<PendingByChannel>>(ctx)?
            .load_one(self.id)
            .await?
            .unwrap_or_default())
    }
    /// When the earliest pending message goes out.
    async fn scheduled_publish_at(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<DateTime<Utc>>, ApiError> {
        let pending = loader::<Children<PendingByChannel>>(ctx)?
            .load_one(self.id)
            .await?
            .unwrap_or_default();
        Ok(pending.iter().filter_map(|m| m.publish_to_channel_at).min())
    }
    async fn last_message_at(&self) -> Option<DateTime<Utc>> {
        self.last_message_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// Extra fields of `ChannelConnection`.
pub struct ChannelConnectionFields {
    scope: ChannelScope,
}

#[Object]
impl ChannelConnectionFields {
    /// How many channels the caller can see.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.scope).await?)
    }
}

/// `Query.channels` and `Query.channel`.
#[derive(Default)]
pub struct ChannelsQuery;

#[Object]
impl ChannelsQuery {
    /// The channels the caller can see, newest first.
    async fn channels(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Channel, ChannelConnectionFields>, ApiError> {
        let viewer = viewer(ctx)?;
        let scope = ChannelScope::of(&viewer);
        let page = PageRequest::new(first, after, last, before)?;
        let mut conn = db(ctx).await?;
        let rows = model::page(&mut conn, scope, &page).await?;
        Ok(page.into_connection(rows, |c| c.id, ChannelConnectionFields { scope }))
    }

    /// One channel; null when the caller cannot see one with this id.
    async fn channel(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Channel>, ApiError> {
        let viewer = viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, ChannelScope::of(&viewer), &id).await?)
    }
}

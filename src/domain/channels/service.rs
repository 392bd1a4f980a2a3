//! Publishing a thread message to a channel: finding or creating the channel
//! of a subscriber set, then sending the message now or scheduling it.

use chrono::{DateTime, Utc};
use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::model::{self, Channel, ChannelScope, SetMember};
use super::publishing;
use crate::db::ids::OrganizationId;
use crate::domain::auth::{Actor, Viewer};
use crate::domain::errors::{Code, DomainError, DomainResult, Violation};
use crate::domain::messages::Message;
use crate::domain::messages::model as messages;
use crate::domain::messages::service::locked_message;
use crate::domain::threads::{Thread, members, subscribers};
use crate::domain::tx::Tx;

/// How far in the past a new schedule may lie (clock skew), in seconds.
const PAST_TOLERANCE_SECONDS: i64 = 1;

/// Where a message is published.
#[derive(Debug)]
pub enum Target {
    /// The channel of the thread's active subscribers.
    ThreadSubscribers,
    /// The channel of exactly these members (public ids).
    Members(Vec<String>),
    /// An existing channel (public id).
    Channel(String),
}

/// What `publish` is asked: ids are public ids.
#[derive(Debug, Default)]
pub struct PublishMessage {
    /// A thread message.
    pub message_id: String,
    /// When to publish; `None` means now.
    pub at: Option<DateTime<Utc>>,
    /// Publish into this channel ...
    pub channel_id: Option<String>,
    /// ... or into the channel of exactly these members. With neither, the
    /// channel of the thread's subscribers.
    pub member_ids: Option<Vec<String>>,
}

/// Publishes a visible thread message (now or later) into the channel the
/// request names; returns the message and that channel.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %request.message_id, scheduled = request.at.is_some()))]
pub async fn publish(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: PublishMessage,
) -> DomainResult<(Message, Option<Channel>)> {
    let target = match (request.channel_id, request.member_ids) {
        (Some(_), Some(_)) => {
            return Err(DomainError::on_input(
                "channelId",
                Code::InvalidValue,
                "give channelId or memberIds, not both",
            ));
        }
        (Some(channel), None) => Target::Channel(channel),
        (None, Some(members)) => Target::Members(members),
        (None, None) => Target::ThreadSubscribers,
    };
    let (message, thread) = locked_message(tx, viewer, "messageId", &request.message_id).await?;
    let message = publish_message(tx, viewer, &message, &thread, target, request.at).await?;
    let channel = match message.channel_id {
        Some(id) => model::by_ids(tx, viewer.organization_id, &[id])
            .await?
            .pop(),
        None => None,
    };
    Ok((message, channel))
}

/// Takes a scheduled message off its channel before it goes out.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %message_id))]
pub async fn cancel_publish(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    message_id: &str,
) -> DomainResult<Message> {
    let (message, _) = locked_message(tx, viewer, "messageId", message_id).await?;
    // Locked by the scheduler means it is going out right now.
    if !messages::unschedule(tx, message.id).await? {
        return Err(DomainError::on_input(
            "messageId",
            Code::NotPending,
            "the message is not waiting to be published",
        ));
    }
    let message = messages::by_ids(tx, viewer.organization_id, &[message.id])
        .await?
        .pop();
    // The row was just updated in this transaction: missing is a database fault.
    message.ok_or(DomainError::Database(diesel::result::Error::NotFound))
}

/// Publishes a thread message to a channel now (`at` = None) or schedules
/// it, finding or creating the channel. Runs in the caller's transaction.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, message = %message.public_id, scheduled = at.is_some()))]
pub async fn publish_message(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    message: &Message,
    thread: &Thread,
    target: Target,
    at: Option<DateTime<Utc>>,
) -> DomainResult<Message> {
    if message.published_at.is_some() {
        return Err(DomainError::on_input(
            "messageId",
            Code::InvalidValue,
            "the message is already published",
        ));
    }
    if let Some(at) = at
        && at < Utc::now() - chrono::Duration::seconds(PAST_TOLERANCE_SECONDS)
    {
        return Err(DomainError::on_input(
            "publishToChannelAt",
            Code::PublishTimeInPast,
            "the publish time is in the past",
        ));
    }
    let org = viewer.organization_id;
    let channel = match target {
        Target::Channel(id) => model::find(tx, ChannelScope::of(viewer), &id)
            .await?
            .ok_or_else(|| DomainError::not_found("channelId", &id))?,
        Target::Members(ids) => {
            let mut set = Vec::with_capacity(ids.len());
            for (index, id) in ids.iter().enumerate() {
                match members::find_member(tx, org, id).await? {
                    Some((actor, name)) => set.push(SetMember {
                        actor,
                        public_id: id.to_string(),
                        name,
                    }),
                    None => {
                        return Err(DomainError::Rejected(vec![Violation::on_item(
                            "memberIds",
                            index,
                            Code::NotFound,
                            format!("no user, api key or contact with id {:?}", id.as_str()),
                        )]));
                    }
                }
            }
            channel_for(tx, org, &set).await?
        }
        Target::ThreadSubscribers => {
            let set = thread_members(tx, thread).await?;
            channel_for(tx, org, &set).await?
        }
    };
    model::add_publisher(tx, org, channel.id, thread.id).await?;
    let scheduled =
        messages::schedule(tx, message.id, channel.id, at.unwrap_or_else(Utc::now)).await?;
    if at.is_some() {
        return Ok(scheduled);
    }
    Ok(publishing::publish(tx, &scheduled).await?)
}

async fn channel_for(
    conn: &mut AsyncPgConnection,
    org: OrganizationId,
    set: &[SetMember],
) -> DomainResult<Channel> {
    if set.is_empty() {
        return Err(DomainError::on_input(
            "memberIds",
            Code::EmptySubscriberSet,
            "a channel needs at least one subscriber",
        ));
    }
    Ok(model::find_or_create(conn, org, set).await?)
}

/// The thread's active subscribers as a subscriber set.
async fn thread_members(
    conn: &mut AsyncPgConnection,
    thread: &Thread,
) -> QueryResult<Vec<SetMember>> {
    let org = thread.organization_id;
    let active: Vec<Actor> = subscribers::of_threads(conn, org, &[thread.id])
        .await?
        .iter()
        .filter(|s| !s.is_archived)
        .filter_map(|s| s.member())
        .collect();
    let described = members::describe_members(conn, org, &active).await?;
    Ok(described
        .into_iter()
        .map(|(actor, public_id, name)| SetMember {
            actor,
            public_id,
            name,
        })
        .collect())
}

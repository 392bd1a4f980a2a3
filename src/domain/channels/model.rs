//! Database access for channels, their members and publishers.
//! Rows and queries only; the rules of publishing live in `service.rs` and `publishing.rs`.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use sha2::{Digest, Sha256};

use crate::db::ids::{ApiKeyId, ChannelId, ContactId, IdKind, OrganizationId, ThreadId, UserId};
use crate::db::page::{PageRequest, SortOrder, keyset};
use crate::db::schema::{channel_members, channel_publishers, channels};
use crate::domain::auth::Actor;

/// Channels list newest first.
pub const ORDER: SortOrder = SortOrder::Descending;

/// A space for one exact set of subscribers that threads publish into.
#[derive(
    Queryable, Selectable, Identifiable, Clone, Debug, serde::Serialize, serde::Deserialize,
)]
#[diesel(table_name = channels)]
pub struct Channel {
    pub id: ChannelId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub name: String,
    pub subscriber_hash: String,
    pub last_message_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One member of a channel's subscriber set.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = channel_members)]
pub struct ChannelMember {
    pub organization_id: OrganizationId,
    pub channel_id: ChannelId,
    pub position: i32,
    pub user_id: Option<UserId>,
    pub api_key_id: Option<ApiKeyId>,
    pub contact_id: Option<ContactId>,
}

impl ChannelMember {
    /// Who the member is.
    pub fn member(&self) -> Option<Actor> {
        Actor::from_columns(self.user_id, self.api_key_id, self.contact_id)
    }
}

#[derive(Insertable)]
#[diesel(table_name = channels)]
struct NewChannel<'a> {
    organization_id: OrganizationId,
    public_id: String,
    name: &'a str,
    subscriber_hash: &'a str,
}

#[derive(Insertable)]
#[diesel(table_name = channel_members)]
struct NewChannelMember {
    organization_id: OrganizationId,
    channel_id: ChannelId,
    position: i32,
    user_id: Option<UserId>,
    api_key_id: Option<ApiKeyId>,
    contact_id: Option<ContactId>,
}

/// A member of a subscriber set: who, its public id and display name.
#[derive(Clone, Debug)]
pub struct SetMember {
    pub actor: Actor,
    pub public_id: String,
    pub name: String,
}

/// The hash that names a subscriber set: SHA-256 of the sorted public ids.
pub fn subscriber_hash(members: &[SetMember]) -> String {
    let mut ids: Vec<&str> = members.iter().map(|m| m.public_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let digest = Sha256::digest(ids.join(",").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The organization's one channel for this set of members, created (with
/// its members) if it does not exist. Race-free: the unique hash decides.
pub async fn find_or_create(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    members: &[SetMember],
) -> QueryResult<Channel> {
    let hash = subscriber_hash(members);
    let mut sorted: Vec<&SetMember> = members.iter().collect();
    sorted.sort_by(|a, b| a.public_id.cmp(&b.public_id));
    sorted.dedup_by(|a, b| a.public_id == b.public_id);
    let mut names: Vec<&str> = sorted.iter().map(|m| m.name.as_str()).collect();
    names.sort_unstable();
    let name = names.join(", ");

    let inserted = diesel::insert_into(channels::table)
        .values(NewChannel {
            organization_id,
            public_id: IdKind::Channel.generate(),
            name: &name,
            subscriber_hash: &hash,
        })
        .on_conflict((channels::organization_id, channels::subscriber_hash))
        .do_nothing()
        .returning(Channel::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    let Some(channel) = inserted else {
        return channels::table
            .filter(channels::organization_id.eq(organization_id))
            .filter(channels::subscriber_hash.eq(&hash))
            .select(Channel::as_select())
            .first(conn)
            .await;
    };
    let rows: Vec<NewChannelMember> = sorted
        .iter()
        .enumerate()
        .map(|(position, member)| {
            let (user_id, api_key_id, contact_id) = member.actor.columns();
            NewChannelMember {
                organization_id,
                channel_id: channel.id,
                position: position as i32,
                user_id,
                api_key_id,
                contact_id,
            }
        })
        .collect();
    diesel::insert_into(channel_members::table)
        .values(&rows)
        .execute(conn)
        .await?;
    Ok(channel)
}

/// Records that a thread publishes into a channel.
pub async fn add_publisher(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    channel_id: ChannelId,
    thread_id: ThreadId,
) -> QueryResult<()> {
    diesel::insert_into(channel_publishers::table)
        .values((
            channel_publishers::organization_id.eq(organization_id),
            channel_publishers::channel_id.eq(channel_id),
            channel_publishers::thread_id.eq(thread_id),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(())
}

/// Which channels a caller may see: all of the organization's, or for a
/// contact those it is a member of.
#[derive(Clone, Copy, Debug)]
pub struct ChannelScope {
    pub organization_id: OrganizationId,
    pub only_contact: Option<ContactId>,
}

impl ChannelScope {
    /// The scope of a caller.
    pub fn of(viewer: &crate::domain::auth::Viewer) -> Self {
        ChannelScope {
            organization_id: viewer.organization_id,
            only_contact: match viewer.actor {
                Actor::Contact(id) => Some(id),
                Actor::User(_) | Actor::ApiKey(_) => None,
            },
        }
    }

    fn visible(self) -> channels::BoxedQuery<'static, Pg> {
        let mut query = channels::table
            .filter(channels::organization_id.eq(self.organization_id))
            .into_boxed();
        if let Some(contact_id) = self.only_contact {
            query = query.filter(
                channels::id.eq_any(
                    channel_members::table
                        .filter(channel_members::organization_id.eq(self.organization_id))
                        .filter(channel_members::contact_id.eq(contact_id))
                        .select(channel_members::channel_id),
                ),
            );
        }
        query
    }
}

/// The visible channel with this public id.
pub async fn find(
    conn: &mut AsyncPgConnection,
    scope: ChannelScope,
    public_id: &str,
) -> QueryResult<Option<Channel>> {
    scope
        .visible()
        .filter(channels::public_id.eq(public_id.to_string()))
        .select(Channel::as_select())
        .first(conn)
        .await
        .optional()
}

crate::tenant_rows!(channels => Channel, id ChannelId { by_ids });

/// One page of the visible channels, newest first.
pub async fn page(
    conn: &mut AsyncPgConnection,
    scope: ChannelScope,
    page: &PageRequest,
) -> QueryResult<Vec<Channel>> {
    let query = scope.visible().select(Channel::as_select());
    keyset(query, channels::id, &page.scan(ORDER))
        .load(conn)
        .await
}

/// How many channels the caller can see.
pub async fn count(conn: &mut AsyncPgConnection, scope: ChannelScope) -> QueryResult<i64> {
    scope.visible().count().get_result(conn).await
}

/// Members of these channels, in order.
pub async fn members_of(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    channel_ids: &[ChannelId],
) -> QueryResult<Vec<ChannelMember>> {
    channel_members::table
        .filter(channel_members::organization_id.eq(organization_id))
        .filter(channel_members::channel_id.eq_any(channel_ids))
        .order((channel_members::channel_id, channel_members::position))
        .select(ChannelMember::as_select())
        .load(conn)
        .await
}

/// (channel id, thread id) of the threads publishing into these channels.
pub async fn publishers_of(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    channel_ids: &[ChannelId],
) -> QueryResult<Vec<(ChannelId, ThreadId)>> {
    channel_publishers::table
        .filter(channel_publishers::organization_id.eq(organization_id))
        .filter(channel_publishers::channel_id.eq_any(channel_ids))
        .order(channel_publishers::created_at.asc())
        .select((
            channel_publishers::channel_id,
            channel_publishers::thread_id,
        ))
        .load(conn)
        .await
}

/// Records a published message: `updated_at` and `last_message_at`.
pub async fn touch(conn: &mut AsyncPgConnection, id: ChannelId) -> QueryResult<Channel> {
    diesel::update(channels::table.find(id))
        .set((
            channels::updated_at.eq(diesel::dsl::now),
            channels::last_message_at.eq(diesel::dsl::now),
        ))
        .returning(Channel::as_returning())
        .get_result(conn)
        .await
}

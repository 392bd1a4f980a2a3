//! Membership of threads: finding members by public id, naming them, and
//! joining them to a thread with the join recorded as an event and a meta message.

use diesel::QueryResult;
use diesel_async::AsyncPgConnection;

use super::Thread;
use super::subscribers::{self, Subscriber};
use crate::db::ids::{IdKind, OrganizationId};
use crate::domain::auth::Actor;
use crate::domain::contacts;
use crate::domain::events::{EventKind, EventPayload, NewEvent};
use crate::domain::messages::Message;
use crate::domain::messages::model::{NewMessage, Owner};
use crate::domain::tx::Tx;

/// A user, api key or contact of the organization, by public id, with its
/// display name.
pub async fn find_member(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    public_id: &str,
) -> QueryResult<Option<(Actor, String)>> {
    use crate::domain::organizations::model as orgs;
    Ok(match IdKind::of(public_id) {
        Some(IdKind::User) => orgs::find_user(conn, organization_id, public_id)
            .await?
            .map(|u| (Actor::User(u.id), u.name)),
        Some(IdKind::ApiKey) => orgs::find_api_key(conn, organization_id, public_id)
            .await?
            .map(|k| (Actor::ApiKey(k.id), k.name)),
        Some(IdKind::Contact) => contacts::model::find(conn, organization_id, public_id)
            .await?
            .map(|c| (Actor::Contact(c.id), c.display_name())),
        _ => None,
    })
}

/// A member's public id and display name, in the order given; members that
/// no longer exist are left out. At most one query per kind of member.
pub async fn describe_members(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    members: &[Actor],
) -> QueryResult<Vec<(Actor, String, String)>> {
    use crate::domain::organizations::model as orgs;
    let (mut users, mut keys, mut contacts) = (Vec::new(), Vec::new(), Vec::new());
    for member in members {
        match *member {
            Actor::User(id) => users.push(id),
            Actor::ApiKey(id) => keys.push(id),
            Actor::Contact(id) => contacts.push(id),
        }
    }
    let mut described = std::collections::HashMap::new();
    if !users.is_empty() {
        for u in orgs::users_by_ids(conn, organization_id, &users).await? {
            described.insert(Actor::User(u.id), (u.public_id, u.name));
        }
    }
    if !keys.is_empty() {
        for k in orgs::api_keys_by_ids(conn, organization_id, &keys).await? {
            described.insert(Actor::ApiKey(k.id), (k.public_id, k.name));
        }
    }
    if !contacts.is_empty() {
        for c in contacts::model::by_ids(conn, organization_id, &contacts).await? {
            let name = c.display_name();
            described.insert(Actor::Contact(c.id), (c.public_id, name));
        }
    }
    Ok(members
        .iter()
        .filter_map(|m| {
            described
                .remove(m)
                .map(|(public_id, name)| (*m, public_id, name))
        })
        .collect())
}

/// The display name of a member, for meta messages.
pub async fn member_name(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    member: Actor,
) -> QueryResult<String> {
    let described = describe_members(conn, organization_id, &[member]).await?;
    Ok(described
        .into_iter()
        .next()
        .map_or_else(|| "someone".to_string(), |(_, _, name)| name))
}

/// Records an event about a thread, appended when `tx` commits.
pub fn record(tx: &mut Tx<'_>, thread: &Thread, kind: EventKind, payload: EventPayload) {
    tx.record(
        thread.organization_id,
        NewEvent::thread(kind, thread, payload),
    );
}

/// Records a join or a leave: the event, and a meta message (with its own event).
pub async fn record_membership(
    tx: &mut Tx<'_>,
    thread: &Thread,
    subscriber: &Subscriber,
    name: &str,
    kind: EventKind,
) -> QueryResult<Message> {
    let (verb, event) = match kind {
        EventKind::SubscriberJoined => ("joined", "subscriber_joined"),
        _ => ("left", "subscriber_left"),
    };
    let mut meta = NewMessage::new(
        thread.organization_id,
        Owner::Thread(thread.id),
        crate::domain::messages::kind::MessageKind::Meta,
        format!("{name} {verb}"),
    );
    meta.event = Some(event.to_string());
    let message = crate::domain::messages::model::insert(tx, &meta).await?;
    let membership = EventPayload::with_subscriber(subscriber);
    record(tx, thread, kind, membership);
    let added = EventPayload::with_message(&message);
    record(tx, thread, EventKind::MessageAdded, added);
    Ok(message)
}

/// Subscribes a member to a locked thread, recording the join when it is
/// new. Without a `name`, the member's is looked up, only if it joins.
pub async fn join_thread(
    tx: &mut Tx<'_>,
    thread: &Thread,
    member: Actor,
    name: Option<&str>,
) -> QueryResult<Subscriber> {
    let (subscriber, joined) =
        subscribers::join(tx, thread.organization_id, thread.id, member).await?;
    if joined {
        let name = match name {
            Some(name) => name.to_string(),
            None => member_name(tx, thread.organization_id, member).await?,
        };
        record_membership(tx, thread, &subscriber, &name, EventKind::SubscriberJoined).await?;
    }
    Ok(subscriber)
}

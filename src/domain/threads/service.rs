//! The thread operations: create, update, delete, subscribe and unsubscribe
//! members, mark read or unread. Each runs in the caller's `Tx` and keeps the rules.

use diesel_async::AsyncPgConnection;

use super::members::{find_member, join_thread, record, record_membership};
use super::model::{self, NewThread, Thread, ThreadChanges, ThreadScope};
use super::subscribers::{self, Subscriber};
use crate::db::ids::{ContactId, IdKind, OrganizationId};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::channel_kind::ChannelKind;
use crate::domain::contacts;
use crate::domain::errors::{
    Change, Code, DomainError, DomainResult, Violation, Violations, is_unique_violation,
};
use crate::domain::events::{self, EventKind, EventPayload, NewEvent};
use crate::domain::tx::Tx;
use crate::domain::validation::{MAX_SHORT_TEXT, normalize_e164};

/// Most subscribers added or removed at once.
pub const MAX_SUBSCRIBER_CHANGES: usize = 100;

/// What `create_thread` is asked: ids are public ids.
#[derive(Debug, Default)]
pub struct CreateThread {
    /// Make the thread about this resource: its id becomes `thrd_<resourceId>`.
    pub resource_id: Option<String>,
    /// The thread's name.
    pub name: Option<String>,
    /// The thread's subject.
    pub subject: Option<String>,
    /// Who first wrote.
    pub original_sender: Option<String>,
    /// The channel the thread runs on.
    pub channel: Option<ChannelKind>,
    /// The address on the channel.
    pub identifier: Option<String>,
    /// Whether the chatbot is paused (default false).
    pub chatbot_paused: Option<bool>,
    /// Whether the thread is resolved (default false).
    pub is_resolved: Option<bool>,
    /// A free location id.
    pub location_id: Option<String>,
    /// The contact the thread is with.
    pub contact_id: Option<String>,
    /// Users, api keys or contacts to subscribe.
    pub member_ids: Vec<String>,
}

/// What `update_thread` is asked: `Keep` leaves a field, `Clear` clears it.
#[derive(Debug, Default)]
pub struct UpdateThread {
    /// The thread's public id.
    pub id: String,
    /// The new name.
    pub name: Change<String>,
    /// The new subject.
    pub subject: Change<String>,
    /// The new channel.
    pub channel: Change<ChannelKind>,
    /// The new identifier.
    pub identifier: Change<String>,
    /// Pause or resume the chatbot.
    pub chatbot_paused: Option<bool>,
    /// Resolve or reopen.
    pub is_resolved: Option<bool>,
    /// The new location id.
    pub location_id: Change<String>,
    /// Link a contact (only while none is linked).
    pub contact_id: Change<String>,
}

/// Validates an identifier for a channel: E.164 on phone channels, an
/// email address on email, else any short text.
pub fn check_identifier(
    violations: &mut Violations,
    channel: ChannelKind,
    identifier: &str,
) -> Option<String> {
    if channel.uses_phone_numbers() {
        let phone = normalize_e164(identifier);
        if phone.is_none() {
            violations.push(
                "identifier",
                Code::InvalidPhone,
                format!(
                    "on {} the identifier must be a valid phone number with its country code (E.164), e.g. +14155550100; got {identifier:?}",
                    channel.as_str()
                ),
            );
        }
        phone
    } else if channel == ChannelKind::Email {
        violations.optional_email("identifier", Some(identifier))
    } else {
        violations.required_text("identifier", identifier, MAX_SHORT_TEXT)
    }
}

/// The channel/identifier pair a thread ends up with, validated.
fn check_channel_identifier(
    violations: &mut Violations,
    channel: Option<ChannelKind>,
    identifier: Option<&str>,
) -> Option<String> {
    let identifier = identifier.filter(|i| !i.trim().is_empty())?;
    match channel {
        Some(channel) => check_identifier(violations, channel, identifier),
        None => {
            violations.push("channel", Code::Required, "an identifier needs a channel");
            None
        }
    }
}

/// The contact change an update makes: the link is set once and then
/// immutable, so clearing it or pointing it elsewhere is `CONTACT_IMMUTABLE`.
async fn check_contact_link(
    conn: &mut AsyncPgConnection,
    violations: &mut Violations,
    thread: &Thread,
    contact_id: &Change<String>,
) -> DomainResult<Option<Option<ContactId>>> {
    let immutable = |violations: &mut Violations| {
        violations.push(
            "contactId",
            Code::ContactImmutable,
            "the thread's contact is already set and cannot change or be cleared",
        );
    };
    match contact_id {
        Change::Keep => Ok(None),
        Change::Clear => {
            if thread.contact_id.is_some() {
                immutable(violations);
            }
            Ok(None)
        }
        Change::Set(contact_id) => {
            match contacts::model::find(conn, thread.organization_id, contact_id).await? {
                None => violations.push_violation(Violation::not_found("contactId", contact_id)),
                Some(contact) if thread.contact_id.is_some_and(|linked| linked != contact.id) => {
                    immutable(violations)
                }
                Some(contact) => return Ok(Some(Some(contact.id))),
            }
            Ok(None)
        }
    }
}

/// Maps the unique violations a thread write can hit to rejections.
fn thread_write_error(error: diesel::result::Error) -> DomainError {
    if is_unique_violation(&error, "threads_channel_identifier_unique") {
        DomainError::on_input(
            "identifier",
            Code::Duplicate,
            "another thread of the organization has this channel and identifier",
        )
    } else if is_unique_violation(&error, "threads_resource_unique") {
        DomainError::on_input(
            "resourceId",
            Code::Duplicate,
            "a thread about this resource exists",
        )
    } else {
        error.into()
    }
}

/// Resolves member ids, recording `NOT_FOUND` for each unknown one.
async fn find_members(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    field: &str,
    ids: &[String],
    violations: &mut Violations,
) -> DomainResult<Vec<(Actor, String)>> {
    let mut members = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        match find_member(conn, organization_id, id).await? {
            Some(member) => members.push(member),
            None => violations.push_violation(Violation::on_item(
                field,
                index,
                Code::NotFound,
                format!("no user, api key or contact with id {:?}", id.as_str()),
            )),
        }
    }
    Ok(members)
}

/// Creates a thread with its first members, or returns the existing thread
/// about `resource_id`; the second value is whether it was created.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id))]
pub async fn create_thread(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: CreateThread,
) -> DomainResult<(Thread, bool)> {
    let org = viewer.organization_id;
    let mut violations = Violations::default();
    let resource_id =
        violations.optional_text("resourceId", request.resource_id.as_deref(), MAX_SHORT_TEXT);
    let mut new = NewThread {
        organization_id: org,
        public_id: match &resource_id {
            Some(resource) => format!("{}_{resource}", IdKind::Thread.prefix()),
            None => IdKind::Thread.generate(),
        },
        name: violations.optional_text("name", request.name.as_deref(), MAX_SHORT_TEXT),
        subject: violations.optional_text("subject", request.subject.as_deref(), MAX_SHORT_TEXT),
        original_sender: violations.optional_text(
            "originalSender",
            request.original_sender.as_deref(),
            MAX_SHORT_TEXT,
        ),
        channel: request.channel,
        identifier: check_channel_identifier(
            &mut violations,
            request.channel,
            request.identifier.as_deref(),
        ),
        chatbot_paused: request.chatbot_paused.unwrap_or(false),
        is_resolved: request.is_resolved.unwrap_or(false),
        resource_id: resource_id.clone(),
        location_id: violations.optional_text(
            "locationId",
            request.location_id.as_deref(),
            MAX_SHORT_TEXT,
        ),
        contact_id: None,
    };
    if let Some(contact_id) = &request.contact_id {
        match contacts::model::find(tx, org, contact_id).await? {
            Some(contact) => new.contact_id = Some(contact.id),
            None => violations.push_violation(Violation::not_found("contactId", contact_id)),
        }
    }
    let members = find_members(tx, org, "memberIds", &request.member_ids, &mut violations).await?;
    violations.finish()?;

    let (thread, created) = if resource_id.is_some() {
        model::insert_or_get(tx, &new)
            .await
            .map_err(thread_write_error)?
    } else {
        (
            model::insert(tx, &new).await.map_err(thread_write_error)?,
            true,
        )
    };
    if !created {
        if thread.resource_id != resource_id {
            return Err(DomainError::on_input(
                "resourceId",
                Code::Duplicate,
                "another thread already has this id",
            ));
        }
        return Ok((thread, false));
    }
    let payload = EventPayload::with_thread(&thread);
    record(tx, &thread, EventKind::ThreadCreated, payload);
    for (member, name) in members {
        join_thread(tx, &thread, member, Some(&name)).await?;
    }
    Ok((thread, true))
}

/// Changes a thread. The contact can be set only while it is unset.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %request.id))]
pub async fn update_thread(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    request: UpdateThread,
) -> DomainResult<Thread> {
    let thread = model::find_for_update(tx, ThreadScope::of(viewer), &request.id)
        .await?
        .ok_or_else(|| DomainError::not_found("id", &request.id))?;
    let mut violations = Violations::default();
    let mut changes = ThreadChanges {
        name: request
            .name
            .into_column(|v| violations.optional_text("name", Some(&v), MAX_SHORT_TEXT)),
        subject: request
            .subject
            .into_column(|v| violations.optional_text("subject", Some(&v), MAX_SHORT_TEXT)),
        channel: request.channel.into_column(Some),
        identifier: None,
        chatbot_paused: request.chatbot_paused,
        is_resolved: request.is_resolved,
        location_id: request
            .location_id
            .into_column(|v| violations.optional_text("locationId", Some(&v), MAX_SHORT_TEXT)),
        contact_id: None,
    };
    // Check the pair the thread ends up with, whichever half changed.
    if changes.channel.is_some() || !request.identifier.is_keep() {
        let channel = match changes.channel {
            Some(channel) => channel,
            None => thread.channel,
        };
        let identifier = match request.identifier {
            Change::Keep => thread.identifier.clone(),
            Change::Clear => None,
            Change::Set(value) => Some(value),
        };
        changes.identifier = Some(check_channel_identifier(
            &mut violations,
            channel,
            identifier.as_deref(),
        ));
    }
    changes.contact_id =
        check_contact_link(tx, &mut violations, &thread, &request.contact_id).await?;
    violations.finish()?;
    let thread = model::update(tx, thread.id, &changes)
        .await
        .map_err(thread_write_error)?;
    let payload = EventPayload::with_thread(&thread);
    record(tx, &thread, EventKind::ThreadUpdated, payload);
    Ok(thread)
}

/// Deletes a thread with its messages; returns the deleted thread.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %id))]
pub async fn delete_thread(tx: &mut Tx<'_>, viewer: &Viewer, id: &str) -> DomainResult<Thread> {
    let thread = locked_thread(tx, viewer, "id", id).await?;
    model::delete(tx, thread.id).await?;
    record(
        tx,
        &thread,
        EventKind::ThreadDeleted,
        EventPayload::default(),
    );
    Ok(thread)
}

/// Subscribes users, api keys or contacts; a meta message records each join.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %thread_id))]
pub async fn add_subscribers(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    thread_id: &str,
    member_ids: &[String],
) -> DomainResult<Thread> {
    let thread = locked_thread(tx, viewer, "threadId", thread_id).await?;
    let members = checked_members(tx, viewer, member_ids).await?;
    for (member, name) in members {
        join_thread(tx, &thread, member, Some(&name)).await?;
    }
    Ok(model::touch(tx, thread.id, None).await?)
}

/// Removes subscribers by archiving them (their messages keep their
/// author); a meta message records each leave.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %thread_id))]
pub async fn remove_subscribers(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    thread_id: &str,
    member_ids: &[String],
) -> DomainResult<Thread> {
    let thread = locked_thread(tx, viewer, "threadId", thread_id).await?;
    let members = checked_members(tx, viewer, member_ids).await?;
    let mut violations = Violations::default();
    let mut leaving = Vec::new();
    for (index, (member, name)) in members.into_iter().enumerate() {
        match subscribers::find_member(tx, thread.id, member).await? {
            Some(subscriber) if !subscriber.is_archived => leaving.push((subscriber, name)),
            _ => violations.push_violation(Violation::on_item(
                "memberIds",
                index,
                Code::NotASubscriber,
                format!("{name} does not subscribe to this thread"),
            )),
        }
    }
    violations.finish()?;
    for (subscriber, name) in leaving {
        let archived = subscribers::archive(tx, subscriber.id).await?;
        record_membership(tx, &thread, &archived, &name, EventKind::SubscriberLeft).await?;
    }
    Ok(model::touch(tx, thread.id, None).await?)
}

/// Marks the thread read (sets the caller's `viewed_at`) or unread for the
/// caller, who must subscribe to it.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %id, read))]
pub async fn set_read_state(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    id: &str,
    read: bool,
) -> DomainResult<Thread> {
    let thread = locked_thread(tx, viewer, "id", id).await?;
    let not_subscribed = "you do not subscribe to this thread";
    let subscriber = active_subscriber(tx, &thread, viewer, "id", not_subscribed).await?;
    let subscriber = if read {
        subscribers::mark_read(tx, subscriber.id).await?
    } else {
        subscribers::mark_unread(tx, &subscriber).await?
    };
    let receipt = EventPayload::with_subscriber(&subscriber);
    record(tx, &thread, EventKind::ReadReceipt, receipt);
    Ok(thread)
}

/// Tells the thread's live subscribers that the caller (an active
/// subscriber) starts or stops typing. Ephemeral: fanned out, never stored.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, thread = %thread_id, is_typing))]
pub async fn set_typing(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    thread_id: &str,
    is_typing: bool,
) -> DomainResult<()> {
    let thread = model::find(tx, ThreadScope::of(viewer), thread_id)
        .await?
        .ok_or_else(|| DomainError::not_found("threadId", thread_id))?;
    let not_subscribed = "only subscribers of the thread may type";
    let subscriber = active_subscriber(tx, &thread, viewer, "threadId", not_subscribed).await?;
    let payload = EventPayload {
        is_typing: Some(is_typing),
        ..EventPayload::with_subscriber(&subscriber)
    };
    let event = NewEvent::thread(EventKind::Typing, &thread, payload);
    events::model::publish_ephemeral(tx, viewer.organization_id, event).await?;
    Ok(())
}

/// The caller's active (not archived) subscriber in the thread, or
/// `NOT_A_SUBSCRIBER` on `field` with `message`.
pub async fn active_subscriber(
    conn: &mut AsyncPgConnection,
    thread: &Thread,
    viewer: &Viewer,
    field: &str,
    message: &str,
) -> DomainResult<Subscriber> {
    subscribers::find_member(conn, thread.id, viewer.actor)
        .await?
        .filter(|s| !s.is_archived)
        .ok_or_else(|| DomainError::on_input(field, Code::NotASubscriber, message))
}

/// The visible thread, locked, or `NOT_FOUND` on `field`.
pub async fn locked_thread(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    field: &str,
    id: &str,
) -> DomainResult<Thread> {
    model::find_for_update(conn, ThreadScope::of(viewer), id)
        .await?
        .ok_or_else(|| DomainError::not_found(field, id))
}

/// 1 to `MAX_SUBSCRIBER_CHANGES` members, each found, or the violations.
async fn checked_members(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    member_ids: &[String],
) -> DomainResult<Vec<(Actor, String)>> {
    let mut violations = Violations::default();
    if member_ids.is_empty() || member_ids.len() > MAX_SUBSCRIBER_CHANGES {
        violations.push(
            "memberIds",
            Code::TooManyIds,
            format!("give 1 to {MAX_SUBSCRIBER_CHANGES} member ids"),
        );
    }
    let members = find_members(
        conn,
        viewer.organization_id,
        "memberIds",
        member_ids,
        &mut violations,
    )
    .await?;
    violations.finish()?;
    Ok(members)
}

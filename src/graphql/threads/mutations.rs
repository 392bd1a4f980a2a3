//! The thread mutations: create, update, delete, subscribers, read state.
//! Each is one transaction; expected failures are user errors.

use super::*;

/// Input of `createThread`.
#[derive(InputObject, Default)]
pub struct CreateThreadInput {
    /// Make the thread about this resource: its id becomes `thrd_<resourceId>`,
    /// and if that thread exists it is returned as it is.
    pub resource_id: Option<String>,
    pub name: Option<String>,
    pub subject: Option<String>,
    pub original_sender: Option<String>,
    pub channel: Option<ChannelKind>,
    /// The address on the channel. On WhatsApp and SMS a valid phone number
    /// with its country code, stored in E.164: `+31 6 12345678` and
    /// `31612345678` become `+31612345678`; `0612345678` has no country code
    /// and is refused.
    pub identifier: Option<String>,
    pub chatbot_paused: Option<bool>,
    pub is_resolved: Option<bool>,
    pub location_id: Option<String>,
    pub contact_id: Option<ID>,
    /// Users, api keys or contacts to subscribe (`usr_…`, `key_…`, `ctc_…`).
    pub member_ids: Option<Vec<ID>>,
}

/// Input of `updateThread`: an omitted field is left alone, null clears it.
#[derive(InputObject)]
pub struct UpdateThreadInput {
    pub id: ID,
    pub name: MaybeUndefined<String>,
    pub subject: MaybeUndefined<String>,
    pub channel: MaybeUndefined<ChannelKind>,
    pub identifier: MaybeUndefined<String>,
    pub chatbot_paused: Option<bool>,
    pub is_resolved: Option<bool>,
    pub location_id: MaybeUndefined<String>,
    /// Links a contact while the thread has none. Once set the link is
    /// immutable: another contact or null is `CONTACT_IMMUTABLE` (the same
    /// contact again changes nothing); null on a thread without a contact
    /// changes nothing either.
    pub contact_id: MaybeUndefined<ID>,
}

/// Input of `deleteThread`, `markThreadRead`, `markThreadUnread`.
#[derive(InputObject)]
pub struct ThreadInput {
    pub id: ID,
}

/// Input of `addThreadSubscribers` and `removeThreadSubscribers`.
#[derive(InputObject)]
pub struct ThreadSubscribersInput {
    pub thread_id: ID,
    /// Users, api keys or contacts (`usr_…`, `key_…`, `ctc_…`), at most 100.
    pub member_ids: Vec<ID>,
}

payload! {
    /// Result of the thread mutations.
    ThreadPayload {
        /// The thread, or null when there are user errors.
        thread: Thread
    }
}

/// Result of `createThread`.
#[derive(SimpleObject)]
pub struct CreateThreadPayload {
    pub thread: Option<Thread>,
    /// False when a thread about the resource existed and was returned.
    pub created: bool,
    pub user_errors: Vec<UserError>,
}

impl Payload<(Thread, bool)> for CreateThreadPayload {
    fn done((thread, created): (Thread, bool)) -> Self {
        CreateThreadPayload {
            thread: Some(thread),
            created,
            user_errors: Vec::new(),
        }
    }

    fn failed(user_errors: Vec<UserError>) -> Self {
        CreateThreadPayload {
            thread: None,
            created: false,
            user_errors,
        }
    }
}

payload! {
    /// Result of `deleteThread`.
    DeleteThreadPayload {
        deleted_thread_id: ID
    }
}

/// Validates an identifier for a channel: E.164 on phone channels, an
/// email address on email, else any short text.
pub(super) fn check_identifier(
    errors: &mut InputErrors,
    channel: ChannelKind,
    identifier: &str,
) -> Option<String> {
    if channel.uses_phone_numbers() {
        let phone = crate::domain::validation::normalize_e164(identifier);
        if phone.is_none() {
            errors.push(
                "identifier",
                UserErrorCode::InvalidPhone,
                format!(
                    "on {} the identifier must be a valid phone number with its country code (E.164), e.g. +14155550100; got {identifier:?}",
                    channel.as_str()
                ),
            );
        }
        phone
    } else if channel == ChannelKind::Email {
        errors.optional_email("identifier", Some(identifier))
    } else {
        errors.required_text("identifier", identifier, MAX_SHORT_TEXT)
    }
}

/// The channel/identifier pair a thread ends up with, validated.
fn check_channel_identifier(
    errors: &mut InputErrors,
    channel: Option<ChannelKind>,
    identifier: Option<&str>,
) -> Option<String> {
    let identifier = identifier.filter(|i| !i.trim().is_empty())?;
    match channel {
        Some(channel) => check_identifier(errors, channel, identifier),
        None => {
            errors.push(
                "channel",
                UserErrorCode::Required,
                "an identifier needs a channel",
            );
            None
        }
    }
}

/// The contact change `updateThread` makes: the link is set once and then
/// immutable, so clearing it or pointing it elsewhere is `CONTACT_IMMUTABLE`.
async fn check_contact_link(
    conn: &mut AsyncPgConnection,
    errors: &mut InputErrors,
    thread: &Thread,
    contact_id: &MaybeUndefined<ID>,
) -> QueryResult<Option<Option<i64>>> {
    let immutable = |errors: &mut InputErrors| {
        errors.push(
            "contactId",
            UserErrorCode::ContactImmutable,
            "the thread's contact is already set and cannot change or be cleared",
        );
    };
    match contact_id {
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Null => {
            if thread.contact_id.is_some() {
                immutable(errors);
            }
            Ok(None)
        }
        MaybeUndefined::Value(contact_id) => {
            match contacts::model::find(conn, thread.organization_id, contact_id).await? {
                None => errors.push_error(UserError::not_found("contactId", contact_id)),
                Some(contact) if thread.contact_id.is_some_and(|linked| linked != contact.id) => {
                    immutable(errors)
                }
                Some(contact) => return Ok(Some(Some(contact.id))),
            }
            Ok(None)
        }
    }
}

fn duplicate_identifier() -> MutationError {
    MutationError::on_input(
        "identifier",
        UserErrorCode::Duplicate,
        "another thread of the organization has this channel and identifier",
    )
}

/// Maps the unique violations a thread write can hit to user errors.
fn thread_write_error(error: diesel::result::Error) -> MutationError {
    if is_unique_violation(&error, "threads_channel_identifier_unique") {
        duplicate_identifier()
    } else if is_unique_violation(&error, "threads_resource_unique") {
        MutationError::on_input(
            "resourceId",
            UserErrorCode::Duplicate,
            "a thread about this resource exists",
        )
    } else {
        error.into()
    }
}

/// Resolves member ids, recording `NOT_FOUND` for each unknown one.
async fn find_members(
    conn: &mut AsyncPgConnection,
    organization_id: i64,
    field: &str,
    ids: &[ID],
    errors: &mut InputErrors,
) -> QueryResult<Vec<(Actor, String)>> {
    let mut members = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        match find_member(conn, organization_id, id).await? {
            Some(member) => members.push(member),
            None => errors.push_error(UserError {
                field: Some(vec![
                    "input".to_string(),
                    field.to_string(),
                    index.to_string(),
                ]),
                message: format!("no user, api key or contact with id {:?}", id.as_str()),
                code: UserErrorCode::NotFound,
            }),
        }
    }
    Ok(members)
}

use crate::domain::threads::members::{find_member, join_thread, record, record_membership};

/// `Mutation.createThread` and the other thread mutations.
#[derive(Default)]
pub struct ThreadsMutation;

#[Object]
impl ThreadsMutation {
    /// Creates a thread, or returns the existing thread about `resourceId`.
    async fn create_thread(
        &self,
        ctx: &Context<'_>,
        input: CreateThreadInput,
    ) -> Result<CreateThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let org = viewer.organization_id;
        mutate(ctx, async |tx| {
            let mut errors = InputErrors::default();
            let resource_id =
                errors.optional_text("resourceId", input.resource_id.as_deref(), MAX_SHORT_TEXT);
            let mut new = NewThread {
                organization_id: org,
                public_id: match &resource_id {
                    Some(resource) => format!("{}_{resource}", IdKind::Thread.prefix()),
                    None => IdKind::Thread.generate(),
                },
                name: errors.optional_text("name", input.name.as_deref(), MAX_SHORT_TEXT),
                subject: errors.optional_text("subject", input.subject.as_deref(), MAX_SHORT_TEXT),
                original_sender: errors.optional_text(
                    "originalSender",
                    input.original_sender.as_deref(),
                    MAX_SHORT_TEXT,
                ),
                channel: input.channel.map(|c| c.as_str().to_string()),
                identifier: check_channel_identifier(
                    &mut errors,
                    input.channel,
                    input.identifier.as_deref(),
                ),
                chatbot_paused: input.chatbot_paused.unwrap_or(false),
                is_resolved: input.is_resolved.unwrap_or(false),
                resource_id: resource_id.clone(),
                location_id: errors.optional_text(
                    "locationId",
                    input.location_id.as_deref(),
                    MAX_SHORT_TEXT,
                ),
                contact_id: None,
            };
            if let Some(contact_id) = &input.contact_id {
                match contacts::model::find(tx, org, contact_id).await? {
                    Some(contact) => new.contact_id = Some(contact.id),
                    None => errors.push_error(UserError::not_found("contactId", contact_id)),
                }
            }
            let members = find_members(
                tx,
                org,
                "memberIds",
                input.member_ids.as_deref().unwrap_or_default(),
                &mut errors,
            )
            .await?;
            errors.finish()?;

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
                    return Err(MutationError::on_input(
                        "resourceId",
                        UserErrorCode::Duplicate,
                        "another thread already has this id",
                    ));
                }
                return Ok((thread, false));
            }
            let created = EventPayload {
                thread: Some((&thread).into()),
                ..EventPayload::default()
            };
            record(tx, &thread, EventKind::ThreadCreated, created);
            for (member, name) in members {
                join_thread(tx, &thread, member, &name).await?;
            }
            Ok((thread, true))
        })
        .await
    }

    /// Changes a thread. The contact can be set only while it is unset.
    async fn update_thread(
        &self,
        ctx: &Context<'_>,
        input: UpdateThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        let scope = ThreadScope::of(&viewer);
        mutate(ctx, async |tx| {
            let thread = model::find_for_update(tx, scope, &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            let mut errors = InputErrors::default();
            let mut changes = ThreadChanges {
                name: changed(input.name.clone(), |v| {
                    errors.optional_text("name", Some(&v), MAX_SHORT_TEXT)
                }),
                subject: changed(input.subject.clone(), |v| {
                    errors.optional_text("subject", Some(&v), MAX_SHORT_TEXT)
                }),
                channel: changed(input.channel, |c| Some(c.as_str().to_string())),
                identifier: None,
                chatbot_paused: input.chatbot_paused,
                is_resolved: input.is_resolved,
                location_id: changed(input.location_id.clone(), |v| {
                    errors.optional_text("locationId", Some(&v), MAX_SHORT_TEXT)
                }),
                contact_id: None,
            };
            // Check the pair the thread ends up with, whichever half changed.
            if changes.channel.is_some() || !input.identifier.is_undefined() {
                let channel = match &changes.channel {
                    Some(channel) => channel.as_deref(),
                    None => thread.channel.as_deref(),
                }
                .and_then(ChannelKind::parse);
                let identifier = match &input.identifier {
                    MaybeUndefined::Undefined => thread.identifier.clone(),
                    MaybeUndefined::Null => None,
                    MaybeUndefined::Value(value) => Some(value.clone()),
                };
                changes.identifier = Some(check_channel_identifier(
                    &mut errors,
                    channel,
                    identifier.as_deref(),
                ));
            }
            changes.contact_id =
                check_contact_link(tx, &mut errors, &thread, &input.contact_id).await?;
            errors.finish()?;
            let thread = model::update(tx, thread.id, &changes)
                .await
                .map_err(thread_write_error)?;
            let updated = EventPayload {
                thread: Some((&thread).into()),
                ..EventPayload::default()
            };
            record(tx, &thread, EventKind::ThreadUpdated, updated);
            Ok(thread)
        })
        .await
    }

    /// Deletes a thread with its messages; returns its id.
    async fn delete_thread(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<DeleteThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let thread = model::find_for_update(tx, ThreadScope::of(&viewer), &input.id)
                .await?
                .ok_or_else(|| MutationError::not_found("id", &input.id))?;
            model::delete(tx, thread.id).await?;
            record(
                tx,
                &thread,
                EventKind::ThreadDeleted,
                EventPayload::default(),
            );
            Ok(input.id.clone())
        })
        .await
    }

    /// Subscribes users, api keys or contacts; a meta message records each join.
    async fn add_thread_subscribers(
        &self,
        ctx: &Context<'_>,
        input: ThreadSubscribersInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let thread = locked_thread(tx, &viewer, "threadId", &input.thread_id).await?;
            let members = checked_members(tx, &viewer, &input).await?;
            for (member, name) in members {
                join_thread(tx, &thread, member, &name).await?;
            }
            Ok(model::touch(tx, thread.id, None).await?)
        })
        .await
    }

    /// Removes subscribers by archiving them (their messages keep their
    /// author); a meta message records each leave.
    async fn remove_thread_subscribers(
        &self,
        ctx: &Context<'_>,
        input: ThreadSubscribersInput,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = staff_viewer(ctx)?;
        mutate(ctx, async |tx| {
            let thread = locked_thread(tx, &viewer, "threadId", &input.thread_id).await?;
            let members = checked_members(tx, &viewer, &input).await?;
            let mut errors = InputErrors::default();
            let mut leaving = Vec::new();
            for (index, (member, name)) in members.into_iter().enumerate() {
                match subscribers::find_member(tx, thread.id, member).await? {
                    Some(subscriber) if !subscriber.is_archived => leaving.push((subscriber, name)),
                    _ => errors.push_error(UserError {
                        field: Some(vec!["input".into(), "memberIds".into(), index.to_string()]),
                        message: format!("{name} does not subscribe to this thread"),
                        code: UserErrorCode::NotASubscriber,
                    }),
                }
            }
            errors.finish()?;
            for (subscriber, name) in leaving {
                let archived = subscribers::archive(tx, subscriber.id).await?;
                record_membership(tx, &thread, &archived, &name, EventKind::SubscriberLeft).await?;
            }
            Ok(model::touch(tx, thread.id, None).await?)
        })
        .await
    }

    /// Marks the thread read for the caller (sets its `viewedAt`).
    async fn mark_thread_read(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        self.set_read_state(ctx, input, true).await
    }

    /// Marks the thread unread for the caller.
    async fn mark_thread_unread(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
    ) -> Result<ThreadPayload, ApiError> {
        self.set_read_state(ctx, input, false).await
    }
}

impl ThreadsMutation {
    async fn set_read_state(
        &self,
        ctx: &Context<'_>,
        input: ThreadInput,
        read: bool,
    ) -> Result<ThreadPayload, ApiError> {
        let viewer = viewer(ctx)?;
        mutate(ctx, async |tx| {
            let thread = locked_thread(tx, &viewer, "id", &input.id).await?;
            let subscriber = subscribers::find_member(tx, thread.id, viewer.actor)
                .await?
                .filter(|s| !s.is_archived)
                .ok_or_else(|| {
                    MutationError::on_input(
                        "id",
                        UserErrorCode::NotASubscriber,
                        "you do not subscribe to this thread",
                    )
                })?;
            let subscriber = if read {
                subscribers::mark_read(tx, subscriber.id).await?
            } else {
                subscribers::mark_unread(tx, &subscriber).await?
            };
            let receipt = EventPayload {
                subscriber: Some((&subscriber).into()),
                ..EventPayload::default()
            };
            record(tx, &thread, EventKind::ReadReceipt, receipt);
            Ok(thread)
        })
        .await
    }
}

/// The visible thread, locked, or `NOT_FOUND` on `field`.
async fn locked_thread(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    field: &str,
    id: &str,
) -> Result<Thread, MutationError> {
    model::find_for_update(conn, ThreadScope::of(viewer), id)
        .await?
        .ok_or_else(|| MutationError::not_found(field, id))
}

async fn checked_members(
    conn: &mut AsyncPgConnection,
    viewer: &Viewer,
    input: &ThreadSubscribersInput,
) -> Result<Vec<(Actor, String)>, MutationError> {
    let mut errors = InputErrors::default();
    if input.member_ids.is_empty() || input.member_ids.len() > MAX_SUBSCRIBER_CHANGES {
        errors.push(
            "memberIds",
            UserErrorCode::TooManyIds,
            format!("give 1 to {MAX_SUBSCRIBER_CHANGES} member ids"),
        );
    }
    let members = find_members(
        conn,
        viewer.organization_id,
        "memberIds",
        &input.member_ids,
        &mut errors,
    )
    .await?;
    errors.finish()?;
    Ok(members)
}

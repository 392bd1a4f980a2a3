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

payload! {
    /// Result of `createThread`.
    CreateThreadPayload {
        thread: Thread,
        /// False when a thread about the resource existed and was returned.
        created: bool = false,
    }
}

payload! {
    /// Result of `deleteThread`.
    DeleteThreadPayload {
        deleted_thread_id: ID
    }
}

impl From<CreateThreadInput> for service::CreateThread {
    fn from(input: CreateThreadInput) -> Self {
        service::CreateThread {
            resource_id: input.resource_id,
            name: input.name,
            subject: input.subject,
            original_sender: input.original_sender,
            channel: input.channel.map(Into::into),
            identifier: input.identifier,
            chatbot_paused: input.chatbot_paused,
            is_resolved: input.is_resolved,
            location_id: input.location_id,
            contact_id: input.contact_id.map(|id| id.0),
            member_ids: ids(input.member_ids.unwrap_or_default()),
        }
    }
}

impl From<UpdateThreadInput> for service::UpdateThread {
    fn from(input: UpdateThreadInput) -> Self {
        service::UpdateThread {
            id: input.id.0,
            name: input.name.into(),
            subject: input.subject.into(),
            channel: Change::from(input.channel).map(Into::into),
            identifier: input.identifier.into(),
            chatbot_paused: input.chatbot_paused,
            is_resolved: input.is_resolved,
            location_id: input.location_id.into(),
            contact_id: Change::from(input.contact_id).map(|id| id.0),
        }
    }
}

/// The ids as plain strings.
fn ids(ids: Vec<ID>) -> Vec<String> {
    ids.into_iter().map(|id| id.0).collect()
}

mutations! {
    /// `Mutation.createThread` and the other thread mutations.
    ThreadsMutation as staff_viewer, |tx, viewer| {
        /// Creates a thread, or returns the existing thread about `resourceId`.
        fn create_thread(input: CreateThreadInput) -> CreateThreadPayload {
            service::create_thread(tx, &viewer, input.into()).await?
        }

        /// Changes a thread. The contact can be set only while it is unset.
        fn update_thread(input: UpdateThreadInput) -> ThreadPayload {
            service::update_thread(tx, &viewer, input.into()).await?
        }

        /// Deletes a thread with its messages; returns its id.
        fn delete_thread(input: ThreadInput) -> DeleteThreadPayload {
            service::delete_thread(tx, &viewer, &input.id).await?;
            input.id.clone()
        }

        /// Subscribes users, api keys or contacts; a meta message records each join.
        fn add_thread_subscribers(input: ThreadSubscribersInput) -> ThreadPayload {
            let member_ids = ids(input.member_ids);
            service::add_subscribers(tx, &viewer, &input.thread_id, &member_ids).await?
        }

        /// Removes subscribers by archiving them (their messages keep their
        /// author); a meta message records each leave.
        fn remove_thread_subscribers(input: ThreadSubscribersInput) -> ThreadPayload {
            let member_ids = ids(input.member_ids);
            service::remove_subscribers(tx, &viewer, &input.thread_id, &member_ids).await?
        }
    }
}

mutations! {
    /// `Mutation.markThreadRead` and `markThreadUnread`: the caller's own
    /// read state, which contact tokens may change too.
    ReadStateMutation as viewer, |tx, viewer| {
        /// Marks the thread read for the caller (sets its `viewedAt`).
        fn mark_thread_read(input: ThreadInput) -> ThreadPayload {
            service::set_read_state(tx, &viewer, &input.id, true).await?
        }

        /// Marks the thread unread for the caller.
        fn mark_thread_unread(input: ThreadInput) -> ThreadPayload {
            service::set_read_state(tx, &viewer, &input.id, false).await?
        }
    }
}

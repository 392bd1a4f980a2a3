//! GraphQL subscriptions over the event log, and the `setTyping` mutation.
//! Each subscription replays from its cursor, then follows the hub live.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use async_graphql::{Context, ID, InputObject, Object, Subscription};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use crate::db::DbPool;
use crate::db::ids::{ChannelId, ContactId, ConversationId, OrganizationId, ThreadId};
use crate::domain::auth::{Actor, Viewer};
use crate::domain::channels::model::ChannelScope;
use crate::domain::channels::{self, Channel};
use crate::domain::conversations::{self, Conversation};
use crate::domain::events::hub::{EventHub, Start};
use crate::domain::events::model::{self, Event, EventFilter, EventKind};
use crate::domain::messages::Message;
use crate::domain::threads::model::ThreadScope;
use crate::domain::threads::{self, Subscriber, Thread, service, subscribers};
use crate::graphql::context::{db, staff_viewer, viewer};
use crate::graphql::errors::{ApiError, UserErrorCode, payload};
use crate::graphql::loaders::load_by_id;
use crate::graphql::mutation::mutations;

/// Events replayed per query when resuming.
const REPLAY_BATCH: i64 = 500;
const CURSOR_PREFIX: &str = "e1:";

/// `e1:<position>`: resume after the event at that position of the log.
fn encode_cursor(position: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{position}"))
}

fn decode_cursor(cursor: &str) -> Result<i64, ApiError> {
    let invalid = || {
        ApiError::bad_input(
            UserErrorCode::InvalidCursor,
            format!("invalid event cursor {cursor:?}"),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.strip_prefix(CURSOR_PREFIX)
        .and_then(|n| n.parse().ok())
        .ok_or_else(invalid)
}

/// One change, as a subscription delivers it.
#[derive(Clone)]
pub struct LiveEvent(Arc<Event>);

impl LiveEvent {
    /// The event as subscriptions (and webhook bodies) show it.
    pub fn new(event: Event) -> Self {
        LiveEvent(Arc::new(event))
    }
}

/// Something that happened to a thread or conversation. Fields that do not
/// apply to the kind are null; snapshots are as of when it happened.
#[Object(name = "Event")]
impl LiveEvent {
    /// Resume after this event with `after: cursor`. Null for ephemeral
    /// events (typing), which are never replayed.
    async fn cursor(&self) -> Option<String> {
        self.0.sequence.map(encode_cursor)
    }
    async fn kind(&self) -> crate::graphql::enums::EventKind {
        self.0.kind.into()
    }
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn thread_id(&self) -> Option<ID> {
        self.0.payload.thread_public_id.clone().map(ID)
    }
    async fn conversation_id(&self) -> Option<ID> {
        self.0.payload.conversation_public_id.clone().map(ID)
    }
    async fn channel_id(&self) -> Option<ID> {
        self.0.payload.channel_public_id.clone().map(ID)
    }
    /// The channel a message was published to, as it is now.
    async fn channel(&self, ctx: &Context<'_>) -> Result<Option<Channel>, ApiError> {
        load_by_id(ctx, self.0.channel_id).await
    }
    /// The message concerned (also for deletions, where only the id remains valid).
    async fn message_id(&self) -> Option<ID> {
        let payload = &self.0.payload;
        payload
            .message_public_id
            .clone()
            .or_else(|| payload.message.as_ref().map(|m| m.public_id.clone()))
            .map(ID)
    }
    /// The message as it was after the change (null for deletions).
    async fn message(&self) -> Option<Message> {
        self.0.payload.message.clone().map(Message::from)
    }
    /// The thread: as it was after a thread change, else as it is now.
    async fn thread(&self, ctx: &Context<'_>) -> Result<Option<Thread>, ApiError> {
        if let Some(thread) = &self.0.payload.thread {
            return Ok(Some(Thread::from(thread.clone())));
        }
        let deleted = self.0.kind == EventKind::ThreadDeleted;
        load_by_id(ctx, self.0.thread_id.filter(|_| !deleted)).await
    }
    /// The conversation: as it was after a conversation change, else as it is now.
    async fn conversation(&self, ctx: &Context<'_>) -> Result<Option<Conversation>, ApiError> {
        if let Some(conversation) = &self.0.payload.conversation {
            return Ok(Some(Conversation::from(conversation.clone())));
        }
        let deleted = self.0.kind == EventKind::ConversationDeleted;
        load_by_id(ctx, self.0.conversation_id.filter(|_| !deleted)).await
    }
    /// Who joined, left, read, reacted or is typing.
    async fn subscriber(&self) -> Option<Subscriber> {
        self.0.payload.subscriber.clone().map(Subscriber::from)
    }
    /// The emoji of a reaction event.
    async fn emoji(&self) -> Option<&str> {
        self.0.payload.emoji.as_deref()
    }
    /// Typing events: whether typing started (true) or stopped.
    async fn is_typing(&self) -> Option<bool> {
        self.0.payload.is_typing
    }
}

/// What a subscription follows.
#[derive(Clone, Copy, Debug)]
enum Topic {
    Thread(ThreadId),
    Conversation(ConversationId),
    Channel(ChannelId),
    /// Every thread the viewer may see.
    Inbox,
}

impl Topic {
    /// The one thread followed, whose events the hub can hand over alone.
    fn thread(self) -> Option<ThreadId> {
        match self {
            Topic::Thread(id) => Some(id),
            Topic::Conversation(_) | Topic::Channel(_) | Topic::Inbox => None,
        }
    }

    fn filter(self) -> EventFilter {
        match self {
            Topic::Thread(id) => EventFilter::Thread(id),
            Topic::Conversation(id) => EventFilter::Conversation(id),
            Topic::Channel(id) => EventFilter::Channel(id),
            Topic::Inbox => EventFilter::All,
        }
    }

    fn matches(self, event: &Event) -> bool {
        match self {
            Topic::Thread(id) => event.thread_id == Some(id),
            Topic::Conversation(id) => event.conversation_id == Some(id),
            Topic::Channel(id) => event.channel_id == Some(id),
            Topic::Inbox => event.thread_id.is_some(),
        }
    }

    /// The event after which nothing more can happen on this topic.
    fn ends_with(self, event: &Event) -> bool {
        matches!(
            (self, event.kind),
            (Topic::Thread(_), EventKind::ThreadDeleted)
                | (Topic::Conversation(_), EventKind::ConversationDeleted)
        )
    }
}

/// Which threads a contact may see, remembered per thread and forgotten
/// when the thread's membership changes. Staff see every thread.
struct Visibility {
    contact: Option<ContactId>,
    known: HashMap<ThreadId, bool>,
}

impl Visibility {
    fn new(viewer: &Viewer, topic: Topic) -> Self {
        let contact = match (viewer.actor, topic) {
            // Channel members see the channel's messages whichever thread published them.
            (_, Topic::Channel(_)) => None,
            (Actor::Contact(id), _) => Some(id),
            (Actor::User(_) | Actor::ApiKey(_), _) => None,
        };
        Visibility {
            contact,
            known: HashMap::new(),
        }
    }

    async fn allows(&mut self, pool: &DbPool, event: &Event) -> Result<bool, ApiError> {
        let (Some(contact), Some(thread_id)) = (self.contact, event.thread_id) else {
            return Ok(self.contact.is_none());
        };
        if matches!(
            event.kind,
            EventKind::SubscriberJoined | EventKind::SubscriberLeft
        ) {
            self.known.remove(&thread_id);
        }
        if let Some(known) = self.known.get(&thread_id) {
            return Ok(*known);
        }
        let mut conn = pool.get().await?;
        let visible =
            subscribers::is_active_member(&mut conn, thread_id, Actor::Contact(contact)).await?;
        self.known.insert(thread_id, visible);
        Ok(visible)
    }
}

/// Resolves where a subscription starts: checks an `after` cursor against
/// the organization's positions.
async fn start_position(
    pool: &DbPool,
    organization_id: OrganizationId,
    after: Option<String>,
) -> Result<Option<i64>, ApiError> {
    let Some(after) = after else {
        return Ok(None);
    };
    let after = decode_cursor(&after)?;
    let mut conn = pool.get().await?;
    let (latest, pruned_through) = model::positions(&mut conn, organization_id).await?;
    if after > latest || after < 0 {
        return Err(ApiError::bad_input(
            UserErrorCode::InvalidCursor,
            "this event cursor is not from this organization",
        ));
    }
    if after < pruned_through {
        return Err(ApiError::CursorExpired);
    }
    Ok(Some(after))
}

/// The events of `topic` the viewer may see: first those after `after`
/// (when given) from the log, then live ones, in position order with no gap
/// and no duplicate. Without `after`, what had committed when the
/// subscription started is history and skipped. A subscriber that falls
/// behind the live feed re-reads from the log.
fn event_stream(
    hub: EventHub,
    pool: DbPool,
    viewer: Viewer,
    topic: Topic,
    after: Option<i64>,
) -> impl Stream<Item = Result<LiveEvent, ApiError>> {
    async_stream::stream! {
        let organization_id = viewer.organization_id;
        let mut visibility = Visibility::new(&viewer, topic);
        // Subscribe before reading history, so nothing committed in between
        // is missed. Awaits that query the database are boxed (see `read_after`).
        let Start { receiver: mut live, snapshot } = match Box::pin(hub.subscribe(organization_id, topic.thread())).await {
            Ok(start) => start,
            Err(error) => {
                yield Err(ApiError::from(error));
                return;
            }
        };
        let mut last = after.unwrap_or(snapshot.settled_through());
        // Events above `last` that had committed at the start: skipped
        // without `after`; forgotten once `last` passes them all.
        let mut history = after.is_none().then_some(snapshot);
        let mut replay = after.is_some();
        loop {
            if history.as_ref().is_some_and(|h| h.is_before(last)) {
                history = None;
            }
            if replay {
                // Read the log from `last` until it is exhausted (up to the
                // horizon; the live feed brings the rest).
                loop {
                    let batch = match Box::pin(read_after(&pool, organization_id, last, topic)).await {
                        Ok(batch) => batch,
                        Err(error) => {
                            yield Err(error);
                            return;
                        }
                    };
                    let exhausted = (batch.rows as i64) < REPLAY_BATCH;
                    // Past undecodable events too (logged by the reader).
                    let read_through = batch.last_sequence;
                    for event in batch.events {
                        last = event.sequence.unwrap_or(last);
                        if history.as_ref().is_some_and(|h| h.includes(last)) {
                            continue;
                        }
                        match Box::pin(visibility.allows(&pool, &event)).await {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(error) => {
                                yield Err(error);
                                return;
                            }
                        }
                        let ends = topic.ends_with(&event);
                        yield Ok(LiveEvent(Arc::new(event)));
                        if ends {
                            return;
                        }
                    }
                    last = read_through.map_or(last, |through| through.max(last));
                    if exhausted {
                        break;
                    }
                }
                replay = false;
            }
            match live.recv().await {
                Ok(event) => {
                    if let Some(position) = event.sequence {
                        if position <= last {
                            continue;
                        }
                        last = position;
                        if history.as_ref().is_some_and(|h| h.includes(position)) {
                            continue;
                        }
                    }
                    if !topic.matches(&event) {
                        continue;
                    }
                    match Box::pin(visibility.allows(&pool, &event)).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(error) => {
                            yield Err(error);
                            return;
                        }
                    }
                    let ends = topic.ends_with(&event);
                    yield Ok(LiveEvent(event));
                    if ends {
                        return;
                    }
                }
                // Fell behind the in-memory buffer: the log has it all.
                Err(RecvError::Lagged(_)) => replay = true,
                Err(RecvError::Closed) => return,
            }
        }
    }
}

/// Up to `REPLAY_BATCH` events of `topic` after `last`. A function of its
/// own so that its future is boxed apart: an idle stream then holds only
/// what it waits with (a subscription's size is its largest await).
async fn read_after(
    pool: &DbPool,
    organization_id: OrganizationId,
    last: i64,
    topic: Topic,
) -> Result<model::EventBatch, ApiError> {
    let mut conn = pool.get().await?;
    Ok(model::after(
        &mut conn,
        organization_id,
        last,
        topic.filter(),
        REPLAY_BATCH,
    )
    .await?)
}

fn hub(ctx: &Context<'_>) -> Result<EventHub, ApiError> {
    ctx.data_opt::<EventHub>()
        .cloned()
        .ok_or(ApiError::Internal)
}

fn pool(ctx: &Context<'_>) -> Result<DbPool, ApiError> {
    ctx.data_opt::<DbPool>().cloned().ok_or(ApiError::Internal)
}

type EventResults = std::pin::Pin<Box<dyn Stream<Item = async_graphql::Result<LiveEvent>> + Send>>;

fn boxed(stream: impl Stream<Item = Result<LiveEvent, ApiError>> + Send + 'static) -> EventResults {
    Box::pin(stream.map(|item| item.map_err(async_graphql::Error::from)))
}

/// The root subscription type.
#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Everything that happens in one thread: messages added, edited and
    /// deleted, reactions, subscribers joining and leaving, read receipts,
    /// typing, thread changes. With `after`, first replays what happened
    /// since that event's cursor.
    async fn thread_events(
        &self,
        ctx: &Context<'_>,
        thread_id: ID,
        after: Option<String>,
    ) -> Result<EventResults, ApiError> {
        follow_one(ctx, Followed::Thread(thread_id), after).await
    }

    /// Everything that happens in one conversation.
    async fn conversation_events(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        after: Option<String>,
    ) -> Result<EventResults, ApiError> {
        follow_one(ctx, Followed::Conversation(conversation_id), after).await
    }

    /// Messages published to one channel, when they are published.
    async fn channel_events(
        &self,
        ctx: &Context<'_>,
        channel_id: ID,
        after: Option<String>,
    ) -> Result<EventResults, ApiError> {
        follow_one(ctx, Followed::Channel(channel_id), after).await
    }

    /// The events of every thread the caller may see: for inbox lists and
    /// unread badges.
    async fn inbox_events(
        &self,
        ctx: &Context<'_>,
        after: Option<String>,
    ) -> Result<EventResults, ApiError> {
        let viewer = viewer(ctx)?;
        follow(ctx, viewer, Topic::Inbox, after).await
    }
}

/// The one thread, conversation or channel (by public id) a subscription follows.
enum Followed {
    Thread(ID),
    Conversation(ID),
    Channel(ID),
}

/// The stream of one object's events, when the caller may see it (else
/// `NOT_FOUND`; conversations are for staff only).
async fn follow_one(
    ctx: &Context<'_>,
    followed: Followed,
    after: Option<String>,
) -> Result<EventResults, ApiError> {
    let viewer = match followed {
        Followed::Conversation(_) => staff_viewer(ctx)?,
        Followed::Thread(_) | Followed::Channel(_) => viewer(ctx)?,
    };
    let mut conn = db(ctx).await?;
    let (topic, what) = match &followed {
        Followed::Thread(id) => {
            let thread = threads::model::find(&mut conn, ThreadScope::of(&viewer), id).await?;
            (thread.map(|t| Topic::Thread(t.id)), "thread")
        }
        Followed::Conversation(id) => {
            let org = viewer.organization_id;
            let conversation = conversations::model::find(&mut conn, org, id).await?;
            (
                conversation.map(|c| Topic::Conversation(c.id)),
                "conversation",
            )
        }
        Followed::Channel(id) => {
            let channel = channels::model::find(&mut conn, ChannelScope::of(&viewer), id).await?;
            (channel.map(|c| Topic::Channel(c.id)), "channel")
        }
    };
    drop(conn);
    let topic = topic.ok_or_else(|| ApiError::NotFound(what.to_string()))?;
    follow(ctx, viewer, topic, after).await
}

/// The stream of `topic`'s events for the viewer, from `after` when given.
async fn follow(
    ctx: &Context<'_>,
    viewer: Viewer,
    topic: Topic,
    after: Option<String>,
) -> Result<EventResults, ApiError> {
    let pool = pool(ctx)?;
    let after = start_position(&pool, viewer.organization_id, after).await?;
    Ok(boxed(event_stream(hub(ctx)?, pool, viewer, topic, after)))
}

/// Input of `setTyping`.
#[derive(InputObject)]
pub struct SetTypingInput {
    pub thread_id: ID,
    /// True when typing starts, false when it stops.
    #[graphql(default = true)]
    pub is_typing: bool,
}

payload! {
    /// Result of `setTyping`.
    SetTypingPayload {
        ok: bool = false,
    }
}

mutations! {
    /// `Mutation.setTyping`.
    TypingMutation as viewer, |tx, viewer| {
        /// Tells the thread's live subscribers that the caller (a subscriber)
        /// is typing. Ephemeral: fanned out to every server, never stored.
        fn set_typing(input: SetTypingInput) -> SetTypingPayload {
            service::set_typing(tx, &viewer, &input.thread_id, input.is_typing).await?;
            true
        }
    }
}

//! GraphQL types, queries and mutations for webhooks and their deliveries,
//! and the renderer that gives webhook bodies the subscription event's shape.

use std::future::Future;
use std::pin::Pin;

use async_graphql::connection::Connection;
use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, ID, InputObject, MaybeUndefined, Object,
    Request, Schema,
};
use chrono::{DateTime, Utc};

use crate::db::DbPool;
use crate::db::ids::{OrganizationId, WebhookId};
use crate::domain;
use crate::domain::auth::Viewer;
use crate::domain::events::model::Event;
use crate::domain::webhooks::model::{self, Webhook, WebhookDelivery};
use crate::domain::webhooks::{EventRenderer, RenderedEvent, service};
use crate::graphql::context::{api_key_viewer, db};
use crate::graphql::enums::EventKind;
use crate::graphql::errors::{ApiError, payload};
use crate::graphql::events::LiveEvent;
use crate::graphql::mutation::mutations;
use crate::graphql::pagination::{Cursor, PageRequest};
use crate::graphql::{LoaderCache, context_data};

/// Where a delivery stands.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
#[graphql(remote = "domain::webhooks::model::DeliveryStatus")]
pub enum WebhookDeliveryStatus {
    /// Not delivered yet: waiting for its turn or its next retry.
    Pending,
    /// The endpoint answered 2xx.
    Succeeded,
    /// Retries ran out (for 24 hours by default); the webhook was disabled.
    Failed,
}

/// An HTTPS endpoint that receives the organization's events, signed.
#[Object]
impl Webhook {
    /// Opaque id (`whk_…`).
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    /// Where events are POSTed.
    async fn url(&self) -> &str {
        &self.url
    }
    async fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
    /// The event kinds delivered; null for every kind.
    async fn events(&self) -> Option<Vec<EventKind>> {
        self.kinds()
            .map(|kinds| kinds.into_iter().map(EventKind::from).collect())
    }
    /// False once the endpoint kept failing (or was disabled through
    /// `updateWebhook`); nothing is delivered until it is enabled again.
    async fn enabled(&self) -> bool {
        self.disabled_at.is_none()
    }
    async fn disabled_at(&self) -> Option<DateTime<Utc>> {
        self.disabled_at
    }
    /// Why it was disabled.
    async fn disabled_reason(&self) -> Option<&str> {
        self.disabled_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

/// One event sent (or to be sent) to a webhook.
#[Object]
impl WebhookDelivery {
    /// Opaque id (`whd_…`), sent as the `Confab-Delivery` header.
    pub async fn id(&self) -> ID {
        ID(self.public_id.clone())
    }
    /// The event's cursor, sent as the `Idempotency-Key` header: the same on
    /// every retry and redelivery of the event.
    async fn event_cursor(&self) -> &str {
        &self.event_cursor
    }
    /// The event's kind (sent as the `Confab-Event` header).
    async fn event_kind(&self) -> Option<EventKind> {
        <EventKind as async_graphql::EnumType>::items()
            .iter()
            .find(|item| item.name == self.event_kind)
            .map(|item| item.value)
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        self.status.into()
    }
    /// Attempts made so far.
    async fn attempts(&self) -> i32 {
        self.attempts
    }
    /// When it is tried next (pending deliveries only).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        (self.status == model::DeliveryStatus::Pending).then_some(self.next_attempt_at)
    }
    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.last_attempt_at
    }
    /// The HTTP status of the last answer.
    async fn response_status(&self) -> Option<i32> {
        self.response_status
    }
    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.delivered_at
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    /// The JSON body POSTed.
    async fn payload(&self) -> &str {
        &self.body
    }
}

/// Extra fields of `WebhookConnection`.
pub struct WebhookConnectionFields {
    organization_id: OrganizationId,
}

#[Object]
impl WebhookConnectionFields {
    /// How many webhooks the organization has.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let mut conn = db(ctx).await?;
        Ok(model::count(&mut conn, self.organization_id).await?)
    }
}

/// Extra fields of `WebhookDeliveryConnection`.
pub struct WebhookDeliveryConnectionFields {
    organization_id: OrganizationId,
    /// `None` when the webhook id named nothing: nothing matches.
    webhook_id: Option<WebhookId>,
    status: Option<model::DeliveryStatus>,
}

#[Object]
impl WebhookDeliveryConnectionFields {
    /// How many deliveries match, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, ApiError> {
        let Some(webhook_id) = self.webhook_id else {
            return Ok(0);
        };
        let mut conn = db(ctx).await?;
        let org = self.organization_id;
        Ok(model::delivery_count(&mut conn, org, webhook_id, self.status).await?)
    }
}

/// Which deliveries `webhookDeliveries` lists.
#[derive(InputObject, Default)]
pub struct WebhookDeliveryFilter {
    /// Only deliveries in this state.
    pub status: Option<WebhookDeliveryStatus>,
}

/// `Query.webhooks`, `Query.webhook` and `Query.webhookDeliveries` (api keys only).
#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The organization's webhooks, oldest first. Api keys only.
    async fn webhooks(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, Webhook, WebhookConnectionFields>, ApiError> {
        let viewer = api_key_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let mut conn = db(ctx).await?;
        let rows = model::page(&mut conn, viewer.organization_id, &page).await?;
        let fields = WebhookConnectionFields {
            organization_id: viewer.organization_id,
        };
        Ok(page.into_connection(rows, |w| w.id.0, fields))
    }

    /// One webhook; null when the organization has none with this id. Api keys only.
    async fn webhook(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Webhook>, ApiError> {
        let viewer = api_key_viewer(ctx)?;
        let mut conn = db(ctx).await?;
        Ok(model::find(&mut conn, viewer.organization_id, &id).await?)
    }

    /// A webhook's deliveries, newest first, optionally only those in one
    /// state. Api keys only.
    #[allow(clippy::too_many_arguments)]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        webhook_id: ID,
        filter: Option<WebhookDeliveryFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Result<Connection<Cursor, WebhookDelivery, WebhookDeliveryConnectionFields>, ApiError>
    {
        let viewer = api_key_viewer(ctx)?;
        let page = PageRequest::new(first, after, last, before)?;
        let org = viewer.organization_id;
        let status = filter.unwrap_or_default().status.map(Into::into);
        let mut conn = db(ctx).await?;
        let webhook = model::find(&mut conn, org, &webhook_id).await?;
        let fields = WebhookDeliveryConnectionFields {
            organization_id: org,
            webhook_id: webhook.as_ref().map(|w| w.id),
            status,
        };
        let rows = match &webhook {
            Some(webhook) => {
                model::delivery_page(&mut conn, org, webhook.id, status, &page).await?
            }
            None => Vec::new(),
        };
        Ok(page.into_connection(rows, |d| d.id.0, fields))
    }
}

/// Input of `createWebhook`.
#[derive(InputObject)]
pub struct CreateWebhookInput {
    /// An absolute http(s) URL on a public address.
    pub url: String,
    /// The event kinds to deliver; null or absent for every kind.
    pub events: Option<Vec<EventKind>>,
    pub description: Option<String>,
}

/// Input of `updateWebhook`: omitted fields are left alone.
#[derive(InputObject)]
pub struct UpdateWebhookInput {
    pub id: ID,
    pub url: Option<String>,
    /// Null delivers every kind.
    pub events: MaybeUndefined<Vec<EventKind>>,
    pub description: MaybeUndefined<String>,
    /// True re-enables a disabled webhook (delivery resumes where it
    /// stopped); false disables it.
    pub enabled: Option<bool>,
}

/// Input of `deleteWebhook` and `rotateWebhookSecret`.
#[derive(InputObject)]
pub struct WebhookIdInput {
    pub id: ID,
}

/// Input of `redeliverWebhook`.
#[derive(InputObject)]
pub struct RedeliverWebhookInput {
    /// The delivery whose event to send again.
    pub delivery_id: ID,
}

payload! {
    /// Result of `createWebhook` and `rotateWebhookSecret`: the webhook and
    /// its signing secret, shown only here.
    WebhookSecretPayload {
        webhook: Webhook,
        /// The signing secret (`whsec_…`); it is not shown again.
        secret: String,
    }
}

payload! {
    /// Result of `updateWebhook`.
    WebhookPayload {
        webhook: Webhook
    }
}

payload! {
    /// Result of `deleteWebhook`.
    DeleteWebhookPayload {
        deleted_webhook_id: ID
    }
}

payload! {
    /// Result of `redeliverWebhook`: the new delivery.
    RedeliverWebhookPayload {
        delivery: WebhookDelivery
    }
}

mutations! {
    /// `Mutation.createWebhook` and the other webhook mutations (api keys only).
    WebhooksMutation as webhook_manager, |tx, manager| {
        /// Registers a webhook for the organization's events from now on;
        /// returns its signing secret, shown only here.
        fn create_webhook(input: CreateWebhookInput) -> WebhookSecretPayload {
            let request = service::CreateWebhook {
                url: input.url,
                events: input.events.map(|kinds| kinds.into_iter().map(Into::into).collect()),
                description: input.description,
            };
            service::create_webhook(tx, &manager.viewer, manager.policy, request).await?
        }

        /// Changes a webhook's URL, events or description, or enables or disables it.
        fn update_webhook(input: UpdateWebhookInput) -> WebhookPayload {
            let request = service::UpdateWebhook {
                id: input.id.0,
                url: input.url,
                events: domain::errors::Change::from(input.events)
                    .map(|kinds| kinds.into_iter().map(Into::into).collect()),
                description: input.description.into(),
                enabled: input.enabled,
            };
            service::update_webhook(tx, &manager.viewer, manager.policy, request).await?
        }

        /// Deletes a webhook and its deliveries; returns its id.
        fn delete_webhook(input: WebhookIdInput) -> DeleteWebhookPayload {
            service::delete_webhook(tx, &manager.viewer, &input.id).await?;
            input.id.clone()
        }

        /// Gives a webhook a new signing secret; returns it, shown only here.
        fn rotate_webhook_secret(input: WebhookIdInput) -> WebhookSecretPayload {
            service::rotate_secret(tx, &manager.viewer, &input.id).await?
        }

        /// Sends a delivery's event again (same body and idempotency key).
        fn redeliver_webhook(input: RedeliverWebhookInput) -> RedeliverWebhookPayload {
            service::redeliver(tx, &manager.viewer, &input.delivery_id).await?
        }
    }
}

/// The selection a webhook body carries under `event`: what a subscriber
/// asking for the event's own fields and its objects' scalars gets.
const EVENT_SELECTION: &str = "{ event {
  cursor kind occurredAt threadId conversationId channelId messageId emoji isTyping
  message { id type text event mediaUrls resourceId clientMessageId createdAt editedAt
            publishToChannelAt publishedAt writtenAt writtenByMe author { id kind name } }
  thread { id name subject originalSender channel identifier chatbotPaused isResolved
           resourceId locationId lastMessageAt createdAt updatedAt contact { id } }
  conversation { id channel happenedAt createdAt updatedAt contact { id } }
  subscriber { id kind name viewedAt isArchived joinedAt }
  channel { id name subscriberHash }
} }";

/// The root of the renderer's schema: the event being rendered.
struct RenderQuery;

#[Object]
impl RenderQuery {
    async fn event(&self, ctx: &Context<'_>) -> Result<LiveEvent, ApiError> {
        ctx.data_opt::<LiveEvent>()
            .cloned()
            .ok_or(ApiError::Internal)
    }
}

/// Renders events through the same GraphQL `Event` type subscriptions
/// use, so a webhook body is what a subscriber selecting `EVENT_SELECTION`
/// receives.
pub struct SchemaRenderer {
    schema: Schema<RenderQuery, EmptyMutation, EmptySubscription>,
    pool: DbPool,
}

impl SchemaRenderer {
    /// A renderer reading related objects through `pool`.
    pub fn new(pool: DbPool) -> Self {
        let schema = Schema::build(RenderQuery, EmptyMutation, EmptySubscription)
            .data(pool.clone())
            .finish();
        SchemaRenderer { schema, pool }
    }
}

impl SchemaRenderer {
    /// `event` as the subscription's `Event` type shows it to `viewer`.
    async fn render_event(&self, viewer: Viewer, event: Event) -> Result<RenderedEvent, String> {
        let mut request = Request::new(EVENT_SELECTION);
        request.data = context_data(&self.pool, viewer, LoaderCache::Off);
        request.data.insert(LiveEvent::new(event));
        let response = self.schema.execute(request).await;
        if !response.errors.is_empty() {
            let messages: Vec<String> = response.errors.into_iter().map(|e| e.message).collect();
            return Err(messages.join("; "));
        }
        let data = response.data.into_json().map_err(|e| e.to_string())?;
        let event = data.get("event").cloned().unwrap_or_default();
        let text = |field: &str| {
            event
                .get(field)
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let cursor = text("cursor").ok_or("a stored event without a cursor")?;
        let kind = text("kind").ok_or("an event without a kind")?;
        Ok(RenderedEvent {
            cursor,
            kind,
            occurred_at: event.get("occurredAt").cloned().unwrap_or_default(),
            event,
        })
    }
}

impl EventRenderer for SchemaRenderer {
    fn render<'a>(
        &'a self,
        viewer: Viewer,
        event: Event,
    ) -> Pin<Box<dyn Future<Output = Result<RenderedEvent, String>> + Send + 'a>> {
        Box::pin(self.render_event(viewer, event))
    }
}

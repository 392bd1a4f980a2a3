//! Database access for webhooks and their deliveries.
//! Rows and queries only: the rules live in `service.rs`, delivery in `worker.rs`.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::ids::{ApiKeyId, IdKind, OrganizationId, WebhookDeliveryId, WebhookId};
use crate::db::page::{PageRequest, SortOrder, keyset};
use crate::db::schema::{webhook_deliveries, webhooks};
use crate::domain::events::EventKind;

/// Webhooks list oldest first.
pub const ORDER: SortOrder = SortOrder::Ascending;
/// Deliveries list newest first.
pub const DELIVERY_ORDER: SortOrder = SortOrder::Descending;

crate::text_enum! {
    /// Where a delivery stands.
    pub enum DeliveryStatus {
        /// Not delivered yet: waiting for its turn or its next retry.
        Pending = "pending",
        /// The endpoint answered 2xx.
        Succeeded = "succeeded",
        /// Retries ran out; the endpoint was disabled.
        Failed = "failed",
    }
}

/// An endpoint that receives the organization's events.
#[derive(Queryable, QueryableByName, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = webhooks)]
pub struct Webhook {
    pub id: WebhookId,
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub url: String,
    pub description: Option<String>,
    /// The stored names of the kinds delivered; `None` delivers every kind.
    pub event_kinds: Option<Vec<Option<String>>>,
    /// The signing key.
    pub secret: String,
    /// The api key that created it.
    pub api_key_id: ApiKeyId,
    /// The event log position read through.
    pub event_cursor: i64,
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_reason: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub lease_token: Option<String>,
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Webhook {
    /// The kinds delivered; `None` for every kind. Names this build does
    /// not know are left out.
    pub fn kinds(&self) -> Option<Vec<EventKind>> {
        let names = self.event_kinds.as_ref()?;
        Some(
            names
                .iter()
                .flatten()
                .filter_map(|name| EventKind::parse(name))
                .collect(),
        )
    }

    /// Whether events of `kind` go to this endpoint.
    pub fn wants(&self, kind: EventKind) -> bool {
        match &self.event_kinds {
            None => true,
            Some(names) => names.iter().flatten().any(|name| name == kind.as_str()),
        }
    }
}

/// A validated webhook to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook {
    pub organization_id: OrganizationId,
    pub public_id: String,
    pub url: String,
    pub description: Option<String>,
    pub event_kinds: Option<Vec<Option<String>>>,
    pub secret: String,
    pub api_key_id: ApiKeyId,
    pub event_cursor: i64,
}

impl NewWebhook {
    /// The public id a new webhook gets.
    pub fn new_public_id() -> String {
        IdKind::Webhook.generate()
    }
}

/// Validated changes; `None` leaves a column alone.
#[derive(AsChangeset, Default, Debug)]
#[diesel(table_name = webhooks)]
pub struct WebhookChanges {
    pub url: Option<String>,
    pub description: Option<Option<String>>,
    pub event_kinds: Option<Option<Vec<Option<String>>>>,
    pub secret: Option<String>,
    pub disabled_at: Option<Option<DateTime<Utc>>>,
    pub disabled_reason: Option<Option<String>>,
    pub next_attempt_at: Option<Option<DateTime<Utc>>>,
}

/// One event sent (or to be sent) to one webhook.
#[derive(Queryable, Selectable, Identifiable, Clone, Debug)]
#[diesel(table_name = webhook_deliveries)]
pub struct WebhookDelivery {
    pub id: WebhookDeliveryId,
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub public_id: String,
    /// The event's cursor, sent as the idempotency key.
    pub event_cursor: String,
    /// The event kind as the API names it (`MESSAGE_ADDED`).
    pub event_kind: String,
    /// The JSON body sent.
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A delivery to insert.
#[derive(Insertable, Debug)]
#[diesel(table_name = webhook_deliveries)]
pub struct NewDelivery {
    pub organization_id: OrganizationId,
    pub webhook_id: WebhookId,
    pub public_id: String,
    pub event_cursor: String,
    pub event_kind: String,
    pub body: String,
}

impl NewDelivery {
    /// A pending delivery of `body` to `webhook`, due now.
    pub fn new(webhook: &Webhook, event_cursor: String, event_kind: String, body: String) -> Self {
        NewDelivery {
            organization_id: webhook.organization_id,
            webhook_id: webhook.id,
            public_id: IdKind::WebhookDelivery.generate(),
            event_cursor,
            event_kind,
            body,
        }
    }
}

/// What one attempt changes on its delivery.
#[derive(AsChangeset, Debug)]
#[diesel(table_name = webhook_deliveries)]
pub struct AttemptRecord {
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_status: Option<Option<i32>>,
    pub last_error: Option<Option<String>>,
    pub delivered_at: Option<Option<DateTime<Utc>>>,
}

crate::tenant_rows!(webhooks => Webhook, id WebhookId {
    insert(NewWebhook), find, by_ids, update_stamped(WebhookChanges) as update, delete
});
crate::tenant_rows!(webhook_deliveries => WebhookDelivery, id WebhookDeliveryId {
    insert(NewDelivery) as insert_delivery, find as find_delivery
});

/// One page of the organization's webhooks, oldest first.
pub async fn page(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    page: &PageRequest,
) -> QueryResult<Vec<Webhook>> {
    let query = webhooks::table
        .filter(webhooks::organization_id.eq(organization_id))
        .select(Webhook::as_select())
        .into_boxed();
    keyset(query, webhooks::id, &page.scan(ORDER))
        .load(conn)
        .await
}

/// How many webhooks the organization has.
pub async fn count(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
) -> QueryResult<i64> {
    webhooks::table
        .filter(webhooks::organization_id.eq(organization_id))
        .count()
        .get_result(conn)
        .await
}

fn deliveries_of(
    organization_id: OrganizationId,
    webhook_id: WebhookId,
    status: Option<DeliveryStatus>,
) -> webhook_deliveries::BoxedQuery<'static, Pg> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::organization_id.eq(organization_id))
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(webhook_deliveries::status.eq(status));
    }
    query
}

/// One page of a webhook's deliveries (with `status`, when given), newest first.
pub async fn delivery_page(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    webhook_id: WebhookId,
    status: Option<DeliveryStatus>,
    page: &PageRequest,
) -> QueryResult<Vec<WebhookDelivery>> {
    let query =
        deliveries_of(organization_id, webhook_id, status).select(WebhookDelivery::as_select());
    keyset(query, webhook_deliveries::id, &page.scan(DELIVERY_ORDER))
        .load(conn)
        .await
}

/// How many deliveries a webhook has (with `status`, when given).
pub async fn delivery_count(
    conn: &mut AsyncPgConnection,
    organization_id: OrganizationId,
    webhook_id: WebhookId,
    status: Option<DeliveryStatus>,
) -> QueryResult<i64> {
    deliveries_of(organization_id, webhook_id, status)
        .count()
        .get_result(conn)
        .await
}

/// Claims up to `limit` enabled webhooks that are due and not leased, for
/// `lease` from now under `token`. `SKIP LOCKED` lets instances claim side
/// by side without waiting on each other; a lease already held (by another
/// instance, or by this one) keeps its webhook out until it ends.
///
/// A webhook is due at its `next_attempt_at`; one without (caught up) only
/// once its organization's log has moved past its cursor or a delivery is
/// pending (a redelivery asked for during a pass), so an idle webhook costs
/// two index probes a poll. A claim makes the webhook due at once, so
/// that an instance that dies mid-pass leaves it to be claimed again when
/// the lease runs out; the release sets when it is next due.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    token: &str,
    lease: std::time::Duration,
    limit: i64,
) -> QueryResult<Vec<Webhook>> {
    diesel::sql_query(
        "UPDATE webhooks SET lease_token = $1, lease_until = now() + $2 * interval '1 millisecond',
                             next_attempt_at = now()
         WHERE id IN (
             SELECT w.id FROM webhooks w
             WHERE w.disabled_at IS NULL
               AND (w.lease_until IS NULL OR w.lease_until < now())
               AND (w.next_attempt_at <= now()
                    OR (w.next_attempt_at IS NULL
                        AND (EXISTS (SELECT 1 FROM events e
                                     WHERE e.organization_id = w.organization_id
                                       AND e.position > w.event_cursor)
                             OR EXISTS (SELECT 1 FROM webhook_deliveries d
                                        WHERE d.webhook_id = w.id AND d.status = 'pending'))))
             ORDER BY w.next_attempt_at NULLS FIRST, w.id
             LIMIT $3
             FOR UPDATE SKIP LOCKED
         )
         RETURNING *",
    )
    .bind::<Text, _>(token)
    .bind::<BigInt, _>(lease.as_millis() as i64)
    .bind::<BigInt, _>(limit)
    .load(conn)
    .await
}

/// Extends the lease on `id` when `token` still holds it; false when the
/// lease was lost (it ran out and another instance took it, or the webhook
/// was deleted or disabled).
pub async fn renew(
    conn: &mut AsyncPgConnection,
    id: WebhookId,
    token: &str,
    lease: std::time::Duration,
) -> QueryResult<bool> {
    let until = Utc::now() + chrono::Duration::milliseconds(lease.as_millis() as i64);
    let renewed = diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::lease_token.eq(token))
            .filter(webhooks::disabled_at.is_null()),
    )
    .set(webhooks::lease_until.eq(until))
    .execute(conn)
    .await?;
    Ok(renewed > 0)
}

/// Ends the lease `token` holds on `id`; the webhook is next due at `next`
/// (`None`: at the next poll).
pub async fn release(
    conn: &mut AsyncPgConnection,
    id: WebhookId,
    token: &str,
    next: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .filter(webhooks::id.eq(id))
            .filter(webhooks::lease_token.eq(token)),
    )
    .set((
        webhooks::lease_token.eq(None::<String>),
        webhooks::lease_until.eq(None::<DateTime<Utc>>),
        webhooks::next_attempt_at.eq(next),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the webhook's log position to `cursor`.
pub async fn advance(conn: &mut AsyncPgConnection, id: WebhookId, cursor: i64) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id))
        .set(webhooks::event_cursor.eq(cursor))
        .execute(conn)
        .await?;
    Ok(())
}

/// Disables the webhook, saying why.
pub async fn disable(conn: &mut AsyncPgConnection, id: WebhookId, reason: &str) -> QueryResult<()> {
    diesel::update(webhooks::table.find(id))
        .set((
            webhooks::disabled_at.eq(diesel::dsl::now),
            webhooks::disabled_reason.eq(reason),
            webhooks::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// The webhook's oldest pending delivery: the next to send, in order.
pub async fn next_pending(
    conn: &mut AsyncPgConnection,
    webhook_id: WebhookId,
) -> QueryResult<Option<WebhookDelivery>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending))
        .order(webhook_deliveries::id.asc())
        .select(WebhookDelivery::as_select())
        .first(conn)
        .await
        .optional()
}

/// Inserts deliveries, in order.
pub async fn insert_deliveries(
    conn: &mut AsyncPgConnection,
    deliveries: &[NewDelivery],
) -> QueryResult<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    diesel::insert_into(webhook_deliveries::table)
        .values(deliveries)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records an attempt's outcome on its delivery.
pub async fn record_attempt(
    conn: &mut AsyncPgConnection,
    id: WebhookDeliveryId,
    record: &AttemptRecord,
) -> QueryResult<()> {
    diesel::update(webhook_deliveries::table.find(id))
        .set(record)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes finished (succeeded or failed) deliveries made before `before`;
/// returns how many. Pending ones stay, whatever their age.
pub async fn prune_deliveries(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::delete(
        webhook_deliveries::table
            .filter(webhook_deliveries::created_at.lt(before))
            .filter(webhook_deliveries::status.ne(DeliveryStatus::Pending)),
    )
    .execute(conn)
    .await
}

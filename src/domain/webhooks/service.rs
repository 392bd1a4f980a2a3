//! The webhook operations: create (returning the secret once), update,
//! delete, rotate the secret, and redeliver. Each runs in the caller's `Tx`.

use super::model::{self, NewDelivery, NewWebhook, Webhook, WebhookChanges, WebhookDelivery};
use super::signing::generate_secret;
use super::target::{Refusal, TargetPolicy};
use crate::db::ids::ApiKeyId;
use crate::domain::auth::{Actor, Viewer};
use crate::domain::errors::{Change, Code, DomainError, DomainResult, Violation, Violations};
use crate::domain::events::EventKind;
use crate::domain::events::model::settled_position;
use crate::domain::tx::Tx;

/// Longest description.
const MAX_DESCRIPTION: usize = 500;
/// Longest URL.
const MAX_URL: usize = 2048;

/// What `create_webhook` is asked.
#[derive(Debug)]
pub struct CreateWebhook {
    pub url: String,
    /// The kinds to deliver; `None` for every kind.
    pub events: Option<Vec<EventKind>>,
    pub description: Option<String>,
}

/// What `update_webhook` is asked: `Keep` and `None` leave a field alone.
#[derive(Debug, Default)]
pub struct UpdateWebhook {
    /// The webhook's public id.
    pub id: String,
    pub url: Option<String>,
    /// `Clear` delivers every kind.
    pub events: Change<Vec<EventKind>>,
    pub description: Change<String>,
    /// `true` re-enables a disabled webhook (it resumes where it stopped),
    /// `false` disables it.
    pub enabled: Option<bool>,
}

/// The api key acting: only api keys manage webhooks (the API refuses
/// other tokens before getting here).
fn api_key(viewer: &Viewer) -> DomainResult<ApiKeyId> {
    match viewer.actor {
        Actor::ApiKey(id) => Ok(id),
        Actor::User(_) | Actor::Contact(_) => Err(DomainError::Rejected(vec![Violation {
            field: Vec::new(),
            code: Code::InvalidValue,
            message: "only api keys manage webhooks".to_string(),
        }])),
    }
}

/// Checks a target URL against the policy, recording why it is refused.
async fn checked_url(
    violations: &mut Violations,
    policy: TargetPolicy,
    url: &str,
) -> Option<String> {
    if url.chars().count() > MAX_URL {
        violations.push(
            "url",
            Code::TooLong,
            format!("url must be at most {MAX_URL} characters"),
        );
        return None;
    }
    match policy.check(url).await {
        // Normalising may lengthen it (percent-encoding).
        Ok(url) if url.chars().count() > MAX_URL => {
            violations.push(
                "url",
                Code::TooLong,
                format!("url must be at most {MAX_URL} characters"),
            );
            None
        }
        Ok(url) => Some(url),
        Err(Refusal::InvalidUrl(why)) => {
            violations.push("url", Code::InvalidUrl, why);
            None
        }
        Err(Refusal::Unresolvable(why)) => {
            violations.push("url", Code::InvalidUrl, why);
            None
        }
        Err(Refusal::PrivateAddress(why)) => {
            violations.push(
                "url",
                Code::PrivateAddress,
                format!("{why}: webhooks may only call public addresses"),
            );
            None
        }
    }
}

/// The stored names of the kinds asked for: at least one, no duplicates,
/// and not `TYPING` (ephemeral, never stored, so never delivered).
fn event_names(violations: &mut Violations, kinds: &[EventKind]) -> Option<Vec<Option<String>>> {
    if kinds.is_empty() {
        violations.push(
            "events",
            Code::Required,
            "give at least one event kind, or null for every kind",
        );
        return None;
    }
    let mut names: Vec<Option<String>> = Vec::with_capacity(kinds.len());
    for (index, kind) in kinds.iter().enumerate() {
        if *kind == EventKind::Typing {
            violations.push_violation(Violation::on_item(
                "events",
                index,
                Code::InvalidValue,
                "typing events are ephemeral and never delivered to webhooks",
            ));
            continue;
        }
        let name = Some(kind.as_str().to_string());
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Some(names)
}

/// Registers a webhook that receives the organization's events from now
/// on; returns it with its signing secret (shown only here).
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id))]
pub async fn create_webhook(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    policy: TargetPolicy,
    request: CreateWebhook,
) -> DomainResult<(Webhook, String)> {
    let api_key_id = api_key(viewer)?;
    let mut violations = Violations::default();
    let url = checked_url(&mut violations, policy, &request.url).await;
    let description = violations.optional_text(
        "description",
        request.description.as_deref(),
        MAX_DESCRIPTION,
    );
    let event_kinds = match &request.events {
        Some(kinds) => event_names(&mut violations, kinds),
        None => None,
    };
    violations.finish()?;
    let Some(url) = url else {
        return Err(DomainError::on_input(
            "url",
            Code::InvalidUrl,
            "url is required",
        ));
    };
    // From what had settled when it was made: an event a transaction still
    // running will commit has a higher position, and is delivered.
    let latest = settled_position(tx).await?;
    let secret = generate_secret();
    let new = NewWebhook {
        organization_id: viewer.organization_id,
        public_id: NewWebhook::new_public_id(),
        url,
        description,
        event_kinds,
        secret: secret.clone(),
        api_key_id,
        event_cursor: latest,
    };
    let webhook = model::insert(tx, &new).await?;
    Ok((webhook, secret))
}

/// The organization's webhook with this id, or `NOT_FOUND` on `field`.
async fn find(tx: &mut Tx<'_>, viewer: &Viewer, field: &str, id: &str) -> DomainResult<Webhook> {
    api_key(viewer)?;
    model::find(tx, viewer.organization_id, id)
        .await?
        .ok_or_else(|| DomainError::not_found(field, id))
}

/// Changes a webhook's URL, event kinds, description, or whether it is enabled.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, webhook = %request.id))]
pub async fn update_webhook(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    policy: TargetPolicy,
    request: UpdateWebhook,
) -> DomainResult<Webhook> {
    let webhook = find(tx, viewer, "id", &request.id).await?;
    let mut violations = Violations::default();
    let mut changes = WebhookChanges::default();
    if let Some(url) = &request.url {
        changes.url = checked_url(&mut violations, policy, url).await;
    }
    changes.description = match request.description {
        Change::Keep => None,
        Change::Clear => Some(None),
        Change::Set(text) => {
            Some(violations.optional_text("description", Some(&text), MAX_DESCRIPTION))
        }
    };
    changes.event_kinds = match &request.events {
        Change::Keep => None,
        Change::Clear => Some(None),
        Change::Set(kinds) => event_names(&mut violations, kinds).map(Some),
    };
    violations.finish()?;
    match request.enabled {
        Some(true) if webhook.disabled_at.is_some() => {
            changes.disabled_at = Some(None);
            changes.disabled_reason = Some(None);
            // Due at once: its pending deliveries go out first.
            changes.next_attempt_at = Some(Some(chrono::Utc::now()));
        }
        Some(false) if webhook.disabled_at.is_none() => {
            changes.disabled_at = Some(Some(chrono::Utc::now()));
            changes.disabled_reason = Some(Some("disabled through the API".to_string()));
        }
        Some(_) | None => {}
    }
    Ok(model::update(tx, webhook.id, &changes).await?)
}

/// Deletes a webhook with its deliveries.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, webhook = %id))]
pub async fn delete_webhook(tx: &mut Tx<'_>, viewer: &Viewer, id: &str) -> DomainResult<()> {
    let webhook = find(tx, viewer, "id", id).await?;
    model::delete(tx, webhook.id).await?;
    Ok(())
}

/// Gives a webhook a new signing secret, used from the next attempt on;
/// returns it (shown only here).
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, webhook = %id))]
pub async fn rotate_secret(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    id: &str,
) -> DomainResult<(Webhook, String)> {
    let webhook = find(tx, viewer, "id", id).await?;
    let secret = generate_secret();
    let changes = WebhookChanges {
        secret: Some(secret.clone()),
        ..WebhookChanges::default()
    };
    let webhook = model::update(tx, webhook.id, &changes).await?;
    Ok((webhook, secret))
}

/// Sends a delivery's event again, after the webhook's pending ones: a new
/// delivery with the same body and idempotency key.
#[tracing::instrument(skip_all, fields(organization_id = %viewer.organization_id, delivery = %delivery_id))]
pub async fn redeliver(
    tx: &mut Tx<'_>,
    viewer: &Viewer,
    delivery_id: &str,
) -> DomainResult<WebhookDelivery> {
    api_key(viewer)?;
    let org = viewer.organization_id;
    let original = model::find_delivery(tx, org, delivery_id)
        .await?
        .ok_or_else(|| DomainError::not_found("deliveryId", delivery_id))?;
    let webhook = model::by_ids(tx, org, &[original.webhook_id])
        .await?
        .pop()
        .ok_or_else(|| DomainError::not_found("deliveryId", delivery_id))?;
    let new = NewDelivery::new(
        &webhook,
        original.event_cursor,
        original.event_kind,
        original.body,
    );
    let delivery = model::insert_delivery(tx, &new).await?;
    // Due now (unless its turn comes later, or the webhook is disabled).
    let due = WebhookChanges {
        next_attempt_at: Some(Some(chrono::Utc::now())),
        ..WebhookChanges::default()
    };
    model::update(tx, webhook.id, &due).await?;
    Ok(delivery)
}

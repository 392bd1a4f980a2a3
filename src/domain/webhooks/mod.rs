//! Webhooks: endpoints that receive the organization's events over HTTP,
//! their deliveries (signed, retried, in order) and the SSRF guard on targets.
//!
//! `model` holds the rows and queries, `service` the operations the API
//! calls, `target` which addresses may be called, `signing` the signature
//! headers, and `worker` the background loop that delivers from the event
//! log (a lease per endpoint, so one instance delivers each event, in order).

pub mod model;
pub mod service;
pub mod signing;
pub mod target;
pub mod worker;

pub use model::{DeliveryStatus, Webhook, WebhookDelivery};
pub use target::TargetPolicy;
pub use worker::{DeliverySettings, EventRenderer, RenderedEvent};

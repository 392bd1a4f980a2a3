//! The domain: what confab's concepts are and the rules they keep, with no
//! knowledge of GraphQL or HTTP. It reads and writes through `db`.

pub mod auth;
pub mod channel_kind;
pub mod channels;
pub mod contacts;
pub mod conversations;
pub mod demo;
pub mod errors;
pub mod events;
pub mod messages;
pub mod organizations;
pub mod reads;
pub mod search;
pub mod threads;
pub mod tx;
pub mod validation;
pub mod webhooks;

//! Conversations (Monica): logged exchanges with one contact on a channel
//! kind and a date, and their messages.

pub mod model;
pub mod service;

pub use model::Conversation;

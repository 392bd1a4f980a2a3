//! Conversations (Monica): logged exchanges with one contact, and their messages.

pub mod model;

pub use model::Conversation;

//! Conversations (Monica): logged exchanges with one contact, and their messages.

mod graphql;
pub mod model;

pub use graphql::{ConversationConnectionFields, ConversationsMutation, ConversationsQuery};
pub use model::Conversation;

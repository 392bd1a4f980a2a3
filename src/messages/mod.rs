//! Messages of threads and conversations, and their reactions.

mod graphql;
pub mod model;

pub use graphql::{
    MessagesMutation, ReactionGroup, check_text, find_visible_reaction_group,
    find_visible_thread_message, message_page, recent_messages,
};
pub use model::Message;

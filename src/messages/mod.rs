//! Messages of threads and conversations, and their reactions.

mod graphql;
pub mod model;

pub use graphql::{
    MessagesMutation, check_text, find_visible_thread_message, message_page, recent_messages,
};
pub use model::Message;

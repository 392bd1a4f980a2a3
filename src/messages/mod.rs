//! Messages of threads and conversations, and their reactions.

mod graphql;
pub mod model;

pub use graphql::{MessagesMutation, check_text, find_visible_thread_message};
pub use model::Message;

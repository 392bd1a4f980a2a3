//! Messages of threads and conversations, and their reactions.

pub mod model;

pub use model::Message;

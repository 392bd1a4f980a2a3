//! Messages of threads and conversations, and their reactions: rows, pages
//! and the queries the resolvers and the publisher use.

pub mod kind;
pub mod model;
pub mod service;

pub use model::Message;

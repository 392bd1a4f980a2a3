//! Threads: the live message containers, with their subscribers, membership
//! (joining, naming members) and read state.

pub mod members;
pub mod model;
pub mod service;
pub mod subscribers;

pub use model::Thread;
pub use subscribers::Subscriber;

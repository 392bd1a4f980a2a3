//! Channels: one per distinct set of subscribers, fed by thread messages
//! published now or on schedule.

pub mod model;
pub mod publishing;
pub mod service;

pub use model::Channel;

//! Channels: one per distinct set of subscribers, fed by thread messages
//! published now or on schedule.

mod graphql;
pub mod model;
pub mod publishing;

pub use graphql::{ChannelsMutation, ChannelsQuery, Target, publish_message};
pub use model::Channel;

//! Threads: the live message containers, with their subscribers and read state.

mod graphql;
pub mod model;
pub mod subscribers;

pub use graphql::{
    MemberDetails, SubscriberKind, ThreadConnectionFields, ThreadsMutation, ThreadsQuery,
    describe_members, find_member, join_thread, member_details, member_name, record,
};
pub use model::Thread;
pub use subscribers::Subscriber;

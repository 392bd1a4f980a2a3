//! Contacts: the external people an organization talks to (candidates,
//! guests, customers).

mod graphql;
pub mod model;

pub use graphql::{ContactsMutation, ContactsQuery, find_visible};
pub use model::Contact;

//! Contacts: the external people an organization talks to (candidates,
//! guests, customers).

pub mod model;

pub use model::Contact;

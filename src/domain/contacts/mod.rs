//! Contacts: the external people an organization talks to (candidates,
//! guests, customers).

pub mod model;
pub mod service;

pub use model::Contact;

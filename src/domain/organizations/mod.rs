//! Tenants and who acts in them: organizations, their users, api keys and
//! user tokens.

pub mod model;

pub use model::{ApiKey, Organization, User};

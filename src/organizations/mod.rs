//! Tenants and who acts in them: organizations, their users, api keys and
//! user tokens.

mod graphql;
pub mod model;

pub use graphql::ViewerQuery;
pub use model::{ApiKey, Organization, User};

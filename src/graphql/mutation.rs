//! `mutate`: how every mutation runs. One transaction (a domain `Tx`) per
//! mutation, its events appended at commit, its outcome mapped to a payload.

use async_graphql::Context;

use super::context::db;
use super::errors::{ApiError, MutationError, Payload};
use crate::domain::tx::{self, Tx};

/// Runs `body` in one transaction on a pooled connection: on `Ok` the
/// events it recorded are appended and it commits, on `Err` it rolls back.
/// User errors become the payload's `userErrors`, anything else a
/// top-level error.
pub async fn mutate<P, T, F>(ctx: &Context<'_>, body: F) -> Result<P, ApiError>
where
    P: Payload<T>,
    F: AsyncFnOnce(&mut Tx<'_>) -> Result<T, MutationError>,
{
    let mut conn = db(ctx).await?;
    P::from_result(tx::run(&mut conn, body).await)
}

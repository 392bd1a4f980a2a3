//! How every mutation runs (`mutate`, and `mutations!` to declare resolvers):
//! one domain `Tx` per mutation, events appended at commit, outcome to payload.

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

/// Declares a mutation root: a unit struct (`Default`, to be merged into
/// `Mutation`) and its `#[Object]` resolvers. Each resolver takes the caller
/// the same way (`as viewer`, or `as staff_viewer` to refuse contact
/// tokens), runs its body in `mutate` (one transaction) with the names
/// given for the transaction and the caller, and maps the body's value to
/// its payload; the body may use `?` on domain results.
///
/// ```ignore
/// mutations! {
///     /// `Mutation.deleteWebhook`.
///     WebhooksMutation as staff_viewer, |tx, viewer| {
///         /// Deletes a webhook; returns its id.
///         fn delete_webhook(input: DeleteWebhookInput) -> DeleteWebhookPayload {
///             service::delete_webhook(tx, &viewer, &input.id).await?;
///             input.id.clone()
///         }
///     }
/// }
/// ```
macro_rules! mutations {
    ($(#[$meta:meta])* $root:ident as $who:ident, |$tx:ident, $viewer:ident| {
        $(
            $(#[$field_meta:meta])*
            fn $name:ident($input:ident: $input_ty:ty $(,)?) -> $payload:ty $body:block
        )*
    }) => {
        $(#[$meta])*
        #[derive(Default)]
        pub struct $root;

        #[async_graphql::Object]
        impl $root {
            $(
                $(#[$field_meta])*
                async fn $name(
                    &self,
                    ctx: &async_graphql::Context<'_>,
                    $input: $input_ty,
                ) -> Result<$payload, $crate::graphql::errors::ApiError> {
                    let $viewer = $crate::graphql::context::$who(ctx)?;
                    $crate::graphql::mutation::mutate(ctx, async |$tx| Ok($body)).await
                }
            )*
        }
    };
}
pub(crate) use mutations;

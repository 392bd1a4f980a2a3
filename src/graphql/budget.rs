//! A cap on the size of one response, enforced while it is built.
//!
//! Cost analysis bounds how many values a query may return, not how long
//! each is (a message holds up to 20,000 characters). This extension adds up
//! the size of every value as its field resolves and fails the request once
//! the total passes the cap, so an oversized response is never built whole.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensionValues, ServerError, ServerResult, Value};

/// The code of the error a too large response is replaced with.
pub const RESPONSE_TOO_LARGE: &str = "RESPONSE_TOO_LARGE";

/// Installs a per-request response size budget of `max_bytes`.
pub struct ResponseBudget {
    pub max_bytes: usize,
}

impl ExtensionFactory for ResponseBudget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget {
            max_bytes: self.max_bytes,
            used: AtomicUsize::new(0),
        })
    }
}

struct Budget {
    max_bytes: usize,
    used: AtomicUsize,
}

impl Budget {
    fn exceeded(&self) -> ServerError {
        let mut error = ServerError::new(
            format!(
                "the response would be larger than {} bytes: ask for smaller pages or fewer fields",
                self.max_bytes
            ),
            None,
        );
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", RESPONSE_TOO_LARGE);
        error.extensions = Some(extensions);
        error
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for Budget {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if self.used.load(Ordering::Relaxed) > self.max_bytes {
            return Err(self.exceeded());
        }
        let key = info.alias.unwrap_or(info.name).len();
        let value = next.run(ctx, info).await?;
        // Objects' own fields are counted as they resolve; count the key,
        // the punctuation and any scalars held directly.
        let size = key + 4 + value.as_ref().map_or(4, scalar_bytes);
        if self.used.fetch_add(size, Ordering::Relaxed) + size > self.max_bytes {
            return Err(self.exceeded());
        }
        Ok(value)
    }
}

/// Bytes a value's scalars take when serialised (objects count as braces).
fn scalar_bytes(value: &Value) -> usize {
    match value {
        Value::String(text) => text.len() + 2,
        Value::List(items) => items.iter().map(scalar_bytes).sum::<usize>() + items.len() + 2,
        Value::Object(_) => 2,
        _ => 8,
    }
}

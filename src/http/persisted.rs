//! Automatic persisted queries (Apollo's APQ): once the server has seen a
//! query, a client may send its SHA-256 in place of its text.
//!
//! `extensions.persistedQuery` is `{version: 1, sha256Hash}`. With the hash
//! alone the server uses the text it kept, or answers
//! `PERSISTED_QUERY_NOT_FOUND` so that the client sends both; with both, the
//! hash must be the text's, and the text is kept once it passes the document
//! checks. Texts are kept by hash, so a caller can only ever get back a text
//! it could have sent itself; they are bounded in number and in size.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::{Request, ServerError, Value};
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::response::coded_error;

/// Texts kept.
const CAPACITY: usize = 4096;
/// Longest text kept, in bytes.
const MAX_KEPT_BYTES: usize = 16 * 1024;

/// The kept texts, by lowercase hex SHA-256.
pub struct PersistedQueries {
    texts: Mutex<LruCache<String, Arc<str>>>,
}

impl Default for PersistedQueries {
    fn default() -> Self {
        let capacity = NonZeroUsize::new(CAPACITY).unwrap_or(NonZeroUsize::MIN);
        PersistedQueries {
            texts: Mutex::new(LruCache::new(capacity)),
        }
    }
}

impl PersistedQueries {
    /// Fills in the text of a request that sent only a hash. Returns the
    /// hash under which to `keep` the text once it passes the checks, when
    /// the request sent both.
    pub fn resolve(&self, request: &mut Request) -> Result<Option<String>, ServerError> {
        let Some(persisted) = request.extensions.0.get("persistedQuery") else {
            return Ok(None);
        };
        let hash = requested_hash(persisted)?;
        if request.query.is_empty() {
            let text = self.lock().get(&hash).cloned();
            let Some(text) = text else {
                // The message is what Apollo's clients look for.
                return Err(coded_error(
                    "PersistedQueryNotFound",
                    "PERSISTED_QUERY_NOT_FOUND",
                ));
            };
            request.query = text.to_string();
            return Ok(None);
        }
        if format!("{:x}", Sha256::digest(request.query.as_bytes())) != hash {
            return Err(coded_error(
                "persistedQuery.sha256Hash is not the SHA-256 of the query",
                "PERSISTED_QUERY_HASH_MISMATCH",
            ));
        }
        Ok(Some(hash))
    }

    /// Keeps `text` under `hash` (from `resolve`), if it is not too long.
    pub fn keep(&self, hash: String, text: &str) {
        if text.len() <= MAX_KEPT_BYTES {
            self.lock().put(hash, text.into());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<String, Arc<str>>> {
        self.texts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The hash of `{version: 1, sha256Hash}`: 64 hex digits, lowercased.
fn requested_hash(persisted: &Value) -> Result<String, ServerError> {
    let invalid = |message: &str| coded_error(message, "PERSISTED_QUERY_INVALID");
    let Value::Object(fields) = persisted else {
        return Err(invalid("extensions.persistedQuery must be an object"));
    };
    if fields.get("version") != Some(&Value::from(1)) {
        return Err(invalid("extensions.persistedQuery.version must be 1"));
    }
    match fields.get("sha256Hash") {
        Some(Value::String(hash))
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Ok(hash.to_ascii_lowercase())
        }
        _ => Err(invalid(
            "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUERY: &str = "{ viewer { organization { id } } }";

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        let persisted = serde_json::json!({ "version": 1, "sha256Hash": hash });
        request.extensions.0.insert(
            "persistedQuery".into(),
            Value::from_json(persisted).unwrap_or_default(),
        );
        request
    }

    #[test]
    fn a_hash_alone_is_found_only_once_its_text_was_kept() {
        let cache = PersistedQueries::default();
        let hash = format!("{:x}", Sha256::digest(QUERY.as_bytes()));
        let unknown = cache.resolve(&mut with_hash("", &hash));
        assert!(unknown.is_err_and(|e| e.message == "PersistedQueryNotFound"));

        let mut both = with_hash(QUERY, &hash.to_ascii_uppercase());
        let keep = cache.resolve(&mut both).ok().flatten();
        assert_eq!(keep.as_deref(), Some(hash.as_str()));
        cache.keep(hash.clone(), QUERY);

        let mut alone = with_hash("", &hash);
        assert!(cache.resolve(&mut alone).is_ok_and(|keep| keep.is_none()));
        assert_eq!(alone.query, QUERY);
    }

    #[test]
    fn a_wrong_or_malformed_hash_is_refused() {
        let cache = PersistedQueries::default();
        let other = format!("{:x}", Sha256::digest(b"{ other }"));
        assert!(cache.resolve(&mut with_hash(QUERY, &other)).is_err());
        assert!(cache.resolve(&mut with_hash("", "abc")).is_err());
        assert!(
            cache
                .resolve(&mut Request::new(QUERY))
                .is_ok_and(|k| k.is_none())
        );
    }
}

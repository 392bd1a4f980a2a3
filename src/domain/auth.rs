//! Bearer tokens and the caller they stand for.
//!
//! Tokens are random, shown once, and stored as their SHA-256. The prefix
//! says what a token is (`cfk_` api key, `cfu_` user, `cfc_` contact), so a lookup touches one
//! table and leaked tokens are easy for secret scanners to spot.

use diesel_async::AsyncPgConnection;
use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::db::ids::{ApiKeyId, ContactId, OrganizationId, UserId};
use crate::domain::contacts;
use crate::domain::organizations::model;

/// Random characters after the prefix (about 238 bits).
const TOKEN_RANDOM_LEN: usize = 40;

/// What a token acts as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Acts for its whole organization.
    ApiKey,
    /// Acts as one user.
    User,
    /// Acts as one contact: sees only the threads it subscribes to.
    Contact,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::ApiKey => "cfk_",
            TokenKind::User => "cfu_",
            TokenKind::Contact => "cfc_",
        }
    }
}

/// A new token and the hash to store for it.
pub fn generate_token(kind: TokenKind) -> (String, Vec<u8>) {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(TOKEN_RANDOM_LEN)
        .map(char::from)
        .collect();
    let token = format!("{}{random}", kind.prefix());
    let hash = hash_token(&token);
    (token, hash)
}

/// The stored form of a token.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Who is calling: every query is scoped to `organization_id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Viewer {
    /// The caller's organization; nothing outside it is visible.
    pub organization_id: OrganizationId,
    /// The credential's holder.
    pub actor: Actor,
}

/// The holder of a credential.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An api key, by internal id.
    ApiKey(ApiKeyId),
    /// A user, by internal id.
    User(UserId),
    /// A contact, by internal id.
    Contact(ContactId),
}

impl Actor {
    /// The actor as the (user, api key, contact) id columns that membership
    /// tables store, exactly one of them set.
    pub fn columns(self) -> (Option<UserId>, Option<ApiKeyId>, Option<ContactId>) {
        match self {
            Actor::User(id) => (Some(id), None, None),
            Actor::ApiKey(id) => (None, Some(id), None),
            Actor::Contact(id) => (None, None, Some(id)),
        }
    }

    /// The actor stored in such columns.
    pub fn from_columns(
        user: Option<UserId>,
        api_key: Option<ApiKeyId>,
        contact: Option<ContactId>,
    ) -> Option<Actor> {
        match (user, api_key, contact) {
            (Some(id), _, _) => Some(Actor::User(id)),
            (_, Some(id), _) => Some(Actor::ApiKey(id)),
            (_, _, Some(id)) => Some(Actor::Contact(id)),
            _ => None,
        }
    }
}

/// The bearer token in an `Authorization` header value, if any.
pub fn bearer_token(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The viewer a token stands for; `None` for an unknown or revoked token.
pub async fn authenticate(
    conn: &mut AsyncPgConnection,
    token: &str,
) -> diesel::QueryResult<Option<Viewer>> {
    let hash = hash_token(token);
    let kind = [TokenKind::ApiKey, TokenKind::User, TokenKind::Contact]
        .into_iter()
        .find(|kind| token.starts_with(kind.prefix()));
    let found = match kind {
        Some(TokenKind::ApiKey) => model::find_api_key_by_token_hash(conn, &hash)
            .await?
            .map(|(organization, id)| (organization, Actor::ApiKey(id))),
        Some(TokenKind::User) => model::find_user_by_token_hash(conn, &hash)
            .await?
            .map(|(organization, id)| (organization, Actor::User(id))),
        Some(TokenKind::Contact) => contacts::model::find_by_token_hash(conn, &hash)
            .await?
            .map(|(organization, id)| (organization, Actor::Contact(id))),
        None => None,
    };
    Ok(found.map(|(organization_id, actor)| Viewer {
        organization_id,
        actor,
    }))
}

/// Remembers recently verified tokens for a few seconds, so a busy client
/// costs one token lookup per interval rather than one per request. A
/// revoked token stops working within `ttl`.
pub struct TokenCache {
    ttl: std::time::Duration,
    entries: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (Viewer, std::time::Instant)>>,
}

/// Most tokens remembered at once; the cache starts over beyond this.
const TOKEN_CACHE_CAPACITY: usize = 10_000;

impl TokenCache {
    /// A cache keeping verified tokens for `ttl`.
    pub fn new(ttl: std::time::Duration) -> Self {
        TokenCache {
            ttl,
            entries: std::sync::Mutex::default(),
        }
    }

    /// The viewer of a token, from the cache or the database.
    pub async fn authenticate(
        &self,
        conn: impl std::future::Future<Output = Result<crate::db::DbConn, crate::db::PoolOrQueryError>>,
        token: &str,
    ) -> Result<Option<Viewer>, crate::db::PoolOrQueryError> {
        let hash = hash_token(token);
        let now = std::time::Instant::now();
        if let Some((viewer, verified)) = self.lock().get(&hash)
            && now.duration_since(*verified) < self.ttl
        {
            return Ok(Some(*viewer));
        }
        let mut conn = conn.await?;
        let viewer = authenticate(&mut conn, token).await?;
        if let Some(viewer) = viewer {
            let mut entries = self.lock();
            if entries.len() >= TOKEN_CACHE_CAPACITY {
                entries.clear();
            }
            entries.insert(hash, (viewer, now));
        }
        Ok(viewer)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Vec<u8>, (Viewer, std::time::Instant)>>
    {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let (a, hash_a) = generate_token(TokenKind::ApiKey);
        let (b, _) = generate_token(TokenKind::ApiKey);
        assert!(a.starts_with("cfk_"));
        assert_ne!(a, b);
        assert_eq!(hash_a, hash_token(&a));
        assert_eq!(hash_a.len(), 32);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}

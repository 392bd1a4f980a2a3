//! Which web origins may call the API from a browser: the CORS layer for
//! HTTP and the `Origin` check for WebSocket upgrades, from one policy.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The origins allowed to make cross-origin requests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPolicy {
    /// Pages served from this machine (`localhost`, `127.0.0.1`, `[::1]`,
    /// any port): a frontend's dev server. The default.
    Local,
    /// Any origin (`*`). Safe only because credentials are bearer tokens a
    /// page must hold itself, never cookies.
    Any,
    /// No cross-origin requests (`none`).
    None,
    /// Exactly these origins, e.g. `https://app.example.com`.
    List(Vec<String>),
}

impl OriginPolicy {
    /// Reads `CONFAB_CORS_ORIGINS`: `local`, `*`, `none`, or a
    /// comma-separated list of origins.
    pub fn parse(value: &str) -> Result<OriginPolicy, String> {
        match value.trim() {
            "" | "local" => Ok(OriginPolicy::Local),
            "*" => Ok(OriginPolicy::Any),
            "none" => Ok(OriginPolicy::None),
            list => {
                let origins: Vec<String> = list
                    .split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_ascii_lowercase())
                    .filter(|origin| !origin.is_empty())
                    .collect();
                for origin in &origins {
                    let url = url::Url::parse(origin).map_err(|_| {
                        format!("{origin:?} is not an origin like https://app.example.com")
                    })?;
                    if url.origin().ascii_serialization() != *origin {
                        return Err(format!(
                            "{origin:?} is not an origin (scheme, host and port only)"
                        ));
                    }
                }
                Ok(OriginPolicy::List(origins))
            }
        }
    }

    /// Whether a page from `origin` may call the API.
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::None => false,
            OriginPolicy::List(origins) => origins.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            OriginPolicy::Local => url::Url::parse(origin).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
            }),
        }
    }

    /// The CORS layer: `GET` and `POST` with the `authorization` and
    /// `content-type` headers, preflights cached for a day.
    pub fn layer(&self) -> CorsLayer {
        let policy = self.clone();
        let allow = AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|origin| policy.allows(origin))
        });
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                HeaderName::from_static("x-request-id"),
            ])
            .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
            .max_age(PREFLIGHT_MAX_AGE)
    }

    /// Whether a WebSocket upgrade may proceed: clients that send no
    /// `Origin` (not browsers), same-origin pages, and allowed origins.
    pub fn allows_upgrade(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        let same_origin = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|host| {
                url::Url::parse(origin).is_ok_and(|url| {
                    url[url::Position::BeforeHost..url::Position::AfterPort] == *host
                })
            });
        same_origin || self.allows(origin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_allows_this_machine_only() {
        let policy = OriginPolicy::Local;
        assert!(policy.allows("http://localhost:5173"));
        assert!(policy.allows("http://127.0.0.1:3000"));
        assert!(policy.allows("http://[::1]:8080"));
        assert!(!policy.allows("https://evil.example"));
        assert!(!policy.allows("http://localhost.evil.example"));
        assert!(!policy.allows("null"));
    }

    #[test]
    fn lists_are_exact_origins() {
        let policy = OriginPolicy::parse("https://app.example.com, http://localhost:3000/")
            .expect("valid list");
        assert!(policy.allows("https://app.example.com"));
        assert!(policy.allows("http://localhost:3000"));
        assert!(!policy.allows("http://localhost:3001"));
        assert!(!policy.allows("https://app.example.com.evil.example"));
        assert!(OriginPolicy::parse("https://app.example.com/path").is_err());
        assert!(OriginPolicy::parse("not an origin").is_err());
        assert_eq!(OriginPolicy::parse("*"), Ok(OriginPolicy::Any));
        assert_eq!(OriginPolicy::parse("none"), Ok(OriginPolicy::None));
    }

    #[test]
    fn upgrades_check_origin_unless_same_origin() {
        let mut headers = HeaderMap::new();
        assert!(
            OriginPolicy::None.allows_upgrade(&headers),
            "no Origin: not a browser"
        );
        headers.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(OriginPolicy::None.allows_upgrade(&headers), "same origin");
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!OriginPolicy::Local.allows_upgrade(&headers));
        assert!(OriginPolicy::Any.allows_upgrade(&headers));
    }
}

//! GraphiQL, served entirely by confab: the page and its assets (React,
//! GraphiQL, graphql-ws) are embedded in the binary, so it works offline.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/graphiql_assets.rs"));

/// The page, wired to `/graphql` and to `/ws` for subscriptions.
const PAGE: &str = include_str!("graphiql.html");

/// Shown instead when the binary was built without the assets.
const MISSING: &str = "<!doctype html><title>confab</title><p>GraphiQL's assets were not \
     built into this binary. Run <code>scripts/setup</code> (it installs them from npm into \
     <code>web/dist</code>), then build again. The API itself is at <code>/graphql</code>.";

/// GET `/`.
pub async fn page() -> Html<&'static str> {
    Html(if ASSETS.is_empty() { MISSING } else { PAGE })
}

/// GET `/graphiql/{file}`: one embedded asset, cached by the browser.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

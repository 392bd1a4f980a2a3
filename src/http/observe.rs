//! Request logs and `/metrics`: a request id on every request and response
//! (`x-request-id`), one log line per request in a span carrying that id.
//!
//! The span is `request{request_id, method, path}`; GraphQL requests add
//! `operation` (the operation name) and `kind` (query, mutation,
//! subscription) once the document is read, so every line logged while the
//! request runs, and the closing `status`/`latency` line, carry them.

use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use tracing::field::Empty;

use super::AppState;
use crate::telemetry::Operation;

/// The request id header.
pub const X_REQUEST_ID: &str = "x-request-id";

/// Longest request id taken from a client; longer ones are replaced.
const MAX_CLIENT_REQUEST_ID: usize = 128;

/// Wraps every route: a client's `x-request-id` is kept when it is short
/// and plain (else replaced by a fresh UUID), set on the response, and on
/// the request's span, which logs one info line per response.
pub fn request_log(router: Router) -> Router {
    router
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(DropUnfitRequestIdLayer)
}

/// A client's request id goes into logs and back into the response: keep
/// only ids of a bounded length made of characters that cannot disguise a
/// log line.
fn fit_request_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_CLIENT_REQUEST_ID
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(&b))
}

/// Removes a client's `x-request-id` that is not fit to keep, so that
/// `SetRequestId` makes a fresh one. A plain wrapper (no boxed future, unlike
/// `axum::middleware`): measurably cheaper on every request.
#[derive(Clone, Copy)]
struct DropUnfitRequestIdLayer;

impl<S> Layer<S> for DropUnfitRequestIdLayer {
    type Service = DropUnfitRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DropUnfitRequestId(inner)
    }
}

#[derive(Clone)]
struct DropUnfitRequestId<S>(S);

impl<S, B> Service<axum::http::Request<B>> for DropUnfitRequestId<S>
where
    S: Service<axum::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: axum::http::Request<B>) -> Self::Future {
        if request
            .headers()
            .get(X_REQUEST_ID)
            .is_some_and(|value| !fit_request_id(value))
        {
            request.headers_mut().remove(X_REQUEST_ID);
        }
        self.0.call(request)
    }
}

fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %request.method(),
        path = request.uri().path(),
        operation = Empty,
        kind = Empty,
    )
}

fn log_response(response: &Response, latency: Duration, _span: &Span) {
    tracing::info!(status = response.status().as_u16(), ?latency, "answered");
}

/// Puts a GraphQL operation's type and name (a GraphQL name from the
/// document, so plain) on the current request's span.
pub fn record_operation(kind: Operation, name: Option<&str>) {
    let span = Span::current();
    if span.is_disabled() {
        return;
    }
    if kind != Operation::None {
        span.record("kind", tracing::field::display(kind.as_str()));
    }
    if let Some(name) = name {
        span.record("operation", tracing::field::display(name));
    }
}

/// GET `/metrics`: every metric in the Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics.render();
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_client_ids_are_kept() {
        let fit = |id: &str| fit_request_id(&HeaderValue::from_str(id).expect("header"));
        assert!(fit("3f2a9c4e-0d1b-4c1e-9a7f-1b2c3d4e5f60"));
        assert!(fit("req_01HZX:web/7=="));
        assert!(!fit(""));
        assert!(!fit("a b"));
        assert!(!fit("x\"status=200"));
        assert!(!fit(&"a".repeat(MAX_CLIENT_REQUEST_ID + 1)));
    }
}

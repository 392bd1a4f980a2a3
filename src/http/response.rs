//! Rendering GraphQL responses over HTTP: the media type chosen by `Accept`,
//! status codes for request errors, the response size cap, coded error bodies.

//! chosen by `Accept`, and status codes that tell request errors apart.

use async_graphql::{ServerError, Value};

use axum::http::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::Refusal;
use crate::graphql::budget::RESPONSE_TOO_LARGE;
use crate::telemetry::Outcome;

pub(super) const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub(super) const APPLICATION_JSON: &str = "application/json";

/// The media type of the response body, from the request's `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; well-formed requests get 200.
    Json,
}

impl MediaType {
    /// Picks the first acceptable type the client lists; no `Accept` means
    /// `application/json`, as the spec asks for legacy clients.
    pub(super) fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
        let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(MediaType::Json);
        };
        accept.split(',').find_map(|item| {
            let mut parts = item.split(';').map(str::trim);
            let range = parts.next()?.to_ascii_lowercase();
            let refused = parts.any(|p| p.replace(' ', "") == "q=0");
            if refused {
                return None;
            }
            match range.as_str() {
                GRAPHQL_RESPONSE_JSON => Some(MediaType::GraphqlResponseJson),
                APPLICATION_JSON | "application/*" | "*/*" => Some(MediaType::Json),
                _ => None,
            }
        })
    }

    fn header_value(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            MediaType::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            MediaType::Json => "application/json; charset=utf-8",
        })
    }
}

/// The HTTP answer for an executed request.
pub(super) fn answer(
    media: MediaType,
    mut response: async_graphql::Response,
    max_bytes: usize,
) -> Response {
    if let Some(too_large) = response
        .errors
        .iter()
        .find(|error| error_code(error) == Some(RESPONSE_TOO_LARGE))
    {
        return with_outcome(
            respond(
                StatusCode::OK,
                media,
                body_with_newline(serde_json::json!({ "data": null, "errors": [too_large] })),
            ),
            Outcome::ClientError,
        );
    }
    // A request error (the document did not parse or validate, or its
    // input could not be coerced) stops before producing data.
    let client_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| {
            e.path.is_empty()
                || error_code(e).is_some_and(|code| CLIENT_ERROR_CODES.contains(&code))
        });
    if client_error {
        response.errors.truncate(MAX_ERRORS);
        return request_error(media, &response.errors);
    }
    // Nothing could be answered because the database could not: 503, so
    // that clients and load balancers retry.
    let unavailable = response.data == Value::Null
        && response
            .errors
            .iter()
            .any(|e| error_code(e) == Some("SERVICE_UNAVAILABLE"));
    let status = if unavailable {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    // Some fields failed on the server's side.
    let outcome = response
        .errors
        .iter()
        .any(|e| {
            matches!(
                error_code(e),
                Some("INTERNAL_SERVER_ERROR" | "SERVICE_UNAVAILABLE")
            )
        })
        .then_some(Outcome::ServerError);
    let mut body = BoundedWriter::new(max_bytes);
    match serde_json::to_writer(&mut body, &response) {
        Ok(()) => {
            let mut bytes = body.into_inner();
            bytes.push(b'\n');
            let response = respond(status, media, bytes);
            match outcome {
                Some(outcome) => with_outcome(response, outcome),
                None => response,
            }
        }
        Err(_) if body.overflowed() => {
            let mut error = ServerError::new(
                format!(
                    "the response would be larger than {max_bytes} bytes: ask for smaller pages or fewer fields"
                ),
                None,
            );
            set_code(&mut error, RESPONSE_TOO_LARGE);
            with_outcome(
                respond(
                    StatusCode::OK,
                    media,
                    body_with_newline(serde_json::json!({ "data": null, "errors": [error] })),
                ),
                Outcome::ClientError,
            )
        }
        Err(error) => {
            tracing::error!(%error, "could not serialise a response");
            respond(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                errors_body(&[coded_error("internal error", "INTERNAL_SERVER_ERROR")]),
            )
        }
    }
}

/// Codes of errors that are the client's doing.
pub(super) const CLIENT_ERROR_CODES: [&str; 3] = [
    "BAD_USER_INPUT",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_PARSE_FAILED",
];
/// Most errors returned for one request error.
pub(super) const MAX_ERRORS: usize = 100;

/// A request that failed before execution: 400 under
/// `application/graphql-response+json`, 200 under legacy JSON.
pub(super) fn request_error(media: MediaType, errors: &[ServerError]) -> Response {
    let status = match media {
        MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
        MediaType::Json => StatusCode::OK,
    };
    let response = respond(status, media, errors_body(errors));
    if status == StatusCode::OK {
        // The status does not tell it: say so for the metrics.
        return with_outcome(response, Outcome::ClientError);
    }
    response
}

/// Marks a response with the outcome its status does not tell.
pub(super) fn with_outcome(mut response: Response, outcome: Outcome) -> Response {
    response.extensions_mut().insert(outcome);
    response
}

pub(super) fn error_code(error: &ServerError) -> Option<&str> {
    match error.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code.as_str()),
        _ => None,
    }
}

/// A `Vec` that refuses to grow past a limit, so an oversized response is
/// abandoned while being written rather than after.
pub(super) struct BoundedWriter {
    bytes: Vec<u8>,
    max: usize,
    overflowed: bool,
}

impl BoundedWriter {
    fn new(max: usize) -> Self {
        BoundedWriter {
            bytes: Vec::with_capacity(1024),
            max,
            overflowed: false,
        }
    }

    fn overflowed(&self) -> bool {
        self.overflowed
    }

    fn into_inner(self) -> Vec<u8> {
        self.bytes
    }
}

impl std::io::Write for BoundedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() + buf.len() > self.max {
            self.overflowed = true;
            return Err(std::io::Error::other("response too large"));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error with `extensions.code`.
pub(super) fn coded_error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    set_code(&mut error, code);
    error
}

pub(super) fn set_code(error: &mut ServerError, code: &str) {
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
}

pub(super) fn errors_body(errors: &[ServerError]) -> Vec<u8> {
    body_with_newline(serde_json::json!({ "errors": errors }))
}

/// A JSON body ending with a newline (so that consecutive outputs of curl
/// do not run together).
pub(super) fn body_with_newline(value: serde_json::Value) -> Vec<u8> {
    let mut body = serde_json::to_vec(&value).unwrap_or_else(|_| b"{\"errors\":[]}".to_vec());
    body.push(b'\n');
    body
}

/// 429 with `Retry-After`, for a token over its rate or concurrency.
pub(super) fn too_many_requests(media: MediaType, refusal: Refusal) -> Response {
    let message = match refusal {
        Refusal::RateLimited { .. } => "too many requests for this token; slow down",
        Refusal::TooManyConcurrent => "too many requests running at once for this token",
    };
    let mut error = coded_error(message, "RATE_LIMITED");
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("reason", refusal.reason());
    let mut response = respond(StatusCode::TOO_MANY_REQUESTS, media, errors_body(&[error]));
    if let Ok(value) = HeaderValue::from_str(&refusal.retry_after_seconds().to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}

/// 503 `SERVICE_UNAVAILABLE` with a JSON body.
pub fn service_unavailable(message: &str) -> Response {
    respond(
        StatusCode::SERVICE_UNAVAILABLE,
        MediaType::Json,
        errors_body(&[coded_error(message, "SERVICE_UNAVAILABLE")]),
    )
}

pub(super) fn bad_request(media: MediaType, message: &str) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        media,
        errors_body(&[coded_error(message, "BAD_REQUEST")]),
    )
}

pub(super) fn not_acceptable() -> Response {
    let message = format!("accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}");
    respond(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        errors_body(&[coded_error(&message, "NOT_ACCEPTABLE")]),
    )
}

pub(super) fn respond(status: StatusCode, media: MediaType, body: Vec<u8>) -> Response {
    (status, [(CONTENT_TYPE, media.header_value())], body).into_response()
}

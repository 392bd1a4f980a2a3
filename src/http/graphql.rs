//! GraphQL over HTTP, after the GraphQL-over-HTTP spec: POST with a JSON body
//! and GET with query parameters (queries only), the response media type
//! chosen by `Accept`, and status codes that tell request errors apart.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{ServerError, Value};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::header::{ACCEPT, ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::auth::{self, Viewer};
use crate::graphql::{LoaderCache, context_data};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const APPLICATION_JSON: &str = "application/json";

/// The media type of the response body, from the request's `Accept`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaType {
    /// `application/graphql-response+json`: status codes tell request errors apart.
    GraphqlResponseJson,
    /// `application/json`: the legacy type; well-formed requests get 200.
    Json,
}

impl MediaType {
    /// Picks the first acceptable type the client lists; no `Accept` means
    /// `application/json`, as the spec asks for legacy clients.
    fn negotiate(headers: &HeaderMap) -> Option<MediaType> {
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

/// GET `/graphql?query=…&variables=…&operationName=…`: queries only.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let mut request = match parse_query_string(query.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(message) => return bad_request(media, &message),
    };
    if request.query.is_empty() {
        return bad_request(media, "the `query` parameter is required");
    }
    if !is_query_operation(&mut request) {
        let body = errors_body(&[coded_error(
            "only queries may be sent with GET; use POST",
            "METHOD_NOT_ALLOWED",
        )]);
        let mut response = respond(StatusCode::METHOD_NOT_ALLOWED, media, body);
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, request, media).await
}

/// Reads `query`, `operationName`, `variables` and `extensions` (the last two
/// JSON-encoded) from a URL query string.
fn parse_query_string(input: &str) -> Result<async_graphql::Request, String> {
    let mut request = async_graphql::Request::new("");
    for (key, value) in url::form_urlencoded::parse(input.as_bytes()) {
        match key.as_ref() {
            "query" => request.query = value.into_owned(),
            "operationName" => request.operation_name = Some(value.into_owned()),
            "variables" => {
                request.variables = serde_json::from_str(&value)
                    .map_err(|error| format!("`variables` is not a JSON object: {error}"))?;
            }
            "extensions" => {
                request.extensions = serde_json::from_str(&value)
                    .map_err(|error| format!("`extensions` is not a JSON object: {error}"))?;
            }
            _ => {}
        }
    }
    Ok(request)
}

/// POST `/graphql` with a JSON body `{query, variables, operationName, extensions}`.
pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(APPLICATION_JSON) {
        let message = format!("send the request as {APPLICATION_JSON}, not {content_type:?}");
        let body = errors_body(&[coded_error(&message, "UNSUPPORTED_MEDIA_TYPE")]);
        return respond(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, body);
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return bad_request(media, &format!("malformed request body: {error}")),
    };
    if request.query.trim().is_empty() {
        return bad_request(media, "the `query` field is required");
    }
    execute(&state, &headers, request, media).await
}

async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    request: async_graphql::Request,
    media: MediaType,
) -> Response {
    let viewer = match authenticate(state, headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response.with_media(media),
    };
    let mut request = request;
    let cache = if is_query_operation(&mut request) {
        LoaderCache::Request
    } else {
        LoaderCache::Off
    };
    // A freshly parsed request carries no data of its own.
    request.data = context_data(&state.pool, viewer, cache);
    let mut response = state.schema.execute(request).await;
    sanitize_errors(&mut response.errors);

    // A request error (the document did not parse or validate) stops before
    // execution: no data, and no error has a path.
    let request_error = response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    if request_error {
        let status = match media {
            MediaType::GraphqlResponseJson => StatusCode::BAD_REQUEST,
            MediaType::Json => StatusCode::OK,
        };
        return respond(status, media, errors_body(&response.errors));
    }
    match serde_json::to_vec(&response) {
        Ok(body) => respond(StatusCode::OK, media, body),
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

/// A rejection that is rendered once the media type is known.
struct Rejection {
    status: StatusCode,
    error: ServerError,
}

impl Rejection {
    fn with_media(self, media: MediaType) -> Response {
        let mut response = respond(self.status, media, errors_body(&[self.error]));
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Viewer, Rejection> {
    let unauthenticated = |message: &str| Rejection {
        status: StatusCode::UNAUTHORIZED,
        error: coded_error(message, "UNAUTHENTICATED"),
    };
    let header = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let Some(header) = header else {
        return Err(unauthenticated(
            "authentication required: send `Authorization: Bearer <token>`",
        ));
    };
    let Some(token) = auth::bearer_token(header) else {
        return Err(unauthenticated(
            "the Authorization header must be `Bearer <token>`",
        ));
    };
    let unavailable = || Rejection {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: coded_error(
            "the database is unavailable; try again shortly",
            "SERVICE_UNAVAILABLE",
        ),
    };
    let connection = async { Ok(state.pool.get().await?) };
    match state.tokens.authenticate(connection, token).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(unauthenticated("invalid or revoked token")),
        Err(error) => {
            tracing::warn!(%error, "authentication failed for want of the database");
            Err(unavailable())
        }
    }
}

/// Whether the operation the request names is a query (false for mutations
/// and subscriptions). A document that does not parse counts as a query, so
/// that execution reports the parse error.
fn is_query_operation(request: &mut async_graphql::Request) -> bool {
    let operation_name = request.operation_name.clone();
    // Parsed once: execution reuses the document cached in the request.
    let Ok(document) = request.parsed_query() else {
        return true;
    };
    let operation = match (&document.operations, operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => Some(operation),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name),
        (DocumentOperations::Multiple(_), None) => None,
    };
    operation.is_none_or(|operation| operation.node.ty == OperationType::Query)
}

/// Every error leaves with a code. Field errors without one come from
/// somewhere that did not go through `ApiError`: log them and hide the text.
/// Errors without a path are the document's own (parse, validation, limits).
fn sanitize_errors(errors: &mut [ServerError]) {
    for error in errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if has_code {
            continue;
        }
        if error.path.is_empty() {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "GRAPHQL_VALIDATION_FAILED");
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "uncoded field error");
            error.message = "internal error".to_string();
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "INTERNAL_SERVER_ERROR");
        }
    }
}

fn coded_error(message: &str, code: &str) -> ServerError {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    error
}

fn errors_body(errors: &[ServerError]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "errors": errors }))
        .unwrap_or_else(|_| b"{\"errors\":[]}".to_vec())
}

fn bad_request(media: MediaType, message: &str) -> Response {
    respond(
        StatusCode::BAD_REQUEST,
        media,
        errors_body(&[coded_error(message, "BAD_REQUEST")]),
    )
}

fn not_acceptable() -> Response {
    let message = format!("accept {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}");
    respond(
        StatusCode::NOT_ACCEPTABLE,
        MediaType::Json,
        errors_body(&[coded_error(&message, "NOT_ACCEPTABLE")]),
    )
}

fn respond(status: StatusCode, media: MediaType, body: Vec<u8>) -> Response {
    (status, [(CONTENT_TYPE, media.header_value())], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_queries_pass_the_get_check() {
        let request = |query: &str, name: Option<&str>| {
            let mut request = async_graphql::Request::new(query);
            request.operation_name = name.map(str::to_string);
            request
        };
        assert!(is_query_operation(&mut request("{ a }", None)));
        assert!(!is_query_operation(&mut request("mutation { a }", None)));
        assert!(!is_query_operation(&mut request(
            "subscription { a }",
            None
        )));
        let both = "query Q { a } mutation M { b }";
        assert!(is_query_operation(&mut request(both, Some("Q"))));
        assert!(!is_query_operation(&mut request(both, Some("M"))));
    }

    #[test]
    fn get_parameters_are_read_by_their_spec_names() {
        let parsed =
            parse_query_string("query=%7Ba%7D&operationName=Op&variables=%7B%22x%22%3A1%7D");
        let parsed = parsed.expect("parses");
        assert_eq!(parsed.query, "{a}");
        assert_eq!(parsed.operation_name.as_deref(), Some("Op"));
        assert!(parse_query_string("query=x&variables=nope").is_err());
    }
}

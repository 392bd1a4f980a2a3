//! GraphQL over HTTP, after the GraphQL-over-HTTP spec: POST with a JSON body
//! and GET with query parameters (queries only), the response media type
//! chosen by `Accept`, and status codes that tell request errors apart.

use async_graphql::ServerError;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use std::time::Duration;

use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::read_gate::Turn;
use super::{AppState, observe};
use crate::domain::auth::{self, Viewer};
use crate::domain::reads::{Fields, Root};
use crate::graphql::compiled::{self, Mode, Plan};
use crate::graphql::errors::sanitize_errors;
use crate::graphql::limits::Measure;
use crate::graphql::{LoaderCache, context_data};
use crate::telemetry::{GraphqlRequest, Operation, Refused, Transport};

use super::response::{
    APPLICATION_JSON, MediaType, answer, bad_request, coded_error, errors_body, not_acceptable,
    request_error, respond, too_many_requests,
};
/// GET `/graphql?query=…&variables=…&operationName=…`: queries only.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    serve(&state, &headers, Method::Get, || read_get(query)).await
}

/// Counts the request, negotiates the response's media type, reads the
/// request with `read` and runs it.
async fn serve(
    state: &AppState,
    headers: &HeaderMap,
    method: Method,
    read: impl FnOnce() -> Result<async_graphql::Request, Unreadable>,
) -> Response {
    let mut observed = state.metrics.graphql_request();
    let response = match MediaType::negotiate(headers) {
        None => not_acceptable(),
        Some(media) => match read() {
            Ok(request) => execute(state, headers, request, media, method, &mut observed).await,
            Err(unreadable) => unreadable.respond(media),
        },
    };
    observed.finish(&response);
    response
}

/// Why a request could not be read.
enum Unreadable {
    /// Malformed or incomplete: 400 with this message.
    Malformed(String),
    /// Not sent as JSON: 415 with this message.
    NotJson(String),
}

impl Unreadable {
    fn respond(self, media: MediaType) -> Response {
        match self {
            Unreadable::Malformed(message) => bad_request(media, &message),
            Unreadable::NotJson(message) => {
                let body = errors_body(&[coded_error(&message, "UNSUPPORTED_MEDIA_TYPE")]);
                respond(StatusCode::UNSUPPORTED_MEDIA_TYPE, media, body)
            }
        }
    }
}

fn read_get(query: Option<String>) -> Result<async_graphql::Request, Unreadable> {
    let request =
        parse_query_string(query.as_deref().unwrap_or_default()).map_err(Unreadable::Malformed)?;
    if request.query.is_empty() && !persisted_only(&request) {
        let message = "the `query` parameter is required";
        return Err(Unreadable::Malformed(message.to_string()));
    }
    Ok(request)
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
    serve(&state, &headers, Method::Post, || {
        read_post(&headers, &body)
    })
    .await
}

fn read_post(headers: &HeaderMap, body: &[u8]) -> Result<async_graphql::Request, Unreadable> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(APPLICATION_JSON) {
        let message = format!("send the request as {APPLICATION_JSON}, not {content_type:?}");
        return Err(Unreadable::NotJson(message));
    }
    let request: async_graphql::Request = serde_json::from_slice(body)
        .map_err(|error| Unreadable::Malformed(format!("malformed request body: {error}")))?;
    if request.query.trim().is_empty() && !persisted_only(&request) {
        let message = "the `query` field is required";
        return Err(Unreadable::Malformed(message.to_string()));
    }
    Ok(request)
}

/// A request that names its query by `extensions.persistedQuery` alone.
fn persisted_only(request: &async_graphql::Request) -> bool {
    request.query.is_empty() && request.extensions.0.contains_key("persistedQuery")
}

/// How the request arrived: GET may only run queries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
}

/// Documents up to this size are checked on the async worker; larger ones
/// on the blocking pool, so a burst of them cannot starve other requests.
const INLINE_PREPARE_BYTES: usize = 4 * 1024;
/// Longest a document's checks may take before the request is refused.
const PREPARE_DEADLINE: Duration = Duration::from_secs(2);

/// Authenticates, admits, checks the document, runs it and answers: the
/// same steps for GET and POST, in an order that does the cheapest refusals
/// first and never parses a document for an unknown caller.
async fn execute(
    state: &AppState,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
    media: MediaType,
    method: Method,
    observed: &mut GraphqlRequest,
) -> Response {
    let viewer = match authenticate(state, headers).await {
        Ok(viewer) => viewer,
        Err(response) => return response.with_media(media),
    };
    let _permit = match state.fairness.admit(viewer.actor) {
        Ok(permit) => permit,
        Err(refusal) => {
            state.metrics.refused(Transport::Http, refusal);
            return too_many_requests(media, refusal);
        }
    };
    let keep = match state.persisted.resolve(&mut request) {
        Ok(keep) => keep,
        Err(error) => return request_error(media, &[error]),
    };
    let (mut request, measure) = match prepare(state, request).await {
        Ok(prepared) => prepared,
        Err(error) => return request_error(media, &[error]),
    };
    if let Some(hash) = keep {
        state.persisted.keep(hash, &request.query);
    }
    let (operation, name) = operation_of(&mut request);
    observe::record_operation(operation, name.as_deref());
    observed.set_operation(operation);
    let is_query = matches!(operation, Operation::Query | Operation::None);
    if method == Method::Get && !is_query {
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
    let _turn = match take_turn(state, viewer, is_query, media).await {
        Ok(turn) => turn,
        Err(refused) => return refused,
    };
    let cache = if is_query {
        LoaderCache::Request
    } else {
        LoaderCache::Off
    };
    let plan = if is_query {
        state.reads.plan(&mut request)
    } else {
        Plan::Resolvers
    };
    if let Plan::Compiled(roots) = &plan
        && let Some(response) = compiled_answer(state, viewer, roots, media).await
    {
        return response;
    }
    // A freshly parsed request carries no data of its own.
    request.data = context_data(&state.pool, viewer, cache);
    let schema = state.schemas.for_measure(&measure);
    let mut response = schema.execute(request).await;
    sanitize_errors(&mut response.errors);
    if let Plan::Learn(roots, key) = plan
        && response.errors.is_empty()
    {
        if state.reads.mode() == Mode::Verify {
            if let Some(mismatch) = verify(state, viewer, &roots, &response).await {
                return mismatch.with_media(media);
            }
        } else {
            state.reads.remember(key);
        }
    }
    answer(media, response, state.schemas.max_response_bytes)
}

/// A query's place at the read gate, taken in arrival order, so that
/// queries wait here rather than in the operating system's run queue behind
/// PostgreSQL's other backends; other operations need none. A query that
/// finds the gate full for its whole wait is answered 503.
async fn take_turn(
    state: &AppState,
    viewer: Viewer,
    is_query: bool,
    media: MediaType,
) -> Result<Option<Turn>, Response> {
    if !is_query {
        return Ok(None);
    }
    match state.read_gate.enter(viewer.organization_id).await {
        Ok(turn) => Ok(Some(turn)),
        Err(full) => {
            state
                .metrics
                .refused(Transport::Http, Refused::ReadGateFull);
            let body = errors_body(&[full.error()]);
            Err(respond(StatusCode::SERVICE_UNAVAILABLE, media, body))
        }
    }
}

/// The answer of a compiled read; `None` sends the request to the
/// resolvers (which also say what went wrong, if anything does).
async fn compiled_answer(
    state: &AppState,
    viewer: Viewer,
    roots: &Fields<Root>,
    media: MediaType,
) -> Option<Response> {
    let data = match compiled::answer(&state.pool, viewer, roots).await {
        Ok(data) => data,
        Err(error) => {
            tracing::warn!(?error, "compiled read failed; answering with the resolvers");
            return None;
        }
    };
    let mut body = Vec::with_capacity(data.len() + 10);
    body.extend_from_slice(b"{\"data\":");
    body.extend_from_slice(data.as_bytes());
    body.extend_from_slice(b"}\n");
    (body.len() <= state.schemas.max_response_bytes).then(|| respond(StatusCode::OK, media, body))
}

/// Runs the compiled read of an answered query and compares its data with
/// the resolvers'; a difference (or a failure) is returned as a 500.
async fn verify(
    state: &AppState,
    viewer: Viewer,
    roots: &Fields<Root>,
    response: &async_graphql::Response,
) -> Option<Rejection> {
    let compiled = compiled::answer(&state.pool, viewer, roots)
        .await
        .map_err(|error| format!("{error:?}"))
        .and_then(|data| {
            serde_json::from_str::<serde_json::Value>(&data).map_err(|e| e.to_string())
        });
    let resolved = serde_json::to_value(&response.data).unwrap_or_default();
    match compiled {
        Ok(compiled) if compiled == resolved => None,
        outcome => {
            tracing::error!(?outcome, %resolved, "compiled read differs from the resolvers");
            Some(Rejection {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                error: coded_error(
                    &format!("compiled read differs: {outcome:?} against {resolved}"),
                    "COMPILED_READ_MISMATCH",
                ),
            })
        }
    }
}

/// Runs the document checks, off the async workers for large documents.
async fn prepare(
    state: &AppState,
    mut request: async_graphql::Request,
) -> Result<(async_graphql::Request, Measure), ServerError> {
    if request.query.len() <= INLINE_PREPARE_BYTES {
        let measure = state.guard.prepare(&mut request)?;
        return Ok((request, measure));
    }
    let guard = state.guard.clone();
    let checked = tokio::task::spawn_blocking(move || {
        guard
            .prepare(&mut request)
            .map(|measure| (request, measure))
    });
    match tokio::time::timeout(PREPARE_DEADLINE, checked).await {
        Ok(Ok(result)) => result,
        Ok(Err(error)) => {
            tracing::error!(%error, "document check task failed");
            Err(coded_error("internal error", "INTERNAL_SERVER_ERROR"))
        }
        Err(_) => Err(coded_error(
            "the document took too long to check; send a smaller one",
            "SERVICE_UNAVAILABLE",
        )),
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

/// The type of the operation the request runs, and its name when the
/// document holds several. `None` when the document does not parse or names
/// no operation it has: execution then reports the error (and GET lets it
/// through as it would a query).
pub(super) fn operation_of(request: &mut async_graphql::Request) -> (Operation, Option<String>) {
    // Parsed once: execution reuses the document cached in the request.
    let operation_name = request.operation_name.take();
    let (operation, name) = match request.parsed_query() {
        Ok(document) => match (&document.operations, operation_name.as_deref()) {
            (DocumentOperations::Single(operation), _) => (Some(operation), None),
            (DocumentOperations::Multiple(operations), Some(name)) => {
                match operations.get_key_value(name) {
                    Some((name, operation)) => (Some(operation), Some(name.as_str())),
                    None => (None, None),
                }
            }
            // One named operation runs without being named.
            (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
                match operations.iter().next() {
                    Some((name, operation)) => (Some(operation), Some(name.as_str())),
                    None => (None, None),
                }
            }
            (DocumentOperations::Multiple(_), None) => (None, None),
        },
        Err(_) => (None, None),
    };
    let operation = match operation.map(|operation| operation.node.ty) {
        Some(OperationType::Query) => Operation::Query,
        Some(OperationType::Mutation) => Operation::Mutation,
        Some(OperationType::Subscription) => Operation::Subscription,
        None => Operation::None,
    };
    let name = name.map(str::to_string);
    request.operation_name = operation_name;
    (operation, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_told_apart() {
        let of = |query: &str, name: Option<&str>| {
            let mut request = async_graphql::Request::new(query);
            request.operation_name = name.map(str::to_string);
            let (operation, _) = operation_of(&mut request);
            assert_eq!(request.operation_name.as_deref(), name, "name kept");
            operation
        };
        assert_eq!(of("{ a }", None), Operation::Query);
        assert_eq!(of("mutation { a }", None), Operation::Mutation);
        assert_eq!(of("subscription { a }", None), Operation::Subscription);
        let both = "query Q { a } mutation M { b }";
        assert_eq!(of(both, Some("Q")), Operation::Query);
        assert_eq!(of(both, Some("M")), Operation::Mutation);
        assert_eq!(of(both, None), Operation::None);
        assert_eq!(of(both, Some("X")), Operation::None);
        // A lone named mutation runs unnamed: GET must not take it for a query.
        assert_eq!(of("mutation M { b }", None), Operation::Mutation);
        assert_eq!(of("{ a", None), Operation::None);
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

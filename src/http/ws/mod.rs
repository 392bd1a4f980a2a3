//! GraphQL subscriptions over WebSocket, with confab's own protocol loop for
//! `graphql-transport-ws` and the legacy `graphql-ws`.
//!
//! Owning the loop lets the socket apply the same rules as HTTP: the token
//! from `connection_init` through the shared token cache, the document
//! limits, the per-token rate, sanitised errors, and per-socket bounds
//! (subscriptions, message size) with the close codes the protocols define.

mod protocol;
mod shapes;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Data, ServerError};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{AbortHandle, Abortable, BoxStream, SelectAll, SplitSink};
use futures_util::{SinkExt, Stream, StreamExt};
use protocol::{ClientMessage, Protocol, close};
pub use shapes::Shapes;
use shapes::{Frame, ShapeKey};
use tracing::Instrument;

use super::AppState;
use super::graphql::operation_of;
use super::read_gate::ReadGate;
use super::response::coded_error;
use crate::db::ids::OrganizationId;
use crate::domain::auth::{self, Viewer};
use crate::graphql::{LoaderCache, context_data};
use crate::telemetry::{Metrics, Operation, Refused, Transport};

/// Read buffer of a socket.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

/// Per-socket limits, from the config.
#[derive(Clone, Copy, Debug)]
pub struct WsLimits {
    /// How long a socket may take to send `connection_init`.
    pub init_timeout: Duration,
    /// Most operations running on one socket.
    pub max_subscriptions: usize,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
}

/// Upgrades a request to a GraphQL WebSocket.
pub fn upgrade(state: AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    if !state.origins.allows_upgrade(headers) {
        let message = "this origin may not open a WebSocket here (see CONFAB_CORS_ORIGINS)";
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    let protocol = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| Protocol::from_name(p.trim()))
        });
    let Some(protocol) = protocol else {
        let message = "ask for the graphql-transport-ws or graphql-ws subprotocol";
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let max_message = state.ws.max_message_bytes;
    upgrade
        .protocols(["graphql-transport-ws", "graphql-ws"])
        // The defaults reserve 128 KiB per buffer and connection; GraphQL
        // messages are small and idle subscriptions should cost little.
        // Events are written out at once rather than collected.
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(max_message)
        .max_frame_size(max_message)
        // The socket's logs carry the upgrade request's span (and id).
        .on_upgrade(move |socket| {
            serve(state, socket, protocol).instrument(tracing::Span::current())
        })
}

/// One output of a running operation: a result, or its end.
type Output = (Arc<str>, Option<Frame>);

struct Connection {
    state: AppState,
    protocol: Protocol,
    sink: SplitSink<WebSocket, Message>,
    /// The caller and its loaders, once `connection_init` was accepted.
    session: Option<(Viewer, Arc<Data>)>,
    /// Running operations by id.
    running: HashMap<Arc<str>, AbortHandle>,
    outputs: SelectAll<BoxStream<'static, Output>>,
}

/// What the loop does after handling a message.
enum Flow {
    Continue,
    Close(u16, String),
    /// The peer is gone or asked to end: stop without a close frame.
    Stop,
}

async fn serve(state: AppState, socket: WebSocket, protocol: Protocol) {
    let _live = state.metrics.ws_connection();
    let (sink, mut incoming) = socket.split();
    let init_deadline = tokio::time::sleep(state.ws.init_timeout);
    tokio::pin!(init_deadline);
    let mut connection = Connection {
        state,
        protocol,
        sink,
        session: None,
        running: HashMap::new(),
        outputs: SelectAll::new(),
    };
    let flow = loop {
        let flow = tokio::select! {
            message = incoming.next() => match message {
                Some(Ok(Message::Text(text))) => connection.on_message(text.as_bytes()).await,
                Some(Ok(Message::Binary(bytes))) => connection.on_message(&bytes).await,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => Flow::Continue,
                Some(Ok(Message::Close(_))) | None => Flow::Stop,
                Some(Err(error)) => read_error(&error),
            },
            Some((id, output)) = connection.outputs.next(), if !connection.outputs.is_empty() => {
                connection.on_output(id, output).await
            }
            () = &mut init_deadline, if connection.session.is_none() => {
                Flow::Close(close::INIT_TIMEOUT, "Connection initialisation timeout".into())
            }
        };
        match flow {
            Flow::Continue => continue,
            other => break other,
        }
    };
    for handle in connection.running.values() {
        handle.abort();
    }
    if let Flow::Close(code, reason) = flow {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = connection.sink.send(Message::Close(Some(frame))).await;
    }
}

/// A read failed: too large a message gets 1009, anything else ends the socket.
fn read_error(error: &axum::Error) -> Flow {
    let text = error.to_string();
    if text.contains("Space limit exceeded")
        || text.contains("too long")
        || text.contains("too big")
    {
        Flow::Close(close::TOO_BIG, "Message too big".into())
    } else {
        tracing::debug!(%error, "WebSocket read failed");
        Flow::Stop
    }
}

impl Connection {
    async fn send(&mut self, text: String) -> Flow {
        match self.sink.send(Message::Text(text.into())).await {
            Ok(()) => Flow::Continue,
            Err(_) => Flow::Stop,
        }
    }

    async fn on_message(&mut self, bytes: &[u8]) -> Flow {
        let Some(message) = protocol::parse(bytes, self.protocol) else {
            return Flow::Close(close::BAD_REQUEST, "Invalid message".into());
        };
        match message {
            ClientMessage::Init(payload) => self.on_init(&payload).await,
            ClientMessage::Ping(payload) => self.send(protocol::pong(payload)).await,
            ClientMessage::Pong => Flow::Continue,
            ClientMessage::Terminate => Flow::Stop,
            ClientMessage::Subscribe { .. } | ClientMessage::Stop { .. }
                if self.session.is_none() =>
            {
                Flow::Close(close::UNAUTHORIZED, "Unauthorized".into())
            }
            ClientMessage::Subscribe { id, request } => self.on_subscribe(id, *request).await,
            ClientMessage::Stop { id } => {
                if let Some(handle) = self.running.remove(id.as_str()) {
                    handle.abort();
                    if self.protocol == Protocol::Legacy {
                        return self.send(protocol::complete(&id)).await;
                    }
                }
                Flow::Continue
            }
        }
    }

    async fn on_init(&mut self, payload: &serde_json::Value) -> Flow {
        if self.session.is_some() {
            return Flow::Close(
                close::TOO_MANY_INITS,
                "Too many initialisation requests".into(),
            );
        }
        match authenticate(&self.state, payload).await {
            Ok(viewer) => {
                let data = context_data(&self.state.pool, viewer, LoaderCache::Off);
                self.session = Some((viewer, Arc::new(data)));
                self.send(protocol::ack()).await
            }
            Err((code, reason)) => {
                if self.protocol == Protocol::Legacy {
                    let _ = self.send(protocol::connection_error(reason)).await;
                }
                Flow::Close(code, reason.into())
            }
        }
    }
}

/// The viewer of the `Authorization` entry of the init payload, through the
/// same token cache as HTTP.
async fn authenticate(
    state: &AppState,
    payload: &serde_json::Value,
) -> Result<Viewer, (u16, &'static str)> {
    let forbidden = (close::FORBIDDEN, "Forbidden");
    let header = payload
        .as_object()
        .and_then(|payload| {
            payload
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str())
        })
        .ok_or(forbidden)?;
    let token = auth::bearer_token(header).ok_or(forbidden)?;
    let pool = state.pool.clone();
    let connection = async move { Ok(pool.get().await?) };
    match state.tokens.authenticate(connection, token).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(forbidden),
        Err(error) => {
            tracing::warn!(%error, "WebSocket authentication failed for want of the database");
            Err((close::INTERNAL, "Service unavailable"))
        }
    }
}

impl Connection {
    async fn on_subscribe(&mut self, id: String, mut request: async_graphql::Request) -> Flow {
        let Some((viewer, data)) = self.session.clone() else {
            return Flow::Close(close::UNAUTHORIZED, "Unauthorized".into());
        };
        if self.running.contains_key(id.as_str()) {
            match self.protocol {
                Protocol::TransportWs => {
                    return Flow::Close(
                        close::DUPLICATE_ID,
                        format!("Subscriber for {id} already exists"),
                    );
                }
                // subscriptions-transport-ws replaces an operation whose id is reused.
                Protocol::Legacy => {
                    if let Some(handle) = self.running.remove(id.as_str()) {
                        handle.abort();
                    }
                }
            }
        }
        if self.running.len() >= self.state.ws.max_subscriptions {
            self.state
                .metrics
                .refused(Transport::WebSocket, Refused::TooManySubscriptions);
            let message = format!(
                "at most {} operations may run on one socket",
                self.state.ws.max_subscriptions
            );
            return self
                .refuse(&id, coded_error(&message, "TOO_MANY_SUBSCRIPTIONS"))
                .await;
        }
        if let Err(refusal) = self.state.fairness.check_rate(viewer.actor) {
            self.state.metrics.refused(Transport::WebSocket, refusal);
            let mut error = coded_error(
                "too many requests for this token; slow down",
                "RATE_LIMITED",
            );
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("reason", refusal.reason());
            return self.refuse(&id, error).await;
        }
        let measure = match self.state.guard.prepare(&mut request) {
            Ok(measure) => measure,
            Err(error) => return self.refuse(&id, error).await,
        };
        let id: Arc<str> = id.into();
        let schema = self.state.schemas.for_measure(&measure).clone();
        let (operation, _) = operation_of(&mut request);
        let gate = matches!(operation, Operation::Query | Operation::None)
            .then(|| (self.state.read_gate.clone(), viewer.organization_id));
        let metrics = self.state.metrics.clone();
        // Only a subscription can share its execution.
        let shape = match operation {
            Operation::Subscription => ShapeKey::of(viewer, &mut request),
            _ => None,
        };
        let results = self.state.shapes.run(shape, move || {
            gated(gate, metrics, move || {
                schema.execute_stream_with_session_data(request, data)
            })
        });
        let (handle, registration) = AbortHandle::new_pair();
        // Counted as running until the stream is dropped (ended, stopped,
        // or the socket closed).
        let live = self.state.metrics.ws_subscription();
        let tagged = {
            let (each, end) = (id.clone(), id.clone());
            results
                .map(move |frame| {
                    let _ = &live;
                    (each.clone(), Some(frame))
                })
                .chain(futures_util::stream::once(async move { (end, None) }))
        };
        self.outputs
            .push(Abortable::new(tagged, registration).boxed());
        self.running.insert(id, handle);
        Flow::Continue
    }

    /// Answers an operation that will not run with an `error` message.
    async fn refuse(&mut self, id: &str, error: ServerError) -> Flow {
        self.send(protocol::error(self.protocol, id, &[error]))
            .await
    }

    async fn on_output(&mut self, id: Arc<str>, output: Option<Frame>) -> Flow {
        match output {
            Some(Frame::Next(payload)) => {
                self.send(protocol::next(self.protocol, &id, &payload))
                    .await
            }
            Some(Frame::Error(errors)) => {
                if let Some(handle) = self.running.remove(&id) {
                    handle.abort();
                }
                self.send(protocol::error(self.protocol, &id, &errors))
                    .await
            }
            // The operation ended on its own.
            None if self.running.remove(&id).is_some() => self.send(protocol::complete(&id)).await,
            None => Flow::Continue,
        }
    }
}

/// The results of `execute`, for a query once it has a place at the read
/// gate, held until its result is out. A query that finds the gate full for
/// the whole wait is answered the gate's refusal instead. Other operations
/// (no `gate`) run at once.
fn gated<S>(
    gate: Option<(Arc<ReadGate>, OrganizationId)>,
    metrics: Metrics,
    execute: impl FnOnce() -> S + Send + 'static,
) -> BoxStream<'static, async_graphql::Response>
where
    S: Stream<Item = async_graphql::Response> + Send + 'static,
{
    let Some((gate, organization)) = gate else {
        return execute().boxed();
    };
    let admitted = async move {
        match gate.enter(organization).await {
            Ok(turn) => execute()
                .map(move |response| {
                    let _held = &turn;
                    response
                })
                .boxed(),
            Err(full) => {
                metrics.refused(Transport::WebSocket, Refused::ReadGateFull);
                let refusal = async_graphql::Response::from_errors(vec![full.error()]);
                futures_util::stream::once(async move { refusal }).boxed()
            }
        }
    };
    futures_util::stream::once(admitted).flatten().boxed()
}

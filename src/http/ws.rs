//! GraphQL subscriptions over WebSocket: `graphql-transport-ws` and the
//! legacy `graphql-ws` (subscriptions-transport-ws) protocol.
//!
//! confab reads `connection_init` itself so that it can authenticate from its
//! payload (`{"Authorization": "Bearer …"}`), refuse with close code 4403,
//! and close connections that never initialise with 4408. The rest of the
//! protocol (subscribe, next, complete, ping/pong) is async-graphql's.

use std::str::FromStr;

use async_graphql::http::{ALL_WEBSOCKET_PROTOCOLS, WebSocketProtocols, WsMessage};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt, stream};

use super::AppState;
use crate::auth::{self, Viewer};
use crate::graphql::{LoaderCache, context_data};

/// Read buffer of a socket.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;
/// Close code: the init payload carried no valid token.
const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code: no `connection_init` in time.
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// Close code: the first message was not `connection_init`.
const CLOSE_BAD_REQUEST: u16 = 4400;

/// Upgrades a request to a GraphQL WebSocket.
pub fn upgrade(state: AppState, headers: &HeaderMap, upgrade: WebSocketUpgrade) -> Response {
    let protocol = headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|value| value.to_str().ok())
        .and_then(|protocols| {
            protocols
                .split(',')
                .find_map(|p| WebSocketProtocols::from_str(p.trim()).ok())
        });
    let Some(protocol) = protocol else {
        let message = "ask for the graphql-transport-ws or graphql-ws subprotocol";
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // The defaults reserve 128 KiB per buffer and connection; GraphQL
        // messages are small and idle subscriptions should cost little.
        // Events are written out at once rather than collected.
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(0)
        .max_message_size(crate::http::MAX_BODY_BYTES)
        .on_upgrade(move |socket| serve(state, socket, protocol))
}

async fn serve(state: AppState, socket: WebSocket, protocol: WebSocketProtocols) {
    let (mut sink, mut incoming) = socket.split();

    let first = tokio::time::timeout(state.ws_init_timeout, next_data(&mut incoming)).await;
    let init = match first {
        Err(_) => {
            close(
                &mut sink,
                protocol,
                CLOSE_INIT_TIMEOUT,
                "Connection initialisation timeout",
            )
            .await;
            return;
        }
        Ok(None) => return,
        Ok(Some(init)) => init,
    };
    let viewer = match authenticate_init(&state, &init).await {
        Ok(viewer) => viewer,
        Err((code, reason)) => {
            close(&mut sink, protocol, code, reason).await;
            return;
        }
    };

    // Replay the init message into async-graphql, which acknowledges it.
    let data = context_data(&state.pool, viewer, LoaderCache::Off);
    let rest = incoming
        .take_while(|message| std::future::ready(message.is_ok()))
        .filter_map(|message| {
            std::future::ready(match message {
                Ok(Message::Text(text)) => Some(Bytes::from(text)),
                Ok(Message::Binary(bytes)) => Some(bytes),
                _ => None,
            })
        });
    let input = stream::once(std::future::ready(init)).chain(rest);
    let outgoing = async_graphql::http::WebSocket::new(state.schema.clone(), input, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .map(|message| match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => Message::Close(Some(CloseFrame {
                code,
                reason: reason.into(),
            })),
        });
    futures_util::pin_mut!(outgoing);
    while let Some(message) = outgoing.next().await {
        if sink.send(message).await.is_err() {
            break;
        }
    }
}

/// The next text or binary frame's bytes; `None` when the socket ends.
async fn next_data(incoming: &mut futures_util::stream::SplitStream<WebSocket>) -> Option<Bytes> {
    while let Some(Ok(message)) = incoming.next().await {
        match message {
            Message::Text(text) => return Some(Bytes::from(text)),
            Message::Binary(bytes) => return Some(bytes),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => continue,
        }
    }
    None
}

/// Checks that the first message is `connection_init` with a valid token.
async fn authenticate_init(state: &AppState, init: &[u8]) -> Result<Viewer, (u16, &'static str)> {
    let message: serde_json::Value =
        serde_json::from_slice(init).map_err(|_| (CLOSE_BAD_REQUEST, "Invalid message"))?;
    if message["type"] != "connection_init" {
        return Err((CLOSE_BAD_REQUEST, "Expected connection_init"));
    }
    let forbidden = (CLOSE_FORBIDDEN, "Forbidden");
    let header = message["payload"]
        .as_object()
        .and_then(|payload| {
            payload
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("authorization"))
                .and_then(|(_, value)| value.as_str())
        })
        .ok_or(forbidden)?;
    let token = auth::bearer_token(header).ok_or(forbidden)?;
    let mut conn = state.pool.get().await.map_err(|error| {
        tracing::warn!(%error, "no database connection for WebSocket authentication");
        (1011, "Service unavailable")
    })?;
    match auth::authenticate(&mut conn, token).await {
        Ok(Some(viewer)) => Ok(viewer),
        Ok(None) => Err(forbidden),
        Err(error) => {
            tracing::error!(%error, "WebSocket authentication query failed");
            Err((1011, "Service unavailable"))
        }
    }
}

/// Refuses a connection the way its protocol expects: legacy clients get a
/// `connection_error` message first.
async fn close(
    sink: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    protocol: WebSocketProtocols,
    code: u16,
    reason: &'static str,
) {
    if protocol == WebSocketProtocols::SubscriptionsTransportWS {
        let error =
            serde_json::json!({ "type": "connection_error", "payload": { "message": reason } });
        let _ = sink.send(Message::Text(error.to_string().into())).await;
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = sink.send(Message::Close(Some(frame))).await;
}

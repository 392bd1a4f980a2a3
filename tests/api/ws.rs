//! A small GraphQL-over-WebSocket client for the tests, speaking either
//! `graphql-transport-ws` or the legacy `graphql-ws` protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long to wait for a message before failing.
const WAIT: Duration = Duration::from_secs(10);

pub const TRANSPORT_WS: &str = "graphql-transport-ws";
pub const LEGACY_WS: &str = "graphql-ws";

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    protocol: &'static str,
}

impl WsClient {
    /// Opens a socket to `url` asking for `protocol`.
    pub async fn connect(url: &str, protocol: &'static str) -> WsClient {
        let mut request = url.into_client_request().expect("request");
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol.parse().expect("header"));
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("connect");
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(protocol)
        );
        WsClient { socket, protocol }
    }

    /// Connects and initialises with a bearer token; expects the ack.
    pub async fn connect_as(url: &str, protocol: &'static str, token: &str) -> WsClient {
        let mut client = WsClient::connect(url, protocol).await;
        client.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        let ack = client.receive().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    pub async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .expect("send");
    }

    /// The next WebSocket frame; fails after `WAIT`, on a closed socket or on an error.
    async fn next_frame(&mut self) -> Message {
        tokio::time::timeout(WAIT, self.socket.next())
            .await
            .expect("a message in time")
            .expect("socket open")
            .expect("no socket error")
    }

    /// The next protocol message (skipping keep-alives).
    pub async fn receive(&mut self) -> Value {
        loop {
            match self.next_frame().await {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("JSON message");
                    if value["type"] == "ka" {
                        continue;
                    }
                    return value;
                }
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next text message as JSON, keep-alives included.
    pub async fn receive_raw(&mut self) -> Value {
        loop {
            if let Message::Text(text) = self.next_frame().await {
                return serde_json::from_str(&text).expect("JSON message");
            }
        }
    }

    /// Starts a subscription with id `id`.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == TRANSPORT_WS {
            "subscribe"
        } else {
            "start"
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The message type of a subscription's result: `next`, or `data` in the legacy protocol.
    fn result_type(&self) -> &'static str {
        if self.protocol == TRANSPORT_WS {
            "next"
        } else {
            "data"
        }
    }

    /// The `data` of the next result of subscription `id`.
    pub async fn next_data(&mut self, id: &str) -> Value {
        let message = self.receive().await;
        assert_eq!(message["type"], self.result_type(), "{message}");
        assert_eq!(message["id"], id, "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"].clone()
    }

    /// The errors that ended subscription `id`: either an `error` message
    /// (the document was refused) or, as graphql-js servers do when the
    /// subscription's resolver fails, a `next` with errors and a `complete`.
    pub async fn errors(&mut self, id: &str) -> Value {
        let message = loop {
            let message = self.receive().await;
            if message["id"] == id {
                break message;
            }
        };
        if message["type"] == "error" {
            return message["payload"].clone();
        }
        assert_eq!(message["type"], self.result_type(), "{message}");
        let errors = message["payload"]["errors"].clone();
        assert!(errors.is_array(), "{message}");
        // Other operations on the socket may still deliver in between.
        let complete = loop {
            let next = self.receive().await;
            if next["id"] == id {
                break next;
            }
        };
        assert_eq!(complete["type"], "complete", "{complete}");
        errors
    }

    /// Starts subscription `id` and returns the errors that end it (see `errors`).
    pub async fn refusal(&mut self, id: &str, query: &str, variables: Value) -> Value {
        self.subscribe(id, query, variables).await;
        self.errors(id).await
    }

    /// Waits for the server to close the socket; returns the close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let message = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("closed in time");
            match message {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (frame.code.into(), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
                Some(Ok(Message::Text(text))) if self.protocol == LEGACY_WS => {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    assert_eq!(value["type"], "connection_error", "{value}");
                }
                Some(Ok(_)) => continue,
                Some(Err(error)) => panic!("socket error: {error}"),
            }
        }
    }

    /// Asserts nothing arrives for a short while.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(Some(Ok(Message::Text(text)))) =
            tokio::time::timeout(wait, self.socket.next()).await
        {
            panic!("unexpected message: {text}");
        }
    }
}

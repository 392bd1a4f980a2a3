//! The two GraphQL-over-WebSocket protocols' messages: parsing what a
//! client sends and writing what the server answers.
//!
//! `graphql-transport-ws` (the `graphql-ws` npm package, Apollo, urql) and
//! the legacy `graphql-ws` (subscriptions-transport-ws) differ mostly in
//! names: `subscribe`/`start`, `complete`/`stop`, `next`/`data`.

use async_graphql::ServerError;
use serde::Deserialize;
use serde_json::{Value, json};

/// Which protocol a socket speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `graphql-transport-ws`.
    TransportWs,
    /// The legacy `graphql-ws` of subscriptions-transport-ws.
    Legacy,
}

impl Protocol {
    /// The protocol a `Sec-WebSocket-Protocol` value names, if one we speak.
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name {
            "graphql-transport-ws" => Some(Protocol::TransportWs),
            "graphql-ws" => Some(Protocol::Legacy),
            _ => None,
        }
    }
}

/// Close codes, as graphql-transport-ws defines them.
pub mod close {
    /// The message was not valid.
    pub const BAD_REQUEST: u16 = 4400;
    /// An operation arrived before `connection_ack`.
    pub const UNAUTHORIZED: u16 = 4401;
    /// The init payload carried no valid token.
    pub const FORBIDDEN: u16 = 4403;
    /// No `connection_init` in time.
    pub const INIT_TIMEOUT: u16 = 4408;
    /// An operation id already in use.
    pub const DUPLICATE_ID: u16 = 4409;
    /// A second `connection_init`.
    pub const TOO_MANY_INITS: u16 = 4429;
    /// A message over the size limit (RFC 6455).
    pub const TOO_BIG: u16 = 1009;
    /// The server cannot serve the socket (RFC 6455).
    pub const INTERNAL: u16 = 1011;
}

/// What a client can send, in either protocol.
#[derive(Debug)]
pub enum ClientMessage {
    Init(Value),
    /// `subscribe` or `start`: an operation to run.
    Subscribe {
        id: String,
        request: Box<async_graphql::Request>,
    },
    /// `complete` or `stop`.
    Stop {
        id: String,
    },
    Ping(Option<Value>),
    Pong,
    /// Legacy `connection_terminate`.
    Terminate,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    payload: Option<Value>,
}

/// Parses one message; `None` for anything malformed or unknown.
pub fn parse(bytes: &[u8], protocol: Protocol) -> Option<ClientMessage> {
    let raw: Raw = serde_json::from_slice(bytes).ok()?;
    let subscribe = match protocol {
        Protocol::TransportWs => "subscribe",
        Protocol::Legacy => "start",
    };
    let stop = match protocol {
        Protocol::TransportWs => "complete",
        Protocol::Legacy => "stop",
    };
    Some(match raw.kind.as_str() {
        "connection_init" => ClientMessage::Init(raw.payload.unwrap_or(Value::Null)),
        kind if kind == subscribe => {
            let id = raw.id.filter(|id| !id.is_empty())?;
            let request = serde_json::from_value(raw.payload?).ok()?;
            ClientMessage::Subscribe { id, request }
        }
        kind if kind == stop => ClientMessage::Stop { id: raw.id? },
        "ping" if protocol == Protocol::TransportWs => ClientMessage::Ping(raw.payload),
        "pong" if protocol == Protocol::TransportWs => ClientMessage::Pong,
        "connection_terminate" if protocol == Protocol::Legacy => ClientMessage::Terminate,
        _ => return None,
    })
}

/// `connection_ack`.
pub fn ack() -> String {
    json!({ "type": "connection_ack" }).to_string()
}

/// `pong`, echoing the ping's payload.
pub fn pong(payload: Option<Value>) -> String {
    match payload {
        Some(payload) => json!({ "type": "pong", "payload": payload }).to_string(),
        None => json!({ "type": "pong" }).to_string(),
    }
}

/// One result of an operation, `payload` a response's JSON: `next` or
/// legacy `data`. The payload is serialised once for every socket that
/// shares it; only the id is written here.
pub fn next(protocol: Protocol, id: &str, payload: &str) -> String {
    let kind = match protocol {
        Protocol::TransportWs => "next",
        Protocol::Legacy => "data",
    };
    let id = Value::String(id.to_string());
    format!(r#"{{"type":"{kind}","id":{id},"payload":{payload}}}"#)
}

/// An operation that could not run: `error` with the errors (legacy: the
/// first one as an object, as subscriptions-transport-ws expects).
pub fn error(protocol: Protocol, id: &str, errors: &[ServerError]) -> String {
    let payload = match protocol {
        Protocol::TransportWs => json!(errors),
        Protocol::Legacy => json!(errors.first()),
    };
    json!({ "type": "error", "id": id, "payload": payload }).to_string()
}

/// The end of an operation.
pub fn complete(id: &str) -> String {
    json!({ "type": "complete", "id": id }).to_string()
}

/// Legacy `connection_error`, sent before closing a refused socket.
pub fn connection_error(message: &str) -> String {
    json!({ "type": "connection_error", "payload": { "message": message } }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_has_its_own_names() {
        let start = br#"{"type":"start","id":"1","payload":{"query":"{ a }"}}"#;
        assert!(matches!(
            parse(start, Protocol::Legacy),
            Some(ClientMessage::Subscribe { .. })
        ));
        assert!(parse(start, Protocol::TransportWs).is_none());
        let subscribe = br#"{"type":"subscribe","id":"1","payload":{"query":"{ a }"}}"#;
        assert!(matches!(
            parse(subscribe, Protocol::TransportWs),
            Some(ClientMessage::Subscribe { .. })
        ));
        assert!(
            parse(
                br#"{"type":"subscribe","payload":{"query":"{ a }"}}"#,
                Protocol::TransportWs
            )
            .is_none()
        );
        assert!(parse(b"not json", Protocol::TransportWs).is_none());
    }
}

//! Opening a socket.io connection: the engine.io open packet, then the socket.io connect to
//! a namespace, answering pings meanwhile. Written once over [`Wire`], a source and sink of
//! text packets, so that the bench's bare WebSocket and the tests' queued client (WebSocket
//! or polling) shake hands the same way.

use std::fmt;
use std::future::Future;

use serde_json::Value;

use crate::packet::{self, Packet, SioKind};

/// Why a connection failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server answered the namespace connect with `connect_error` (its data).
    Refused(Value),
    /// The transport failed (HTTP status, I/O, a closed connection...).
    Transport(String),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Refused(data) => write!(f, "connect_error: {data}"),
            ConnectError::Transport(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for ConnectError {}

/// A connection as the handshake sees it: text packets in and out.
pub trait Wire {
    /// The next text packet; an error when the connection is gone.
    fn recv(&mut self) -> impl Future<Output = Result<String, ConnectError>> + Send;
    /// Sends one text packet.
    fn send(&mut self, packet: String) -> impl Future<Output = Result<(), ConnectError>> + Send;
}

/// Waits for the engine.io open packet, connects to `ns` with `auth`, and returns the
/// socket.io session id the server gave. It does not time out: callers bound it.
pub async fn handshake<W: Wire + Send>(
    wire: &mut W,
    ns: &str,
    auth: Option<&Value>,
) -> Result<String, ConnectError> {
    let open = wire.recv().await?;
    if !matches!(Packet::parse(&open), Packet::Open(_)) {
        return Err(ConnectError::Transport(format!(
            "expected the engine.io open packet, got {open:?}"
        )));
    }
    wire.send(packet::connect(ns, auth)).await?;
    let wanted = if ns.is_empty() { "/" } else { ns };
    loop {
        let text = wire.recv().await?;
        match Packet::parse(&text) {
            Packet::Ping => wire.send(packet::PONG.into()).await?,
            Packet::Message(p) if p.ns == wanted && p.kind == SioKind::Connect => {
                let data = p.value();
                return Ok(data["sid"].as_str().unwrap_or_default().to_string());
            }
            Packet::Message(p) if p.ns == wanted && p.kind == SioKind::ConnectError => {
                return Err(ConnectError::Refused(p.value()));
            }
            _ => {}
        }
    }
}

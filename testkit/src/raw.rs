//! One socket.io connection over a bare WebSocket: no task, no queue, no parsing the caller
//! did not ask for. The load bench holds thousands of these on one thread and reads their
//! frames itself. The tests' [`SioClient`](crate::SioClient) shares the framing and the
//! handshake but keeps tungstenite's default connection (Nagle on): its packets leave as they
//! always did.

use std::fmt;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::handshake::{handshake, ConnectError, Wire};
use crate::packet;

/// The WebSocket under a [`RawSocket`].
pub type WsStream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Why an open connection stopped working.
#[derive(Debug)]
pub enum WireError {
    /// The server closed the connection (a Close frame or the end of the stream).
    Closed,
    /// The WebSocket failed.
    WebSocket(tungstenite::Error),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Closed => f.write_str("connection closed by the server"),
            WireError::WebSocket(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WireError {}

impl From<tungstenite::Error> for WireError {
    fn from(e: tungstenite::Error) -> Self {
        WireError::WebSocket(e)
    }
}

impl From<WireError> for ConnectError {
    fn from(e: WireError) -> Self {
        ConnectError::Transport(e.to_string())
    }
}

/// A WebSocket speaking engine.io / socket.io text packets.
pub struct RawSocket {
    ws: WsStream,
}

impl RawSocket {
    /// Opens the WebSocket of `request` (a handshake URL, see [`packet::handshake_url`], maybe
    /// with headers); no engine.io or socket.io yet.
    ///
    /// TCP_NODELAY is on, as browsers do: the client's own Nagle delays stay out of the
    /// figures. The read chunk is 4 KiB instead of tungstenite's 128 KiB: the default was
    /// allocated and zeroed for every connection, and that (memset and the page faults behind
    /// it) was about 40 % of the load generator's CPU while connecting. Larger messages still
    /// arrive whole.
    pub async fn open(request: impl IntoClientRequest + Unpin) -> Result<RawSocket, ConnectError> {
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let (ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
            .await
            .map_err(|e| ConnectError::Transport(e.to_string()))?;
        Ok(RawSocket { ws })
    }

    /// Opens the WebSocket of `request` and connects to the namespace `ns` with `auth`;
    /// returns the socket and its socket.io session id. Not bounded in time: callers are.
    pub async fn connect(
        request: impl IntoClientRequest + Unpin,
        ns: &str,
        auth: Option<&Value>,
    ) -> Result<(RawSocket, String), ConnectError> {
        let mut socket = RawSocket::open(request).await?;
        let sid = handshake(&mut socket, ns, auth).await?;
        Ok((socket, sid))
    }

    /// The next text frame: `None` for a frame of another kind, an error when the
    /// connection is gone. Pings come through (answer them with [`RawSocket::pong`]).
    /// Cancel-safe: nothing is lost when it loses a `select!`.
    pub async fn next_text(&mut self) -> Result<Option<String>, WireError> {
        match self.ws.next().await {
            Some(Ok(Message::Text(t))) => Ok(Some(t.to_string())),
            Some(Ok(Message::Close(_))) | None => Err(WireError::Closed),
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => Err(e.into()),
        }
    }

    /// The next text packet, answering engine.io pings on the way.
    pub async fn recv_packet(&mut self) -> Result<String, WireError> {
        loop {
            match self.next_text().await? {
                Some(t) if t == packet::PING => self.pong().await?,
                Some(t) => return Ok(t),
                None => {}
            }
        }
    }

    /// Sends one text packet.
    pub async fn send(&mut self, packet: String) -> Result<(), WireError> {
        self.ws.send(Message::text(packet)).await?;
        Ok(())
    }

    /// Answers an engine.io ping.
    pub async fn pong(&mut self) -> Result<(), WireError> {
        self.send(packet::PONG.into()).await
    }

    /// Graceful close: sends a Close frame and waits briefly (2 s) for the server's.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            if self.ws.close(None).await.is_ok() {
                while let Some(Ok(_)) = self.ws.next().await {}
            }
        })
        .await;
    }
}

impl Wire for RawSocket {
    async fn recv(&mut self) -> Result<String, ConnectError> {
        // The handshake answers pings itself; pass every text packet up.
        loop {
            if let Some(t) = self.next_text().await? {
                return Ok(t);
            }
        }
    }

    async fn send(&mut self, packet: String) -> Result<(), ConnectError> {
        Ok(RawSocket::send(self, packet).await?)
    }
}

//! What every plain-WebSocket dialect shares: the socket with its sending rules (a failed
//! send marks the peer gone; an oversized frame closes with 1009), the keep-alive (a ping
//! every `WS_PING_INTERVAL_SECS`, a close 1001 after `WS_IDLE_TIMEOUT_SECS` of silence) and
//! the connection count of `/api/stats`.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use serde::Serialize;
use tokio::time::{Instant, Interval, MissedTickBehavior, Sleep};

use crate::config::Config;

/// One peer's socket.
pub struct Wire {
    socket: WebSocket,
    /// False once a send failed or the connection was closed: the peer is gone.
    pub open: bool,
}

impl Wire {
    pub fn new(socket: WebSocket) -> Self {
        Wire { socket, open: true }
    }

    /// The next frame from the peer.
    pub async fn recv(&mut self) -> Option<Result<Message, axum::Error>> {
        self.socket.recv().await
    }

    /// Sends a server message.
    pub async fn send<T: Serialize>(&mut self, frame: &T) {
        let text = encode(frame);
        self.send_text(text).await;
    }

    /// Sends a server message already encoded.
    pub async fn send_text(&mut self, text: Option<String>) {
        let Some(text) = text else { return };
        if !self.open {
            return;
        }
        if let Err(e) = self.socket.send(Message::Text(text.into())).await {
            tracing::debug!(error = %e, "send failed: peer gone");
            self.open = false;
        }
    }

    /// Closes with `code` and `reason`.
    pub async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
        self.open = false;
    }

    /// Sends a keep-alive ping; false when the peer is gone.
    pub async fn ping(&mut self) -> bool {
        self.socket
            .send(Message::Ping(Default::default()))
            .await
            .is_ok()
    }

    /// A frame could not be read: an oversized message is answered with close code 1009
    /// before the connection ends; anything else just ends it.
    pub async fn read_failed(&mut self, why: &str) {
        // axum does not expose tungstenite's error type; its text is stable ("Space limit
        // exceeded: Message too long: ..."), and the worst a change can do is a plainer close.
        if why.contains("Space limit exceeded") || why.contains("too long") {
            tracing::info!("message larger than MAX_PAYLOAD_BYTES: closing the connection");
            self.close(close_code::SIZE, "message too big").await;
        } else {
            tracing::debug!(error = why, "read failed");
        }
    }
}

/// What the peer sent, as a dialect reads it.
pub enum Heard {
    /// A text message (or a binary one holding UTF-8 text).
    Text(String),
    /// A binary message that is not UTF-8.
    NotText,
    /// A ping or pong: only proof of life.
    Control,
    /// The peer closed, went away, or sent what could not be read.
    Gone,
}

impl Wire {
    /// Reads what `frame` is; anything from the peer moves the idle deadline.
    pub async fn hear(
        &mut self,
        frame: Option<Result<Message, axum::Error>>,
        keepalive: &mut Keepalive,
    ) -> Heard {
        match frame {
            None => Heard::Gone,
            Some(Err(e)) => {
                self.read_failed(&e.to_string()).await;
                Heard::Gone
            }
            Some(Ok(msg)) => {
                keepalive.heard();
                match msg {
                    Message::Text(text) => Heard::Text(text.as_str().to_owned()),
                    Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                        Ok(text) => Heard::Text(text.to_owned()),
                        Err(_) => Heard::NotText,
                    },
                    Message::Close(_) => Heard::Gone,
                    // Pings are answered by the WebSocket layer; pongs only prove life.
                    Message::Ping(_) | Message::Pong(_) => Heard::Control,
                }
            }
        }
    }
}

/// An inbound text frame, in the order every dialect takes it: first it spends from the
/// connection's budget (a flood is refused before anything is decoded), then the dialect
/// decodes it.
pub fn admit<T, E: From<crate::error::AppError>>(
    budget: &crate::edge::limits::SocketBudget,
    text: &str,
    decode: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, E> {
    budget.check()?;
    decode(text)
}

/// A server message as text.
pub fn encode<T: Serialize>(frame: &T) -> Option<String> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!(error = %e, "server message not encoded");
            None
        }
    }
}

/// The keep-alive of one connection: when to ping, and when silence has lasted too long.
pub struct Keepalive {
    ping: Interval,
    idle: Pin<Box<Sleep>>,
    idle_after: Duration,
}

impl Keepalive {
    pub fn new(config: &Config) -> Self {
        let ping_every = Duration::from_secs(config.ws_ping_interval_secs.max(1));
        let idle_after = Duration::from_secs(config.ws_idle_timeout_secs.max(1));
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Keepalive {
            ping,
            idle: Box::pin(tokio::time::sleep(idle_after)),
            idle_after,
        }
    }

    /// What is due first: a keep-alive ping, the end of an access that was revoked, or the
    /// end of a silence that lasted too long.
    pub async fn due(&mut self, revoked: &tokio_util::sync::CancellationToken) -> Due {
        tokio::select! {
            _ = self.ping.tick() => Due::Ping,
            () = revoked.cancelled() => Due::Revoked,
            () = &mut self.idle => Due::Idle,
        }
    }

    /// Something arrived from the peer: the idle deadline moves.
    pub fn heard(&mut self) {
        let next = Instant::now() + self.idle_after;
        self.idle.as_mut().reset(next);
    }
}

/// See [`Keepalive::due`].
pub enum Due {
    Ping,
    Revoked,
    Idle,
}

impl Wire {
    /// Does what is due; false when the connection ends.
    pub async fn on_due(&mut self, due: Due) -> bool {
        match due {
            Due::Ping => self.ping().await,
            Due::Revoked => {
                tracing::info!("access revoked: closing");
                self.close(close_code::POLICY, "access revoked").await;
                false
            }
            Due::Idle => {
                tracing::debug!("no frame within the idle timeout: closing");
                self.close(close_code::AWAY, "idle timeout").await;
                false
            }
        }
    }
}

/// Counts an open plain-WebSocket connection in `/api/stats` and `/metrics` for as long as
/// it lives. Decremented on drop, so that a connection that ends in any way (close, error, a
/// panic in its task) is not counted forever.
pub struct Counted(Arc<crate::ops::Stats>, &'static str);

impl Counted {
    pub fn open(stats: &Arc<crate::ops::Stats>, path: &'static str) -> Counted {
        crate::metrics::connection_opened(path);
        stats.websockets.fetch_add(1, Ordering::Relaxed);
        Counted(stats.clone(), path)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.websockets.fetch_sub(1, Ordering::Relaxed);
        crate::metrics::connection_closed(self.1);
    }
}

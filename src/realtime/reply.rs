//! Answering socket events: through the ack when the client asked for one, otherwise (for
//! failures) as an `error` event `{code, message, event}` to the sender. Success acks are
//! wrapped `{ok: true, data}`, failures `{ok: false, error: {code, message}}`.

use std::convert::Infallible;
use std::sync::Arc;

use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, SocketRef};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;
use socketioxide_core::Value;

use super::types::{ErrorEvent, Failure, Success};
use crate::error::{AppError, AppResult};

/// The ack of the current event, and whether the client asked for one.
pub struct Ack<A: Adapter> {
    sender: AckSender<A>,
    wanted: bool,
}

impl<A: Adapter> FromMessageParts<A> for Ack<A> {
    type Error = Infallible;
    fn from_message_parts(
        s: &Arc<Socket<A>>,
        v: &mut Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Infallible> {
        let sender = AckSender::from_message_parts(s, v, ack_id)?;
        Ok(Ack {
            sender,
            wanted: ack_id.is_some(),
        })
    }
}

impl<A: Adapter> Ack<A> {
    /// Whether the client sent an ack callback.
    pub fn wanted(&self) -> bool {
        self.wanted
    }

    /// Sends `value` as the ack, unwrapped (the seed-compatible `init_session` ack).
    pub fn send_raw<T: Serialize + ?Sized>(self, value: &T) {
        if let Err(e) = self.sender.send(value) {
            tracing::debug!(error = %e, "ack not sent");
        }
    }

    /// Answers with `{ok: true, data}` or, on failure, `{ok: false, error}` / an `error` event.
    pub fn reply<T: Serialize>(self, socket: &SocketRef<A>, event: &str, result: AppResult<T>) {
        match result {
            Ok(data) => {
                if self.wanted {
                    self.send_raw(&Success { ok: true, data });
                }
            }
            Err(e) => self.fail(socket, event, e),
        }
    }

    /// Answers with a failure.
    pub fn fail(self, socket: &SocketRef<A>, event: &str, err: AppError) {
        if self.wanted {
            self.send_raw(&Failure {
                ok: false,
                error: err.body(),
            });
        } else {
            emit_error(socket, event, &err);
        }
    }
}

/// Emits `error {code, message, event}` to one socket.
pub fn emit_error<A: Adapter>(socket: &SocketRef<A>, event: &str, err: &AppError) {
    let payload = ErrorEvent::new(err.body(), event);
    if let Err(e) = socket.emit("error", &payload) {
        tracing::debug!(error = %e, "error event not sent");
    }
}

//! Wire types every socket.io event shares: the ack envelopes (`{ok: true, data}`,
//! `{ok: false, error}`), the `error` event sent when the client asked for no ack, and
//! `server_shutdown`.

use serde::Serialize;

use crate::error::ErrorBody;

/// A success ack: `{ok: true, data}`, serialized straight from its data.
#[derive(Debug, Serialize)]
pub struct Success<T> {
    pub ok: bool,
    pub data: T,
}

/// A failure ack: `{ok: false, error: {code, message, retryAfterMs?}}`.
#[derive(Debug, Serialize)]
pub struct Failure {
    pub ok: bool,
    pub error: ErrorBody,
}

/// `error {code, message, event, retryAfterMs?}` to one socket: an event of its failed and
/// it asked for no ack.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEvent<'a> {
    pub code: &'static str,
    pub message: String,
    pub event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl<'a> ErrorEvent<'a> {
    pub fn new(body: ErrorBody, event: &'a str) -> Self {
        ErrorEvent {
            code: body.code,
            message: body.message,
            event,
            retry_after_ms: body.retry_after_ms,
        }
    }
}

/// `server_shutdown {reconnectAfterMs}` to every socket of a node that is stopping.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerShutdown {
    pub reconnect_after_ms: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use serde_json::json;

    #[test]
    fn failures_and_error_events_carry_the_error_body() {
        let limited = AppError::RateLimited {
            retry_after_ms: 250,
        };
        let ack = Failure {
            ok: false,
            error: limited.body(),
        };
        assert_eq!(
            serde_json::to_value(&ack).unwrap_or_default(),
            json!({ "ok": false, "error": { "code": "rate_limited",
                    "message": "too many requests; retry in 250 ms", "retryAfterMs": 250 } })
        );
        let event = ErrorEvent::new(AppError::SessionNotFound.body(), "read");
        assert_eq!(
            serde_json::to_value(&event).unwrap_or_default(),
            json!({ "code": "session_not_found", "message": "session not found", "event": "read" })
        );
        let shutdown = ServerShutdown {
            reconnect_after_ms: 1000,
        };
        assert_eq!(
            serde_json::to_value(&shutdown).unwrap_or_default(),
            json!({ "reconnectAfterMs": 1000 })
        );
    }
}

/// The `init_session` ack: the session's (seed-compatible, unwrapped) fields and the desk's
/// `availability {online, agentsOnline, reason?, nextOpening?}`, and `contactLeft: true` once
/// the visitor left an address on the offline form (a reloaded widget shows "we will write
/// back" instead of asking again).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InitReply {
    #[serde(flatten)]
    pub ack: crate::sessions::types::InitAck,
    pub availability: crate::desk::types::Availability,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub contact_left: bool,
}

/// The payload of `leave_contact {sessionId, email, message?}`.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactPayload {
    pub session_id: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub message: Option<String>,
}

//! WebRTC call signalling relay (shared/seeds/002): `call-offer`, `call-answer`,
//! `ice-candidate`, `call-end` go, with `from`, to the other sockets that joined the same
//! session, in both namespaces. Never stored; size-limited; a socket that has not joined
//! the session gets `forbidden`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use crate::error::{AppError, AppResult};
use crate::hub::Except;
use crate::messages::types::Sender;
use crate::realtime::reply::Ack;
use crate::realtime::{self, parse, respond};
use crate::state::AppState;

/// Largest signalling payload relayed (SDP offers are a few KiB).
pub const MAX_SIGNAL_BYTES: usize = 64 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Signal {
    session_id: String,
    #[serde(default)]
    payload: Value,
}

/// A signal as the other sockets of the session get it: `{sessionId, payload, from: {sid,
/// sender}}` (`payload` is the sender's, untouched).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RelayedSignal<'a> {
    pub session_id: &'a str,
    pub payload: &'a Value,
    pub from: SignalFrom,
}

/// Who sent a signal: their socket and side.
#[derive(Debug, Serialize)]
pub struct SignalFrom {
    pub sid: String,
    pub sender: Sender,
}

/// The ack of a signal: `{delivered: true}` (handed to the room; whether anyone is there is
/// not known).
#[derive(Debug, Serialize)]
pub struct Delivered {
    pub delivered: bool,
}

pub(crate) async fn relay<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
    event: &'static str,
) {
    respond(&s, ack, event, async {
        let sig: Signal = parse(data)?;
        forward(&s, &state, event, sig).await
    })
    .await
}

async fn forward<A: Adapter>(
    s: &SocketRef<A>,
    state: &AppState,
    event: &'static str,
    sig: Signal,
) -> AppResult<Delivered> {
    let session_id = sig.session_id.to_ascii_lowercase();
    if !realtime::joined(s).contains(&session_id) {
        crate::sessions::service::get_by_session_id(&state.db, &session_id).await?;
        return Err(AppError::Forbidden(
            "join the session before signalling in it".into(),
        ));
    }
    let size = serde_json::to_vec(&sig.payload)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_SIGNAL_BYTES {
        return Err(AppError::InvalidPayload(format!(
            "signalling payload is larger than {MAX_SIGNAL_BYTES} bytes"
        )));
    }
    let sender = if realtime::identity(s).is_some_and(|i| i.is_staff()) {
        Sender::Admin
    } else {
        Sender::User
    };
    let out = RelayedSignal {
        session_id: &session_id,
        payload: &sig.payload,
        from: SignalFrom {
            sid: s.id.to_string(),
            sender,
        },
    };
    state
        .hub
        .to_session(&session_id, event, &out, Some(Except::socket(s)))
        .await;
    Ok(Delivered { delivered: true })
}

//! WebRTC call signalling relay (shared/seeds/002): `call-offer`, `call-answer`,
//! `ice-candidate`, `call-end` go, with `from`, to the other sockets that joined the same
//! session, in both namespaces. Never stored; size-limited; a socket that has not joined
//! the session gets `forbidden`.

use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use crate::error::{AppError, AppResult};
use crate::realtime::hub::Except;
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
) -> AppResult<Value> {
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
        "admin"
    } else {
        "user"
    };
    let out = json!({ "sessionId": session_id, "payload": sig.payload, "from": { "sid": s.id.to_string(), "sender": sender } });
    state
        .hub
        .to_session(&session_id, event, &out, Some(Except::socket(s)))
        .await;
    Ok(json!({ "delivered": true }))
}

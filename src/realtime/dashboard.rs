//! The reference dashboard's socket.io events on "/" (see [`crate::dashboard`] for the
//! protocol and the list pushes): each handler checks the caller is staff, decodes, calls the
//! desk or the dashboard's queries, and answers.

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};

use crate::dashboard::types::{HistoryItem, SessionRef, ToggleAiMode};
use crate::dashboard::{active, all};
use crate::error::{AppError, AppResult};
use crate::hub::DASHBOARDS_ROOM;
use crate::realtime::reply::Ack;
use crate::realtime::visitor::require_staff;
use crate::realtime::{self, respond};
use crate::sessions::types::{SessionAck, SessionId};
use crate::state::AppState;

/// Emits a reply event to the asking socket.
fn tell<A: Adapter, T: serde::Serialize + ?Sized>(s: &SocketRef<A>, event: &str, data: &T) {
    if let Err(e) = s.emit(event, data) {
        tracing::debug!(error = %e, event, "dashboard reply not sent");
    }
}

/// The session id an event's payload names (`{sessionId}` or the id alone).
fn session_ref(data: Result<Value, socketioxide::ParserError>) -> AppResult<SessionId> {
    let value = data.map_err(|_| AppError::InvalidPayload("payload is not valid JSON".into()))?;
    let r: SessionRef = serde_json::from_value(value)
        .map_err(|_| AppError::InvalidPayload("sessionId is required (a UUID string)".into()))?;
    SessionId::parse(&r.into_id())
}

/// The session an event's payload names.
async fn named(
    state: &AppState,
    data: Result<Value, socketioxide::ParserError>,
) -> AppResult<entity::chat_session::Model> {
    let id = session_ref(data)?;
    crate::sessions::service::get_by_session_id(&state.db, id.as_str()).await
}

/// `admin-connect`: the socket becomes a dashboard; it gets `sessions-list`.
pub(crate) async fn connect<A: Adapter>(
    s: SocketRef<A>,
    _data: TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "admin-connect", async {
        require_staff(&s, &state, "admin-connect")?;
        s.join(DASHBOARDS_ROOM);
        state.hub.dashboard_joined(s.id);
        let list = active(&state).await?;
        tell(&s, "sessions-list", &list);
        Ok(Value::Null)
    })
    .await
}

/// `get-sessions`: `sessions-list` (visitor connected now).
pub(crate) async fn get_sessions<A: Adapter>(
    s: SocketRef<A>,
    _data: TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "get-sessions", async {
        require_staff(&s, &state, "get-sessions")?;
        let list = active(&state).await?;
        tell(&s, "sessions-list", &list);
        Ok(Value::Null)
    })
    .await
}

/// `get-all-sessions`: `all-sessions-list`, newest first, active ones marked.
pub(crate) async fn get_all_sessions<A: Adapter>(
    s: SocketRef<A>,
    _data: TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "get-all-sessions", async {
        require_staff(&s, &state, "get-all-sessions")?;
        let list = all(&state).await?;
        tell(&s, "all-sessions-list", &list);
        Ok(Value::Null)
    })
    .await
}

/// `get-messages {sessionId}`: `messages-history`, oldest first (the latest
/// `HISTORY_LIMIT`).
pub(crate) async fn get_messages<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "get-messages", async {
        require_staff(&s, &state, "get-messages")?;
        let session = named(&state, data).await?;
        let page = crate::conversation::history(
            &state,
            &(&session).into(),
            crate::conversation::Viewer::Staff,
            None,
            Some(state.config.history_limit),
        )
        .await?;
        let history: Vec<HistoryItem> = page
            .dtos(&session.session_id)
            .into_iter()
            .map(HistoryItem::from)
            .collect();
        tell(&s, "messages-history", &history);
        Ok(Value::Null)
    })
    .await
}

/// `admin-join-session {sessionId}`: the socket joins the session's room.
pub(crate) async fn join<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "admin-join-session", async {
        require_staff(&s, &state, "admin-join-session")?;
        let session = named(&state, data).await?;
        s.join(session.session_id.clone());
        realtime::joined(&s).insert(&session.session_id, &session.id);
        Ok(SessionAck {
            session_id: session.session_id,
        })
    })
    .await
}

/// `admin-leave-session {sessionId}`: the socket leaves the session's room.
pub(crate) async fn leave<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "admin-leave-session", async {
        require_staff(&s, &state, "admin-leave-session")?;
        let id = session_ref(data)?;
        s.leave(id.as_str().to_string());
        realtime::joined(&s).remove(id.as_str());
        Ok(SessionAck {
            session_id: id.into_inner(),
        })
    })
    .await
}

/// `toggle-ai-mode {sessionId, enabled}` (both namespaces): the session's assistant switch.
pub(crate) async fn toggle_ai_mode<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "toggle-ai-mode", async {
        require_staff(&s, &state, "toggle-ai-mode")?;
        let p: ToggleAiMode = realtime::parse(data)?;
        let switch = p
            .switch()
            .map_err(|why| AppError::InvalidPayload(why.into()))?;
        let session = crate::sessions::service::get_by_session_id(&state.db, &p.session_id).await?;
        crate::desk::set_ai_mode(&state, &session, switch).await
    })
    .await
}

/// A dashboard event on "/admin": it belongs to "/".
pub(crate) async fn elsewhere<A: Adapter>(s: SocketRef<A>, ack: Ack<A>, event: String) {
    respond(&s, ack, &event, async {
        Err::<(), _>(AppError::InvalidPayload(format!(
            "{event} is an event of the \"/\" namespace (the reference dashboard's protocol)"
        )))
    })
    .await
}

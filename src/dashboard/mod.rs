//! The reference app's admin dashboard protocol, on namespace "/": a thin adapter over the
//! desk and the sessions (PROTOCOL.md part 1, last point; issue 16).
//!
//! Events: `admin-connect` (the socket becomes a dashboard and gets `sessions-list`),
//! `get-sessions`, `get-all-sessions` (`all-sessions-list`), `get-messages`
//! (`messages-history`), `admin-join-session` / `admin-leave-session`, `toggle-ai-mode`
//! (`ai-mode-changed` to every staff socket). Dashboards also get `sessions-list` again when
//! the desk's session list changes (a session starts, gets a message, loses its visitor),
//! read at most once per [`LIST_WINDOW`] per node however many changes there were, and
//! `new-message {sessionId, message}` for every visitor message.
//!
//! These are staff events: a staff token (handshake `auth`, `?token=`, `Authorization`), or
//! the operator's legacy open mode (`INSECURE_OPEN_ADMIN`) for the unmodified dashboard.

pub mod types;

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::socket::Sid;
use tokio_util::sync::CancellationToken;

use crate::error::{AppError, AppResult};
use crate::hub::DASHBOARDS_ROOM;
use crate::messages::types::MessageDto;
use crate::realtime::reply::Ack;
use crate::realtime::{self, respond};
use crate::sessions::events::require_staff;
use crate::sessions::types::SessionAck;
use crate::state::AppState;
use types::{DashboardSession, HistoryItem, SessionRef, ToggleAiMode};

/// How long changes of the session list gather before dashboards read it again.
pub const LIST_WINDOW: Duration = Duration::from_millis(500);
/// The most sessions one list carries (newest first).
pub const LIST_LIMIT: usize = 500;

/// This node's dashboard sockets (to read the list only when someone shows it).
#[derive(Default)]
pub struct Dashboards {
    sockets: Mutex<HashSet<Sid>>,
}

impl Dashboards {
    fn add(&self, sid: Sid) {
        if let Ok(mut set) = self.sockets.lock() {
            set.insert(sid);
        }
    }

    /// A socket of "/" closed (it may have been a dashboard).
    pub fn remove(&self, sid: Sid) {
        if let Ok(mut set) = self.sockets.lock() {
            set.remove(&sid);
        }
    }

    fn any(&self) -> bool {
        self.sockets.lock().map(|s| !s.is_empty()).unwrap_or(false)
    }
}

/// Pushes `sessions-list` to this node's dashboards when the desk's session list changed
/// (here or on another node), at most once per [`LIST_WINDOW`]; tells the other nodes of
/// this node's changes. Stops with `stop`.
pub fn spawn_feed(state: AppState, stop: CancellationToken) {
    tokio::spawn(async move {
        let pulse = state.hub.pulse();
        loop {
            let (mut local, _) = tokio::select! {
                _ = stop.cancelled() => return,
                c = pulse.changed() => c,
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(LIST_WINDOW) => {}
            }
            // What else changed meanwhile goes out with this one.
            if let Some((more, _)) = futures::FutureExt::now_or_never(pulse.changed()) {
                local |= more;
            }
            if local {
                state.hub.relay_sessions_changed();
            }
            if state.dashboards.any() {
                match active(&state).await {
                    Ok(list) => state.hub.to_dashboards_here("sessions-list", &list).await,
                    Err(e) => tracing::warn!(error = %e, "session list for dashboards not read"),
                }
            }
        }
    });
}

/// The sessions whose visitor is connected now (on any node), latest activity first.
async fn active(state: &AppState) -> AppResult<Vec<DashboardSession>> {
    let ids: Vec<String> = state.presence.online_sessions().await.into_iter().collect();
    let mut list = crate::sessions::service::find_by_session_ids(&state.db, &ids).await?;
    list.sort_by(|a, b| {
        let at = |s: &entity::chat_session::Model| s.last_message_at.unwrap_or(s.created_at);
        at(b).cmp(&at(a)).then_with(|| b.id.cmp(&a.id))
    });
    list.truncate(LIST_LIMIT);
    described(state, &list).await
}

/// Every session (the newest [`LIST_LIMIT`]), newest first.
async fn all(state: &AppState) -> AppResult<Vec<DashboardSession>> {
    let list = crate::sessions::service::list(
        &state.db,
        &crate::sessions::service::ListFilter {
            limit: LIST_LIMIT as u64,
            ..Default::default()
        },
    )
    .await?;
    described(state, &list).await
}

async fn described(
    state: &AppState,
    list: &[entity::chat_session::Model],
) -> AppResult<Vec<DashboardSession>> {
    Ok(crate::desk::summaries(state, list)
        .await?
        .into_iter()
        .map(DashboardSession::from)
        .collect())
}

/// Emits a reply event to the asking socket.
fn tell<A: Adapter, T: serde::Serialize + ?Sized>(s: &SocketRef<A>, event: &str, data: &T) {
    if let Err(e) = s.emit(event, data) {
        tracing::debug!(error = %e, event, "dashboard reply not sent");
    }
}

/// A session named by an event's payload (`{sessionId}` or the id alone).
async fn named(
    state: &AppState,
    data: Result<Value, socketioxide::ParserError>,
) -> AppResult<entity::chat_session::Model> {
    let value = data.map_err(|_| AppError::InvalidPayload("payload is not valid JSON".into()))?;
    let r: SessionRef = serde_json::from_value(value)
        .map_err(|_| AppError::InvalidPayload("sessionId is required (a UUID string)".into()))?;
    crate::sessions::service::get_by_session_id(&state.db, &r.into_id()).await
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
        state.dashboards.add(s.id);
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
        let (rows, _) = crate::messages::service::messages_before_within(
            &state.db,
            &session.id,
            0,
            None,
            state.config.history_limit.max(1),
            state.config.response_max_bytes,
        )
        .await?;
        let history: Vec<HistoryItem> = rows
            .into_iter()
            .map(|m| HistoryItem::from(MessageDto::from_model(m, &session.session_id)))
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
        let value =
            data.map_err(|_| AppError::InvalidPayload("payload is not valid JSON".into()))?;
        let r: SessionRef = serde_json::from_value(value)
            .map_err(|_| AppError::InvalidPayload("sessionId is required".into()))?;
        let id = crate::sessions::types::SessionId::parse(&r.into_id())?;
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

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

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::AppResult;
use crate::state::AppState;
use types::DashboardSession;

/// How long changes of the session list gather before dashboards read it again.
pub const LIST_WINDOW: Duration = Duration::from_millis(500);
/// The most sessions one list carries (newest first).
pub const LIST_LIMIT: usize = 500;

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
            if state.hub.has_local_dashboards() {
                match active(&state).await {
                    Ok(list) => state.hub.to_dashboards_here("sessions-list", &list).await,
                    Err(e) => tracing::warn!(error = %e, "session list for dashboards not read"),
                }
            }
        }
    });
}

/// The sessions whose visitor is connected now (on any node), latest activity first.
pub async fn active(state: &AppState) -> AppResult<Vec<DashboardSession>> {
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
pub async fn all(state: &AppState) -> AppResult<Vec<DashboardSession>> {
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

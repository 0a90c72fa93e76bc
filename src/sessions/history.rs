//! Erasing history, for everyone (an admin's `clear_history`, REST `DELETE`) or for the
//! visitor's own views only (a visitor's `clear_history`), whatever the protocol asked.

use super::service;
use super::types::{Cleared, HistoryCleared};
use crate::error::AppResult;
use crate::state::AppState;

/// Erases a session's messages for everyone and tells its room.
pub async fn clear(state: &AppState, pk: &str, session_id: &str) -> AppResult<Cleared> {
    // Messages still queued for this session are stored first, then erased with the rest.
    state.writer.flush().await;
    let n = crate::messages::service::clear(&state.db, pk).await?;
    tracing::info!(session = %session_id, erased = n, "history cleared");
    let payload = HistoryCleared {
        session_id: session_id.to_string(),
        cleared_seq: None,
    };
    state
        .hub
        .to_session(session_id, "history_cleared", &payload, None)
        .await;
    Ok(Cleared {
        session_id: session_id.to_string(),
        cleared: n,
        cleared_seq: None,
    })
}

/// A visitor's clear: the visitor's views (resume, `get_history` on "/", their REST read,
/// the `/ws` history) start after the session's latest `seq`; nothing is deleted and the
/// staff's views are unchanged. Only the visitor side hears `history_cleared`.
pub async fn clear_for_visitor(state: &AppState, pk: &str, session_id: &str) -> AppResult<Cleared> {
    // Messages the visitor sent before clearing are stored first, then hidden with the rest.
    state.writer.flush().await;
    let (upto, n) = service::clear_for_visitor(&state.db, pk).await?;
    tracing::info!(session = %session_id, hidden = n, upto, "history cleared for the visitor");
    let payload = HistoryCleared {
        session_id: session_id.to_string(),
        cleared_seq: Some(upto),
    };
    state
        .hub
        .to_visitors(session_id, "history_cleared", &payload)
        .await;
    Ok(Cleared {
        session_id: session_id.to_string(),
        cleared: n,
        cleared_seq: Some(upto),
    })
}

//! Erasing a conversation, whatever protocol asked: for everyone (an admin's
//! `clear_history`, REST `DELETE /api/chats/:sessionId`) its attachments' files and rows go,
//! then its messages; for the visitor (the visitor's own `clear_history`) the messages and
//! attachments are hidden from the visitor's views only.

use crate::error::AppResult;
use crate::sessions::types::Cleared;
use crate::state::AppState;

/// Erases the session's attachments (files first, see `attachments::erase_session`) and
/// messages for everyone, and tells its room.
pub async fn for_everyone(state: &AppState, pk: &str, session_id: &str) -> AppResult<Cleared> {
    let files = crate::attachments::erase_session(state, pk).await?;
    if files > 0 {
        tracing::info!(session = %session_id, files, "attachments erased");
    }
    crate::sessions::history::clear(state, pk, session_id).await
}

/// Hides the session's history and attachments from its visitor; staff keep seeing both.
pub async fn for_visitor(state: &AppState, pk: &str, session_id: &str) -> AppResult<Cleared> {
    let cleared = crate::sessions::history::clear_for_visitor(state, pk, session_id).await?;
    crate::attachments::hide_from_visitor(state, pk).await?;
    Ok(cleared)
}

//! Reading a conversation back: pages as the viewer may see them (a visitor's view starts
//! after the visitor's own clear), bounded by `HISTORY_LIMIT` messages and
//! `RESPONSE_MAX_BYTES` of content.

use entity::chat_session::Model as Session;
use entity::message::Model as Message;

use super::{SessionRef, Viewer};
use crate::error::AppResult;
use crate::messages::types::MessageDto;
use crate::state::AppState;

/// Messages a backward page holds when the client names no `limit` (the seeds' 50).
pub const DEFAULT_PAGE: u64 = 50;

/// How many messages a page holds: what the client asked for (else `default`), at least
/// one, at most `HISTORY_LIMIT`.
pub fn page_size(state: &AppState, asked: Option<u64>, default: u64) -> u64 {
    let max = state.config.history_limit.max(1);
    asked.unwrap_or(default).clamp(1, max)
}

/// Messages in `seq` order, and whether more lie beyond them.
#[derive(Debug)]
pub struct Page {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

impl Page {
    /// The messages in their wire form.
    pub fn dtos(self, session_id: &str) -> Vec<MessageDto> {
        self.messages
            .into_iter()
            .map(|m| MessageDto::from_model(m, session_id))
            .collect()
    }
}

/// The latest messages, or those before `before_seq`, oldest first (`get_history`, the
/// plain WebSocket's `history`, the dashboard's `get-messages`). `limit` defaults to
/// [`DEFAULT_PAGE`].
pub async fn history(
    state: &AppState,
    s: &SessionRef,
    viewer: Viewer,
    before_seq: Option<i64>,
    limit: Option<u64>,
) -> AppResult<Page> {
    let floor = match viewer {
        Viewer::Staff => 0,
        Viewer::Visitor => crate::sessions::service::visitor_floor(&state.db, &s.pk).await?,
    };
    let (messages, has_more) = crate::messages::service::messages_before_within(
        &state.db,
        &s.pk,
        floor,
        before_seq,
        page_size(state, limit, DEFAULT_PAGE),
        state.config.response_max_bytes,
        viewer.audience(),
    )
    .await?;
    Ok(Page { messages, has_more })
}

/// The messages after `after_seq`, oldest first: what a client that resumes missed
/// (`init_session {lastSeq}`), or REST's forward pages. `limit` defaults to as many as one
/// answer may hold (`HISTORY_LIMIT`).
pub async fn missed(
    state: &AppState,
    session: &Session,
    viewer: Viewer,
    after_seq: i64,
    limit: Option<u64>,
) -> AppResult<Page> {
    let floor = match viewer {
        Viewer::Staff => 0,
        Viewer::Visitor => session.visitor_cleared_seq,
    };
    let (messages, has_more) = crate::messages::service::messages_after_within(
        &state.db,
        &session.id,
        after_seq.max(floor),
        page_size(state, limit, state.config.history_limit),
        state.config.response_max_bytes,
        viewer.audience(),
    )
    .await?;
    Ok(Page { messages, has_more })
}

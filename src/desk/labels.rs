//! A session's labels: set by staff, announced to the agents only (never to the visitor's
//! side: labels are the desk's own notes about a conversation).

use entity::chat_session::Model as Session;

use super::types::{SessionSummary, SessionUpdated};
use crate::auth::Identity;
use crate::error::AppResult;
use crate::labels::service;
use crate::state::AppState;

/// Gives `session` exactly the labels named in `names` (any case; an unknown name is
/// refused and nothing changes), announces `session_updated {sessionId, labels}` to the
/// agents and answers the summary.
pub async fn set(
    state: &AppState,
    me: &Identity,
    session: &Session,
    names: &[String],
) -> AppResult<SessionSummary> {
    let labels = service::by_names(&state.db, names).await?;
    service::set_for_session(&state.db, &session.id, &labels).await?;
    let sum = super::summary(state, session).await?;
    tracing::info!(session = %session.session_id, by = %me.account_id, labels = ?sum.labels, "labels set");
    let update = SessionUpdated::Labels {
        session_id: &sum.session_id,
        labels: &sum.labels,
    };
    state
        .hub
        .to_agents_about(
            SessionUpdated::EVENT,
            update.kind(),
            &session.session_id,
            &update,
        )
        .await;
    Ok(sum)
}

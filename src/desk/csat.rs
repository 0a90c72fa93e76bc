//! The desk's side of satisfaction ratings: a resolution asks the visitor for a rating
//! (`rating_request` to the visitor side of the session's room), a visitor coming back to a
//! resolved, unrated session is asked again, and a stored rating is announced to the agents
//! (`session_updated {sessionId, rating}`), like labels. Storage is `csat::service`'s.

use entity::chat_session::Model as Session;

use super::types::SessionUpdated;
use crate::csat::service;
use crate::csat::types::{Rated, RatingRequest, Score, SessionRating};
use crate::error::AppResult;
use crate::state::AppState;
use entity::chat_session::SessionStatus;

/// The session was just resolved: its visitor side hears `rating_request {sessionId}`.
pub async fn ask(state: &AppState, s: &Session) {
    let ask = RatingRequest {
        session_id: s.session_id.clone(),
    };
    state
        .hub
        .to_visitors(&s.session_id, RatingRequest::EVENT, &ask)
        .await;
}

/// Whether the visitor should be asked (again): the session is resolved and that resolution
/// is not rated yet.
pub async fn due(state: &AppState, s: &Session) -> AppResult<bool> {
    if SessionStatus::of(s) != SessionStatus::Resolved {
        return Ok(false);
    }
    Ok(!service::is_rated(&state.db, s).await?)
}

/// Stores the visitor's rating of the session's current resolution (once: `already_rated`
/// after that; `not_resolved` when it is not resolved) and tells the agents.
pub async fn rate(state: &AppState, s: &Session, score: Score) -> AppResult<Rated> {
    let (row, session) = service::store(&state.db, &s.id, score).await?;
    let rating = SessionRating::from(&row);
    tracing::info!(session = %session.session_id, rating = row.rating, "session rated");
    let update = SessionUpdated::Rating {
        session_id: &session.session_id,
        rating: &rating,
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
    Ok(Rated {
        session_id: session.session_id,
        rating,
    })
}

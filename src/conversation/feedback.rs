//! What a visitor tells the desk besides messages: a satisfaction rating of a resolved
//! session (`rate`), and an email address with a message when nobody was online
//! (`leave_contact`). Every protocol calls these: socket.io `rate_session` /
//! `leave_contact`, and the `/ws` frames of the same names.

use super::{escalate, SessionRef};
use crate::csat::types::{Rated, Score};
use crate::desk::types::ContactLeft;
use crate::error::{AppError, AppResult};
use crate::messages::service::Stored;
use crate::messages::Content;
use crate::sessions::Caller;
use crate::state::AppState;
use entity::chat_session::SessionStatus;

/// The visitor of session `s` rates its current resolution (once; see `desk::csat::rate`).
/// Staff do not rate conversations.
pub async fn rate(
    state: &AppState,
    caller: &Caller,
    s: &SessionRef,
    score: Score,
) -> AppResult<Rated> {
    if caller.is_staff() {
        return Err(AppError::Forbidden(
            "ratings are the visitor's: staff do not rate".into(),
        ));
    }
    let session = crate::desk::service::load(&state.db, &s.pk).await?;
    crate::desk::csat::rate(state, &session, score).await
}

/// The visitor of session `s` leaves an email address (`invalid_email` unless it is one)
/// and, optionally, a message: the address is kept on the session, the message stored as
/// the visitor's (`conversation::send`), and the session waits in the queue (unless an
/// agent has it already) for staff to answer by email or when the visitor is back. Returns
/// the answer and the stored message, if any.
pub async fn leave_contact(
    state: &AppState,
    caller: &Caller,
    s: &SessionRef,
    email: &str,
    message: Option<&str>,
) -> AppResult<(ContactLeft, Option<Stored>)> {
    if caller.is_staff() {
        return Err(AppError::Forbidden(
            "the offline form is the visitor's".into(),
        ));
    }
    let email = crate::desk::offline::parse_email(email)?;
    let text = message
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|t| Content::parse(t.to_string(), state.config.max_content_length))
        .transpose()?;
    let session = crate::desk::service::load(&state.db, &s.pk).await?;
    crate::desk::offline::record(state, &session, &email).await?;
    let done = escalate(state, &s.pk, text).await?;
    let left = ContactLeft {
        session_id: done.session.session_id.clone(),
        contact_email: email,
        status: SessionStatus::of(&done.session),
        position: done.position,
    };
    Ok((left, done.stored))
}

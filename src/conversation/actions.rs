//! What a participant does to the conversation itself: ask for a human, erase history.

use entity::chat_session::Model as Session;

use super::{send, Outgoing, SessionRef};
use crate::auth::Role;
use crate::error::{AppError, AppResult};
use crate::messages::Content;
use crate::sessions::types::Cleared;
use crate::sessions::Caller;
use crate::state::AppState;

/// A session after its visitor asked for a human.
#[derive(Debug)]
pub struct Escalated {
    pub session: Session,
    /// The session's place in the queue (none once an agent owns it).
    pub position: Option<usize>,
    /// The visitor's text, stored.
    pub stored: Option<crate::messages::service::Stored>,
}

/// The visitor asks for a human: the session waits in the queue (unless an agent owns it);
/// the optional text is then stored as the visitor's message (it does not wake the
/// assistant, which no longer answers a waiting session).
pub async fn escalate(state: &AppState, pk: &str, text: Option<Content>) -> AppResult<Escalated> {
    let session = crate::desk::service::load(&state.db, pk).await?;
    let session = crate::desk::escalate(state, session).await?;
    let stored = match text {
        Some(text) => {
            let mut out = Outgoing::visitor(SessionRef::from(&session), text);
            out.wakes_assistant = false;
            Some(send(state, out, None).await?)
        }
        None => None,
    };
    let position = crate::desk::position(state, &session).await?;
    Ok(Escalated {
        session,
        position,
        stored,
    })
}

/// `clear_history`, whoever asks: an admin erases the conversation, attachments included,
/// for everyone (as REST `DELETE` does); another staff member is `forbidden`; the visitor
/// side hides it and its attachments from the visitor's own views only (staff keep seeing
/// all of it).
pub async fn clear(state: &AppState, caller: &Caller, s: &SessionRef) -> AppResult<Cleared> {
    match &caller.identity {
        Some(id) if id.role == Role::Admin && !id.legacy => {
            crate::desk::erase::for_everyone(state, &s.pk, &s.id).await
        }
        Some(id) if id.is_staff() => Err(AppError::Forbidden(
            "erasing a conversation is an admin action".into(),
        )),
        _ => crate::desk::erase::for_visitor(state, &s.pk, &s.id).await,
    }
}

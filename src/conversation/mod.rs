//! The conversation core: every protocol's one way into a conversation. socket.io "/" and
//! "/admin" (`realtime`), the plain WebSocket (`gateway`) and REST each decode their own
//! frames, call these functions, and encode the answers. What a protocol does differently
//! (who hears their own message back, whether a visitor's message may wake the assistant,
//! which sessions a caller may resume) is a parameter here, never a copy there.
//!
//! - [`open`]: open or resume the session a caller speaks in.
//! - [`reach`]: the session a caller names, if the caller may reach it.
//! - [`send`] / [`submit`]: store a message (in the sender's order, exactly once by
//!   `clientMsgId`), broadcast it, stop or wake the assistant.
//! - [`history`] and [`missed`]: pages of the conversation, as the viewer may see them.
//! - [`typing`], [`read`]: typing indicators and read watermarks.
//! - [`Draft`] / [`compose`]: a message's text and file, with the uploaded file it names
//!   by `attachmentId` found in the session.
//! - [`escalate`], [`clear`]: ask for a human; erase or hide the history (and attachments).
//! - [`rate`], [`leave_contact`]: a satisfaction rating of a resolved session; an email
//!   address (and a message) left when nobody was online.
//!
//! Below the core: the stores (`sessions::service`, `messages`), the desk's workflow
//! (`desk`), the assistant, and the hub that broadcasts.

mod actions;
mod attach;
mod feedback;
mod history;
pub mod http;
mod open;
mod send;
mod signals;

pub use actions::{clear, escalate, Escalated};
pub use attach::{compose, Draft};
pub use feedback::{leave_contact, rate};
pub use history::{history, missed, page_size, Page, DEFAULT_PAGE};
pub use open::{open, OpenRequest, Opened};
pub use send::{send, submit, Outgoing};
pub use signals::{read, typing};

use crate::error::AppResult;
use crate::sessions::Caller;
use crate::state::AppState;

/// A session as the core names it: its internal key and its public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub pk: String,
    pub id: String,
}

impl From<&entity::chat_session::Model> for SessionRef {
    fn from(s: &entity::chat_session::Model) -> Self {
        SessionRef {
            pk: s.id.clone(),
            id: s.session_id.clone(),
        }
    }
}

/// Whose view of a conversation: staff see all of it; a visitor's view starts after the
/// visitor's own `clear_history`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    Staff,
    Visitor,
}

impl Viewer {
    /// What this viewer may read: staff read the private notes, nobody else does.
    pub fn audience(self) -> crate::messages::service::Audience {
        match self {
            Viewer::Staff => crate::messages::service::Audience::Staff,
            Viewer::Visitor => crate::messages::service::Audience::Public,
        }
    }

    pub fn of(caller: &Caller) -> Self {
        if caller.is_staff() {
            Viewer::Staff
        } else {
            Viewer::Visitor
        }
    }
}

/// The session `raw` names (a public session id), if `caller` may reach it: `invalid_payload`
/// for a malformed id, `session_not_found`, or `forbidden` for someone else's session
/// (the rule is `sessions::reach`'s).
pub async fn reach(
    state: &AppState,
    caller: &Caller,
    raw: &str,
) -> AppResult<entity::chat_session::Model> {
    crate::sessions::reach(&state.db, caller, raw).await
}

//! Opening a conversation: the session a caller speaks in, resumed when the caller names
//! one it may reach (or, for a signed-in customer or verified visitor, their latest
//! unresolved one), else a new one, announced to agents.

use entity::chat_session::Model as Session;

use crate::edge::client::ClientInfo;
use crate::error::AppResult;
use crate::hub::Except;
use crate::sessions::service::{self, NewSession, Owner};
use crate::sessions::Caller;
use crate::state::AppState;

/// What a protocol asks for when a client opens a conversation.
pub struct OpenRequest<'a> {
    pub caller: &'a Caller,
    /// The public session id the client names (a malformed or unknown one is not an error:
    /// the client gets a new session, `resumed: false`).
    pub wanted: Option<&'a str>,
    /// Resume a named session only if this account owns it (the plain WebSocket, where a
    /// staff account speaks as a customer and a session id is no capability for it).
    pub only_owned_by: Option<&'a str>,
    /// A session this connection made and left empty: given back (still `resumed: false`)
    /// instead of a new one when the client names none.
    pub reuse: Option<Session>,
    /// Where the client connects from, stored with a new session.
    pub client: ClientInfo,
    /// The connection that keeps the session when its new owner claims it: every other
    /// visitor connection with its id loses it (session fixation).
    pub keep: Option<Except>,
}

/// The session a client speaks in.
#[derive(Debug)]
pub struct Opened {
    pub session: Session,
    /// An existing session was resumed.
    pub resumed: bool,
    /// A new session was made (and announced to agents).
    pub created: bool,
}

/// Opens or resumes the session for `req`. `charge` spends a new session of the caller's
/// budget, only when one is made.
pub async fn open(
    state: &AppState,
    req: OpenRequest<'_>,
    charge: impl FnOnce() -> AppResult<()>,
) -> AppResult<Opened> {
    let caller = req.caller;
    let mut existing = match req.wanted {
        Some(id) => service::find_by_session_id(&state.db, id)
            .await?
            .filter(|s| caller.can_access(s))
            .filter(|s| match req.only_owned_by {
                Some(account) => s.customer_id.as_deref() == Some(account),
                None => true,
            }),
        None => None,
    };
    let owner = caller.owner();
    if existing.is_none() {
        if let Some(o) = &owner {
            existing = service::latest_unresolved(&state.db, o).await?;
        }
    }
    let resumed = existing.is_some();
    if existing.is_none() && req.wanted.is_none() {
        existing = req.reuse;
    }
    if let Some(session) = existing {
        let unowned = match &owner {
            Some(Owner::Customer(_)) => session.customer_id.is_none(),
            Some(Owner::VerifiedVisitor(_)) => {
                session.visitor_identity.is_none() && session.customer_id.is_none()
            }
            None => false,
        };
        let session = match owner.as_ref().filter(|_| unowned) {
            Some(o) => {
                let linked = service::link_owner(&state.db, session, o).await?;
                state.hub.evict_visitors(&linked.session_id, req.keep).await;
                linked
            }
            None => session,
        };
        return Ok(Opened {
            session,
            resumed,
            created: false,
        });
    }
    let (customer_id, visitor_identity) = match owner {
        Some(Owner::Customer(c)) => (Some(c), caller.verified.clone()),
        Some(Owner::VerifiedVisitor(v)) => (None, Some(v)),
        None => (None, None),
    };
    let new = NewSession {
        ip: req.client.ip,
        user_agent: req.client.user_agent,
        customer_id,
        visitor_identity,
    };
    charge()?;
    let session = state.sessions.create(new).await?;
    tracing::info!(session = %session.session_id, "session created");
    let sum = crate::desk::created_summary(state, &session).await;
    state.hub.to_agents("session_created", &sum, None).await;
    Ok(Opened {
        session,
        resumed: false,
        created: true,
    })
}

//! Chat sessions: a visitor's conversation with the desk. `init_session` opens or resumes
//! one; `user_message` / `admin_message` add to it; REST reads them back.
//!
//! Access: staff reach every session. A session that belongs to a customer account (or to a
//! verified visitor identity) is reached only by that customer (or identity). An anonymous
//! session is reached by whoever holds its public `sessionId`, an unguessable capability;
//! no other handle (internal id, short code) is accepted from visitors.

pub mod creator;
pub mod history;
pub mod http;
pub mod service;
pub mod types;

use crate::auth::{Identity, Role};
use crate::error::{AppError, AppResult};
use service::Owner;

/// A visitor identity proven with `VISITOR_HMAC_SECRET` (kept in socket extensions).
#[derive(Debug, Clone)]
pub struct VerifiedVisitor(pub String);

/// Who is calling, for access decisions.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    pub identity: Option<Identity>,
    pub verified: Option<String>,
}

impl Caller {
    pub fn is_staff(&self) -> bool {
        self.identity.as_ref().is_some_and(Identity::is_staff)
    }

    /// The owner new sessions of this caller belong to.
    pub fn owner(&self) -> Option<Owner> {
        match &self.identity {
            Some(id) if id.role == Role::Customer => Some(Owner::Customer(id.account_id.clone())),
            _ => self.verified.clone().map(Owner::VerifiedVisitor),
        }
    }

    /// Whether this caller may read and write `session`.
    pub fn can_access(&self, session: &entity::chat_session::Model) -> bool {
        if self.is_staff() {
            return true;
        }
        if let Some(owner) = &session.customer_id {
            return matches!(&self.identity, Some(id) if id.role == Role::Customer && &id.account_id == owner);
        }
        if let Some(v) = &session.visitor_identity {
            return self.verified.as_deref() == Some(v.as_str());
        }
        true
    }
}

/// The session `raw` names (a public session id), if `caller` may reach it: `invalid_payload`
/// for a malformed id, `session_not_found`, or `forbidden` for someone else's session. The
/// one access rule of every protocol (the conversation core's `reach`) and of attachments.
pub async fn reach<C: sea_orm::ConnectionTrait>(
    db: &C,
    caller: &Caller,
    raw: &str,
) -> AppResult<entity::chat_session::Model> {
    let id = types::SessionId::parse(raw)?;
    let session = service::find_by_session_id(db, id.as_str())
        .await?
        .ok_or(AppError::SessionNotFound)?;
    if !caller.can_access(&session) {
        return Err(AppError::Forbidden(
            "this session belongs to someone else".into(),
        ));
    }
    Ok(session)
}

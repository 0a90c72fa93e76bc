//! The desk's side of offline messages: a visitor who found nobody online leaves an email
//! address (`leave_contact`); it is kept on the session (`contact_email`,
//! `contact_left_at`), shown to staff in summaries and the queue, and announced to the
//! agents (`session_updated {sessionId, contactEmail}`). The session waits in the queue
//! (`conversation::leave_contact` escalates it).

use entity::chat_session::Model as Session;

use super::service;
use super::types::SessionUpdated;
use crate::error::{AppError, AppResult};
use crate::state::AppState;

/// The longest address kept (RFC 5321's limit, the column's size).
pub const MAX_EMAIL: usize = 254;

/// An email address as the offline form takes it: trimmed, at most [`MAX_EMAIL`]
/// characters, one `@` between a local part (at most 64) and a domain with a dot, no space
/// or control character, no quotes or angle brackets. (Not every address RFC 5322 allows:
/// what people type into a form.)
pub fn parse_email(raw: &str) -> AppResult<String> {
    let email = raw.trim();
    let refuse = || AppError::InvalidEmail(format!("{email:?} is not an email address"));
    if email.is_empty() || email.len() > MAX_EMAIL {
        return Err(refuse());
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "\"<>(),;:\\[]".contains(c))
    {
        return Err(refuse());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(refuse());
    };
    let labels_ok = domain
        .split('.')
        .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
    if local.is_empty()
        || local.len() > 64
        || local.starts_with('.')
        || local.ends_with('.')
        || local.contains("..")
        || domain.contains('@')
        || !domain.contains('.')
        || !labels_ok
    {
        return Err(refuse());
    }
    Ok(email.to_string())
}

/// Keeps `email` on the session and tells the agents.
pub async fn record(state: &AppState, s: &Session, email: &str) -> AppResult<Session> {
    let next = service::set_contact(&state.db, s, email).await?;
    tracing::info!(session = %s.session_id, "visitor left a contact address");
    let update = SessionUpdated::Contact {
        session_id: &next.session_id,
        contact_email: email,
    };
    state
        .hub
        .to_agents_about(
            SessionUpdated::EVENT,
            update.kind(),
            &next.session_id,
            &update,
        )
        .await;
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_people_type_are_taken_and_others_refused() {
        for ok in ["ann@example.com", "  a.b+desk@mail.example.org ", "x@y.io"] {
            assert_eq!(parse_email(ok).ok().as_deref(), Some(ok.trim()), "{ok}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "ann @example.com",
            "ann@exa mple.com",
            "<ann@example.com>",
            "ann@.example.com",
            "ann@example..com",
            ".ann@example.com",
            "a..b@example.com",
            "ann@-x.com",
            long.as_str(),
        ] {
            let e = parse_email(bad).expect_err(bad);
            assert_eq!(e.code(), "invalid_email", "{bad}");
        }
    }
}

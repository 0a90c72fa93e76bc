//! Visitor presence as the desk announces it: a session's visitor is online while one of its
//! tabs is connected to some node; the room and the agents hear when that changes.

use crate::sessions::types::VisitorPresence;
use crate::state::AppState;

/// A visitor socket joined a session: when it is the first anywhere on the desk, the
/// session's visitor is online.
pub async fn visitor_arrived(state: &AppState, session_id: &str, socket: &str) {
    if state.presence.visitor_joined(session_id, socket)
        && !state.presence.visitor_online_elsewhere(session_id).await
    {
        announce_visitor(state, session_id, true).await;
    }
}

/// A visitor socket closed: when it was the session's last anywhere on the desk, the
/// visitor is offline.
pub async fn visitor_left(state: &AppState, session_id: &str, socket: &str) {
    if state.presence.visitor_left(session_id, socket)
        && !state.presence.visitor_online_elsewhere(session_id).await
    {
        announce_visitor(state, session_id, false).await;
    }
}

/// The visitors of a node that stopped answering: those with no tab left on a live node
/// are offline.
pub async fn visitors_lost(state: &AppState, session_ids: &[String]) {
    let online = state.presence.visitors_online(session_ids).await;
    for sid in session_ids.iter().filter(|s| !online.contains(*s)) {
        announce_visitor(state, sid, false).await;
    }
}

/// `visitor_presence` to the session's room on the visitor side, and to every agent through
/// the agents' feed. Not to the room in "/admin": every agent socket is in the agents' room
/// too, so an agent with the session open would hear it twice.
async fn announce_visitor(state: &AppState, session_id: &str, online: bool) {
    state.hub.sessions_changed();
    let payload = VisitorPresence {
        session_id: session_id.to_string(),
        online,
    };
    state
        .hub
        .to_visitors(session_id, "visitor_presence", &payload)
        .await;
    state
        .hub
        .to_agents_about("visitor_presence", "presence", session_id, &payload)
        .await;
}

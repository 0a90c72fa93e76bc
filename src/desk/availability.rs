//! Whether anyone can answer a visitor now (`availability {online, agentsOnline, reason?,
//! nextOpening?}`), from three things: the business hours (outside them the desk is offline,
//! `outside_hours`, with the next opening), the agents online on every node
//! (`presence`, shared through Redis), and the assistant (a configured model answers while
//! it has the session: not once it handed over to humans).
//!
//! A visitor is told on `init_session` (its ack's `availability`, then the event) and on
//! `/ws` after `session`; and again whenever the desk-wide answer changes: each node watches
//! it ([`spawn_watcher`]: at once on an agent's connect or disconnect on this node, or a
//! change of the hours here, else every [`CHECK_EVERY`]) and tells its own visitors. When
//! the assistant hands a session over while no agent is online, that session's visitor is
//! told it is offline ([`tell_session`]).

use std::time::Duration;

use entity::chat_session::Model as Session;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

use super::types::{Availability, OfflineReason};
use crate::state::AppState;

/// How often a node looks again without being woken (agents on other nodes, the clock
/// reaching an opening or a closing).
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// This node's view of the desk-wide availability, for its plain-WebSocket connections.
pub struct Board {
    tx: watch::Sender<Availability>,
    nudge: Notify,
}

impl Default for Board {
    fn default() -> Self {
        Board {
            tx: watch::Sender::new(Availability {
                online: true,
                agents_online: 0,
                reason: None,
                next_opening: None,
            }),
            nudge: Notify::new(),
        }
    }
}

impl Board {
    /// The desk-wide availability from now on (each change once).
    pub fn subscribe(&self) -> watch::Receiver<Availability> {
        self.tx.subscribe()
    }

    /// Something changed here (an agent came or went): look again now.
    pub fn nudge(&self) {
        self.nudge.notify_one();
    }
}

/// Whether the assistant answers this session (a model is configured and it still has the
/// session), or any new session when `session` is `None`.
fn assistant_answers(state: &AppState, session: Option<&Session>) -> bool {
    match (&state.assistant, session) {
        (Some(ai), Some(s)) => ai.model_answers(s),
        (Some(ai), None) => ai.has_model(),
        (None, _) => false,
    }
}

/// The availability for `session` (or for the desk as a whole, with `None`).
pub async fn of(state: &AppState, session: Option<&Session>) -> Availability {
    let now = chrono::Utc::now();
    let agents_online = state.presence.online_agents().await.len();
    if let Some(hours) = state.hours.current(&state.db).await {
        if !hours.is_open(now) {
            return Availability {
                online: false,
                agents_online,
                reason: Some(OfflineReason::OutsideHours),
                next_opening: hours
                    .next_opening(now)
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)),
            };
        }
    }
    let online = agents_online > 0 || assistant_answers(state, session);
    Availability {
        online,
        agents_online,
        reason: (!online).then_some(OfflineReason::NoAgents),
        next_opening: None,
    }
}

/// Tells the visitor side of one session its availability (after the assistant handed it
/// over, say) when it is offline.
pub async fn tell_session(state: &AppState, s: &Session) {
    let a = of(state, Some(s)).await;
    if !a.online {
        state
            .hub
            .to_visitors(&s.session_id, Availability::EVENT, &a)
            .await;
    }
}

/// Watches the desk-wide availability and tells this node's visitors each change, until
/// `stop`.
pub fn spawn_watcher(state: AppState, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut last: Option<Availability> = None;
        loop {
            let now = of(&state, None).await;
            if last.as_ref() != Some(&now) {
                if last.is_some() {
                    tracing::info!(online = now.online, agents = now.agents_online, reason = ?now.reason, "availability changed");
                    state.hub.to_visitors_here(Availability::EVENT, &now).await;
                }
                state.availability.tx.send_replace(now.clone());
                last = Some(now);
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = state.availability.nudge.notified() => {}
                _ = state.hours.changed.notified() => {}
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    });
}

//! The support desk: session workflow (`open -> waiting -> assigned -> resolved`, reopen),
//! the FIFO queue with optional auto-assignment, agent presence and the offline grace
//! period. Socket events (`realtime::agent`) and REST (`http.rs`) call the same operations here,
//! so every change is stored and announced the same way: `session_status` to the session's
//! room, `session_updated` to agents, `queue_position` to waiting visitors.

pub mod announce;
pub mod availability;
pub mod csat;
pub mod erase;
pub mod http;
pub mod labels;
pub mod offline;
pub mod queue;
pub mod service;
pub mod types;
pub mod visitors;

use std::time::Duration;

use entity::chat_session::Model as Session;

use crate::auth::{Identity, Role};
use crate::error::{AppError, AppResult};
use crate::hub::Except;
use crate::messages::types::LastMessage;
use crate::state::AppState;
use service::Change;
use types::{SessionStatus, SessionSummary, SessionUpdated, StatusChanged};

/// The summary of one session, with its assignee's name and the visitor's presence.
pub async fn summary(state: &AppState, s: &Session) -> AppResult<SessionSummary> {
    Ok(summaries(state, std::slice::from_ref(s))
        .await?
        .pop()
        .unwrap_or_else(|| SessionSummary::new(s, None, false)))
}

/// The summary of a session just created: nothing to read back (it has no assignee, no
/// message and no label yet), so announcing it costs no query.
pub async fn created_summary(state: &AppState, s: &Session) -> SessionSummary {
    let online = state
        .presence
        .visitors_online(std::slice::from_ref(&s.session_id))
        .await;
    SessionSummary::new(s, None, online.contains(&s.session_id))
}

/// Summaries of several sessions (one query each for the assignees' names, the latest
/// messages and the labels).
pub async fn summaries(state: &AppState, list: &[Session]) -> AppResult<Vec<SessionSummary>> {
    let ids: Vec<String> = list.iter().filter_map(|s| s.assignee_id.clone()).collect();
    let names = service::names(&state.db, &ids).await?;
    let mut last = crate::messages::service::latest_for_sessions(&state.db, list, 1).await?;
    let session_ids: Vec<String> = list.iter().map(|s| s.session_id.clone()).collect();
    let online = state.presence.visitors_online(&session_ids).await;
    let pks: Vec<String> = list.iter().map(|s| s.id.clone()).collect();
    let mut labels = crate::labels::service::of_sessions(&state.db, &pks).await?;
    let mut ratings = crate::csat::service::of_sessions(&state.db, list).await?;
    Ok(list
        .iter()
        .map(|s| {
            let name = s.assignee_id.as_ref().and_then(|a| names.get(a).cloned());
            let mut sum = SessionSummary::new(s, name, online.contains(&s.session_id));
            sum.labels = labels.remove(&s.id).unwrap_or_default();
            sum.rating = ratings
                .remove(&s.id)
                .map(|r| crate::csat::types::SessionRating::from(&r));
            sum.last_message = last
                .remove(&s.id)
                .and_then(|mut v| v.pop())
                .map(LastMessage::of_stored);
            sum
        })
        .collect())
}

/// Announces a session's new state: `session_status` to its room, `session_updated` to agents.
pub async fn announce(state: &AppState, s: &Session) -> AppResult<SessionSummary> {
    let sum = summary(state, s).await?;
    let status = StatusChanged {
        session_id: s.session_id.clone(),
        status: sum.status,
        assignee: sum.assignee.clone(),
    };
    state
        .hub
        .to_session(&s.session_id, "session_status", &status, None)
        .await;
    let update = SessionUpdated::Summary(&sum);
    state
        .hub
        .to_agents_about(SessionUpdated::EVENT, update.kind(), &s.session_id, &update)
        .await;
    Ok(sum)
}

/// Tells the waiting sessions whose place in the queue changed (see [`queue`]).
pub async fn announce_queue(state: &AppState) -> AppResult<()> {
    queue::changed(state).await
}

/// The position of a session in the queue (1-based), if it is waiting.
pub async fn position(state: &AppState, s: &Session) -> AppResult<Option<usize>> {
    if s.status != SessionStatus::Waiting {
        return Ok(None);
    }
    let queue = service::queue(&state.db, 1000).await?;
    Ok(queue.iter().position(|q| q.id == s.id).map(|p| p + 1))
}

/// After a change: announce it, update the queue when it was involved, run auto-assignment.
async fn after_change(
    state: &AppState,
    before: &Session,
    after: &Session,
) -> AppResult<SessionSummary> {
    if after.status != SessionStatus::Open {
        if let Some(ai) = &state.assistant {
            ai.cancel(&after.id); // a human takes over (or was asked for)
        }
    }
    state.outbox.written(); // the delivery worker looks at once (webhooks)
    let sum = announce(state, after).await?;
    if after.status == SessionStatus::Resolved && before.status != SessionStatus::Resolved {
        csat::ask(state, after).await;
    }
    if before.status == SessionStatus::Waiting || after.status == SessionStatus::Waiting {
        announce_queue(state).await?;
    }
    let load_dropped = before.status == SessionStatus::Assigned
        && (after.status != SessionStatus::Assigned || before.assignee_id != after.assignee_id);
    if after.status == SessionStatus::Waiting || load_dropped {
        trigger_auto_assign(state);
    }
    Ok(sum)
}

fn signed_in(actor: &Identity, action: &str) -> AppResult<()> {
    if actor.legacy {
        return Err(AppError::Forbidden(format!(
            "{action} needs a signed-in agent (not the legacy console)"
        )));
    }
    Ok(())
}

fn owner_or_admin(actor: &Identity, s: &Session) -> AppResult<()> {
    let owns = s.assignee_id.as_deref() == Some(actor.account_id.as_str());
    if owns || actor.role == Role::Admin || (actor.legacy && s.assignee_id.is_none()) {
        return Ok(());
    }
    Err(AppError::Forbidden(
        "only the assignee or an admin can do this".into(),
    ))
}

/// `claim_session`: the actor becomes the assignee. A session another agent owns is taken
/// over only by an admin who names its owner (`take_over_from`); when it changed hands
/// meanwhile the take-over is a `conflict`, so it never takes the session from anyone but
/// the agent the admin was shown.
pub async fn claim(
    state: &AppState,
    actor: &Identity,
    s: Session,
    take_over_from: Option<&str>,
) -> AppResult<SessionSummary> {
    signed_in(actor, "claiming")?;
    if take_over_from.is_some() && actor.role != Role::Admin {
        return Err(AppError::Forbidden(
            "taking over another agent's session is an admin action".into(),
        ));
    }
    if s.status == SessionStatus::Resolved {
        return Err(AppError::Conflict(
            "the session is resolved; reopen it first".into(),
        ));
    }
    match (&s.assignee_id, take_over_from) {
        (Some(a), _) if a == &actor.account_id && s.status == SessionStatus::Assigned => {
            return summary(state, &s).await
        }
        (Some(a), Some(from)) if a == from => {}
        (_, Some(_)) => {
            return Err(AppError::Conflict(
                "the session is no longer that agent's".into(),
            ))
        }
        (Some(_), None) => {
            return Err(AppError::Conflict("another agent owns this session".into()))
        }
        (None, None) => {}
    }
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: SessionStatus::Assigned,
            assignee_id: Some(actor.account_id.clone()),
        },
    )
    .await?;
    match take_over_from {
        Some(from) => {
            tracing::info!(session = %s.session_id, agent = %actor.account_id, from, "taken over")
        }
        None => tracing::info!(session = %s.session_id, agent = %actor.account_id, "claimed"),
    }
    after_change(state, &s, &next).await
}

/// `release_session`: back to the queue.
pub async fn release(state: &AppState, actor: &Identity, s: Session) -> AppResult<SessionSummary> {
    owner_or_admin(actor, &s)?;
    if s.status == SessionStatus::Resolved {
        return Err(AppError::Conflict("the session is resolved".into()));
    }
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: SessionStatus::Waiting,
            assignee_id: None,
        },
    )
    .await?;
    after_change(state, &s, &next).await
}

/// `transfer_session`: another agent becomes the assignee.
pub async fn transfer(
    state: &AppState,
    actor: &Identity,
    s: Session,
    agent_id: &str,
) -> AppResult<SessionSummary> {
    owner_or_admin(actor, &s)?;
    if s.status == SessionStatus::Resolved {
        return Err(AppError::Conflict(
            "the session is resolved; reopen it first".into(),
        ));
    }
    let target = service::staff_account(&state.db, agent_id)
        .await?
        .ok_or_else(|| {
            AppError::InvalidPayload("agentId is not an enabled staff account".into())
        })?;
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: SessionStatus::Assigned,
            assignee_id: Some(target.id.clone()),
        },
    )
    .await?;
    after_change(state, &s, &next).await
}

/// `resolve_session`.
pub async fn resolve(state: &AppState, _actor: &Identity, s: Session) -> AppResult<SessionSummary> {
    if s.status == SessionStatus::Resolved {
        return summary(state, &s).await;
    }
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: SessionStatus::Resolved,
            assignee_id: s.assignee_id.clone(),
        },
    )
    .await?;
    after_change(state, &s, &next).await
}

/// `reopen_session`: from resolved back to assigned (if it has an assignee) or open.
pub async fn reopen(state: &AppState, _actor: &Identity, s: Session) -> AppResult<SessionSummary> {
    if s.status != SessionStatus::Resolved {
        return Err(AppError::Conflict(
            "only a resolved session can be reopened".into(),
        ));
    }
    let to = if s.assignee_id.is_some() {
        SessionStatus::Assigned
    } else {
        SessionStatus::Open
    };
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: to,
            assignee_id: s.assignee_id.clone(),
        },
    )
    .await?;
    after_change(state, &s, &next).await
}

/// A visitor asks for a human: the session waits in the queue (unless an agent owns it).
pub async fn escalate(state: &AppState, s: Session) -> AppResult<Session> {
    if s.status == SessionStatus::Waiting || s.status == SessionStatus::Assigned {
        return Ok(s);
    }
    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: SessionStatus::Waiting,
            assignee_id: None,
        },
    )
    .await?;
    tracing::info!(session = %s.session_id, "visitor asked for a human");
    after_change(state, &s, &next).await?;
    // Nobody may come: the visitor is told (and the widget offers the offline form).
    availability::tell_session(state, &next).await;
    Ok(next)
}

/// `PATCH /api/chats/:id {status?, assigneeId?}`: an explicit change by staff.
pub async fn set(
    state: &AppState,
    actor: &Identity,
    s: Session,
    new_status: Option<&str>,
    assignee: Option<Option<String>>,
) -> AppResult<SessionSummary> {
    let assignee_id = match assignee {
        Some(Some(id)) => {
            let a = service::staff_account(&state.db, &id)
                .await?
                .ok_or_else(|| {
                    AppError::InvalidPayload("assigneeId is not an enabled staff account".into())
                })?;
            Some(a.id)
        }
        Some(None) => None,
        None => s.assignee_id.clone(),
    };
    let target = match new_status {
        Some(st) => st.parse::<SessionStatus>()?,
        None if assignee_id.is_some() && s.status != SessionStatus::Resolved => {
            SessionStatus::Assigned
        }
        None if assignee_id.is_none() && s.status == SessionStatus::Assigned => {
            SessionStatus::Waiting
        }
        None => SessionStatus::of(&s),
    };
    if target == SessionStatus::Assigned && assignee_id.is_none() {
        return Err(AppError::InvalidPayload(
            "status assigned needs an assigneeId".into(),
        ));
    }
    let assignee_id = if target == SessionStatus::Waiting || target == SessionStatus::Open {
        None
    } else {
        assignee_id
    };
    let takes_from_owner = s.assignee_id.is_some()
        && (assignee_id != s.assignee_id
            || target == SessionStatus::Waiting
            || target == SessionStatus::Open);
    if takes_from_owner {
        owner_or_admin(actor, &s)?;
    }
    if s.status == target && assignee_id == s.assignee_id {
        return summary(state, &s).await;
    }

    let next = service::apply(
        &state.db,
        state.outbox.now(),
        &s,
        Change {
            status: target,
            assignee_id,
        },
    )
    .await?;
    after_change(state, &s, &next).await
}

/// Sets a session's assistant switch (`None`: automatic; see `assistant::may_answer`),
/// stops a reply being written when it is switched off, and tells every staff socket
/// (`ai-mode-changed` to dashboards and agents) and the agents' session list.
pub async fn set_ai_mode(
    state: &AppState,
    s: &Session,
    enabled: Option<bool>,
) -> AppResult<crate::desk::types::AiModeChanged> {
    let next = crate::sessions::service::set_ai_enabled(&state.db, &s.id, enabled).await?;
    if enabled == Some(false) {
        if let Some(ai) = &state.assistant {
            ai.cancel(&next.id);
        }
    }
    let mode = types::AiMode::of(&next);
    tracing::info!(session = %next.session_id, ?mode, "assistant switch set");
    let changed = crate::desk::types::AiModeChanged {
        session_id: next.session_id.clone(),
        enabled: next.ai_enabled != Some(false),
        mode,
    };
    state.hub.to_staff("ai-mode-changed", &changed).await;
    let update = SessionUpdated::Ai {
        session_id: &next.session_id,
        ai_mode: mode,
        ai_enabled: changed.enabled,
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
    Ok(changed)
}

/// Runs auto-assignment in the background (when `AUTO_ASSIGN` is on).
pub fn trigger_auto_assign(state: &AppState) {
    if !state.config.auto_assign {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = auto_assign(&state).await {
            tracing::warn!(error = %e, "auto-assignment failed");
        }
    });
}

/// Gives the oldest waiting sessions to the least busy online agents, under the limit.
async fn auto_assign(state: &AppState) -> AppResult<()> {
    let _guard = state.assign_lock.lock().await;
    let shared = state.db.get_database_backend() == sea_orm::DbBackend::Postgres;
    for _ in 0..1000 {
        let step = if shared {
            // Nodes share PostgreSQL: one transaction per assignment under the desk-wide
            // lock, so the loads counted are those every node has committed.
            let txn = crate::db::begin_write(&state.db).await?;
            service::lock_assignment(&txn).await?;
            let step = assign_next(state, &txn).await?;
            if matches!(step, Step::Assigned(..)) {
                txn.commit().await?;
            }
            step
        } else {
            // SQLite serves one node; a read-then-write transaction would only add
            // SQLITE_BUSY failures against the message writer.
            assign_next(state, &state.db).await?
        };
        match step {
            Step::Done => return Ok(()),
            Step::Again => continue,
            Step::Assigned(assigned, agent) => {
                tracing::info!(session = %assigned.session_id, agent = %agent, "auto-assigned");
                state.outbox.written();
                announce(state, &assigned).await?;
                announce_queue(state).await?;
            }
        }
    }
    Ok(())
}

/// One step of auto-assignment.
enum Step {
    /// Nothing waits, or no online agent has room.
    Done,
    /// The session changed meanwhile: look again.
    Again,
    Assigned(Box<Session>, String),
}

/// Gives the head of the queue to the least loaded online agent with room.
async fn assign_next<C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait>(
    state: &AppState,
    db: &C,
) -> AppResult<Step> {
    let Some(next) = service::queue(db, 1).await?.pop() else {
        return Ok(Step::Done);
    };
    let online: Vec<String> = state
        .presence
        .online_agents()
        .await
        .into_iter()
        .map(|a| a.id)
        .collect();
    let loads = service::loads(db, &online).await?;
    let best = online
        .iter()
        .map(|a| (loads.get(a).copied().unwrap_or(0), a))
        .filter(|(n, _)| *n < state.config.max_chats_per_agent as i64)
        .min_by(|x, y| x.0.cmp(&y.0).then(x.1.cmp(y.1)));
    let Some((_, agent)) = best else {
        return Ok(Step::Done);
    };
    let change = Change {
        status: SessionStatus::Assigned,
        assignee_id: Some(agent.clone()),
    };
    match service::apply(db, state.outbox.now(), &next, change).await {
        Ok(assigned) => Ok(Step::Assigned(Box::new(assigned), agent.clone())),
        Err(AppError::Conflict(_)) => Ok(Step::Again),
        Err(e) => Err(e),
    }
}

/// Tells every agent (but `except`) who is online.
pub async fn announce_presence(state: &AppState, except: Option<Except>) {
    state.availability.nudge();
    let agents = state.presence.online_agents().await;
    state
        .hub
        .to_agents("presence", &types::Presence { agents: &agents }, except)
        .await;
}

/// An agent's socket connected. The other agents hear the new `presence`; the new socket
/// itself is left out, because it is told who is online on its own when it connects (it is
/// in the agents' room already, and would otherwise hear the same `presence` twice).
pub async fn agent_connected(state: &AppState, agent: &Identity, socket: Except) {
    if agent.legacy {
        return;
    }
    if state
        .presence
        .agent_connected(&agent.account_id, &agent.name, &socket.sid.to_string())
    {
        announce_presence(state, Some(socket)).await;
        trigger_auto_assign(state);
    }
}

/// An agent's socket closed: after the grace period without a socket, their sessions go
/// back to the queue.
pub async fn agent_disconnected(state: &AppState, agent: &Identity, socket: &str) {
    if agent.legacy {
        return;
    }
    let Some(generation) = state.presence.agent_disconnected(&agent.account_id, socket) else {
        return;
    };
    announce_presence(state, None).await;
    requeue_if_still_offline(state, agent.account_id.clone(), Some(generation));
}

/// Agents of a node that stopped answering (reported by one node of the desk): they are
/// offline, and after the grace period their sessions go back to the queue.
pub fn agents_lost(state: &AppState, agents: Vec<String>) {
    let state2 = state.clone();
    tokio::spawn(async move { announce_presence(&state2, None).await });
    for id in agents {
        requeue_if_still_offline(state, id, None);
    }
}

/// After the grace period, if the agent has had no socket anywhere since (`generation` of
/// this node's presence, when they were on this node), their sessions go back to the queue.
fn requeue_if_still_offline(state: &AppState, id: String, generation: Option<u64>) {
    let state = state.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(state.config.agent_offline_grace_secs)).await;
        if !state.presence.agent_still_offline(&id, generation).await {
            return;
        }
        match service::assigned_to(&state.db, &id).await {
            Ok(list) => {
                for s in list {
                    if let Ok(next) = service::apply(
                        &state.db,
                        state.outbox.now(),
                        &s,
                        Change {
                            status: SessionStatus::Waiting,
                            assignee_id: None,
                        },
                    )
                    .await
                    {
                        tracing::info!(session = %s.session_id, agent = %id, "agent offline: session back to the queue");
                        let _ = after_change(&state, &s, &next).await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not requeue an offline agent's sessions"),
        }
    });
}

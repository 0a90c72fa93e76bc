//! Desk events. On "/admin" (staff): `list_sessions`, `join_session`, `leave_session`,
//! `claim_session`, `release_session`, `transfer_session`, `resolve_session`,
//! `reopen_session` (on "/" they are answered `unauthorized`). On both namespaces:
//! `request_human` (alias `human-escalation`).

use serde::Deserialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::ParserError;

use crate::auth::Identity;
use crate::desk::service::{self, ListSessions};
use crate::desk::types::{EscalationAck, EscalationResponse, Joined, Member, SessionPage};
use crate::error::{AppError, AppResult};
use crate::realtime::reply::Ack;
use crate::realtime::{self, parse, respond};
use crate::sessions::service as sessions;
use crate::sessions::types::{Cursor, SessionAck, SessionStatus};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRef {
    session_id: String,
}

/// The staff identity of an "/admin" socket.
fn agent<A: Adapter>(s: &SocketRef<A>) -> AppResult<Identity> {
    realtime::identity(s)
        .filter(|i| i.is_staff())
        .ok_or_else(|| AppError::Unauthorized("staff only".into()))
}

/// The session named by `{sessionId}` (staff reach every session).
async fn target(
    state: &AppState,
    data: Result<Value, ParserError>,
) -> AppResult<entity::chat_session::Model> {
    let r: SessionRef = parse(data)?;
    sessions::get_by_session_id(&state.db, &r.session_id).await
}

/// A staff event sent on "/": answered `unauthorized` (not ignored, so an ack never hangs).
pub(crate) async fn staff_event_elsewhere<A: Adapter>(s: SocketRef<A>, ack: Ack<A>, event: String) {
    respond(&s, ack, &event, async {
        Err::<(), _>(AppError::Unauthorized(format!(
            "{event} is a staff event: use the /admin namespace with a staff token"
        )))
    })
    .await
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct ListPayload {
    status: Option<String>,
    assignee: Option<String>,
    before: Option<String>,
    after: Option<String>,
    limit: Option<u64>,
    /// Only the sessions with this label (by name, any case).
    label: Option<String>,
}

pub(crate) async fn list_sessions<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "list_sessions", async {
        let me = agent(&s)?;
        let p: ListPayload = match data {
            Ok(Value::Null) | Err(_) => ListPayload::default(),
            other => parse(other)?,
        };
        let status = p
            .status
            .as_deref()
            .map(str::parse::<SessionStatus>)
            .transpose()?;
        let assignee = match p.assignee.as_deref() {
            None | Some("") => None,
            Some("none") => Some(None),
            Some("me") => Some(Some(me.account_id.clone())),
            Some(id) => Some(Some(id.to_string())),
        };
        let before = Cursor::parse(p.before.as_deref(), "before")?;
        let after = Cursor::parse(p.after.as_deref(), "after")?;
        let queue_order = status == Some(SessionStatus::Waiting);
        let max = state.config.chats_page_limit.max(1);
        let limit = p.limit.unwrap_or(max).clamp(1, max);
        let mut rows = service::list(
            &state.db,
            &ListSessions {
                status,
                assignee,
                before,
                after,
                limit: limit + 1,
                label: p
                    .label
                    .as_deref()
                    .filter(|l| !l.is_empty())
                    .map(crate::labels::types::LabelName::parse)
                    .transpose()?,
            },
        )
        .await?;
        let has_more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        // The cursor of the next page, exact even when sessions share an instant.
        let last = rows.last().filter(|_| has_more);
        let (next_before, next_after) = match last {
            Some(last) if queue_order => (
                None,
                last.waiting_since
                    .as_ref()
                    .map(|at| Cursor::encode(at, &last.id)),
            ),
            Some(last) => (Some(Cursor::encode(&last.created_at, &last.id)), None),
            None => (None, None),
        };
        Ok(SessionPage {
            sessions: crate::desk::summaries(&state, &rows).await?,
            has_more,
            next_before,
            next_after,
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinPayload {
    session_id: Option<String>,
    code: Option<String>,
}

pub(crate) async fn join_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "join_session", async {
        agent(&s)?;
        let p: JoinPayload = parse(data)?;
        let session = match (p.session_id.as_deref(), p.code.as_deref()) {
            (Some(id), _) if crate::sessions::types::SessionId::parse(id).is_ok() => {
                sessions::find_by_session_id(&state.db, id).await?
            }
            // A code read out by the visitor may be typed where the id goes.
            (Some(code), _) | (None, Some(code)) if sessions::looks_like_code(code) => {
                sessions::find_by_code(&state.db, code).await?
            }
            (Some(_), _) => {
                return Err(AppError::InvalidPayload(
                    "sessionId must be a UUID string or a session code".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(AppError::InvalidPayload("code must be 6 characters".into()))
            }
            (None, None) => {
                return Err(AppError::InvalidPayload(
                    "sessionId or code is required".into(),
                ))
            }
        }
        .ok_or(AppError::SessionNotFound)?;
        match &state.assistant {
            Some(ai) => {
                ai.join_and_replay(&s, &session.id, &session.session_id, || {
                    s.join(session.session_id.clone())
                })
                .await
            }
            None => s.join(session.session_id.clone()),
        }
        realtime::joined(&s).insert(&session.session_id, &session.id);
        let page = crate::conversation::history(
            &state,
            &crate::conversation::SessionRef::from(&session),
            crate::conversation::Viewer::Staff,
            None,
            None,
        )
        .await?;
        let has_more = page.has_more;
        let messages = page.dtos(&session.session_id);
        let summary = crate::desk::summary(&state, &session).await?;
        let members = crate::rooms::service::members(&state.db, &session.id)
            .await?
            .into_iter()
            .map(|(m, a)| Member {
                account_id: a.id,
                name: a.name,
                email: a.email,
                role: m.member_role,
                joined_at: crate::messages::types::format_ts(&m.created_at),
            })
            .collect();
        Ok(Joined {
            session_id: session.session_id,
            read_seq: summary.read_seq.clone(),
            session: summary,
            messages,
            has_more,
            members,
        })
    })
    .await
}

pub(crate) async fn leave_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
) {
    respond(&s, ack, "leave_session", async {
        let r: SessionRef = parse(data)?;
        let id = r.session_id.to_ascii_lowercase();
        s.leave(id.clone());
        realtime::joined(&s).remove(&id);
        Ok(SessionAck { session_id: id })
    })
    .await
}

/// Payload of `claim_session`: `takeOverFrom` (an admin's) names the agent who owns it now.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClaimPayload {
    session_id: String,
    #[serde(default)]
    take_over_from: Option<String>,
}

pub(crate) async fn claim_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "claim_session", async {
        let me = agent(&s)?;
        let p: ClaimPayload = parse(data)?;
        let session = sessions::get_by_session_id(&state.db, &p.session_id).await?;
        let id = session.session_id.clone();
        let pk = session.id.clone();
        let sum = crate::desk::claim(&state, &me, session, p.take_over_from.as_deref()).await?;
        // The owner follows the conversation.
        s.join(id.clone());
        realtime::joined(&s).insert(&id, &pk);
        Ok(sum)
    })
    .await
}

pub(crate) async fn release_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "release_session", async {
        let me = agent(&s)?;
        crate::desk::release(&state, &me, target(&state, data).await?).await
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransferPayload {
    session_id: String,
    agent_id: String,
}

pub(crate) async fn transfer_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "transfer_session", async {
        let me = agent(&s)?;
        let p: TransferPayload = parse(data)?;
        let session = sessions::get_by_session_id(&state.db, &p.session_id).await?;
        crate::desk::transfer(&state, &me, session, &p.agent_id).await
    })
    .await
}

pub(crate) async fn resolve_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "resolve_session", async {
        let me = agent(&s)?;
        crate::desk::resolve(&state, &me, target(&state, data).await?).await
    })
    .await
}

/// `set_labels {sessionId, labels: [name...]}`: the session gets exactly these labels;
/// the ack is its summary.
pub(crate) async fn set_labels<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "set_labels", async {
        let me = agent(&s)?;
        let p: crate::labels::types::SetLabels = parse(data)?;
        let id = p
            .session_id
            .ok_or_else(|| AppError::InvalidPayload("sessionId is required".into()))?;
        let session = sessions::get_by_session_id(&state.db, &id).await?;
        crate::desk::labels::set(&state, &me, &session, &p.labels).await
    })
    .await
}

pub(crate) async fn reopen_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    respond(&s, ack, "reopen_session", async {
        let me = agent(&s)?;
        crate::desk::reopen(&state, &me, target(&state, data).await?).await
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct EscalationPayload {
    session_id: String,
    #[serde(default)]
    message: Option<String>,
}

/// `request_human` / `human-escalation` (`event` is the name the client sent): the session
/// waits for an agent.
pub(crate) async fn request_human<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
    event: &'static str,
) {
    respond(&s, ack, event, async {
        let p: EscalationPayload = parse(data)?;
        // The whole payload is checked before the session changes.
        let text = p
            .message
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .map(|t| crate::messages::Content::parse(t, state.config.max_content_length))
            .transpose()?;
        let caller = crate::realtime::caller(&s);
        let (pk, _) =
            crate::realtime::visitor::reachable_session(&s, &state, &caller, &p.session_id).await?;
        let done = crate::conversation::escalate(&state, &pk, text).await?;
        if let Err(e) = s.emit("human-escalation-response", &EscalationResponse::now()) {
            tracing::debug!(error = %e, "escalation response not sent");
        }
        Ok(EscalationAck {
            status: SessionStatus::of(&done.session),
            position: done.position,
        })
    })
    .await
}

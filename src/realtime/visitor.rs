//! Socket.io events of the seed protocol: `init_session`, `user_message`, `admin_message`.
//! Each handler: spend the socket's event budget, decode, call the service, answer.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::ParserError;
use tracing::Instrument;

use crate::desk::types::SessionUpdated;
use crate::error::{AppError, AppResult};
use crate::hub::Except;
use crate::messages::service::Stored;
use crate::messages::types::{ClientMsgId, Media, MessageDto, Sender};
use crate::messages::writer::OnStored;
use crate::realtime::lane::{Lane, Ticket};
use crate::realtime::reply::Ack;
use crate::realtime::{self, parse};
use crate::sessions::service::{self, NewSession, Owner};
use crate::sessions::types::{
    HistoryPage, InitAck, ReadAck, ReadReceipt, ReadSeq, SessionStatus, Typing, TypingAck,
};
use crate::sessions::{Caller, VerifiedVisitor};
use crate::state::AppState;

pub(crate) async fn init_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    let span = realtime::span(&s);
    async move {
        match init(&s, data, &state).await {
            Ok(body) => ack.send_raw(&body),
            Err(e) => ack.fail(&s, "init_session", e),
        }
    }
    .instrument(span)
    .await
}

/// Checks `{identifier, identifierHash}` when present; a valid pair is remembered on the
/// socket, an invalid one is `unauthorized`.
fn verify_visitor<A: Adapter>(
    s: &SocketRef<A>,
    payload: &Value,
    state: &AppState,
) -> AppResult<()> {
    let Some(identifier) = payload.get("identifier") else {
        return Ok(());
    };
    let Some(secret) = state
        .config
        .visitor_hmac_secret
        .as_deref()
        .filter(|s| !s.is_empty())
    else {
        return Ok(()); // verification is off: the identifier is ignored, never trusted
    };
    let identifier = identifier
        .as_str()
        .filter(|i| !i.is_empty() && i.len() <= 255)
        .ok_or_else(|| AppError::InvalidPayload("identifier must be a non-empty string".into()))?;
    let hash = payload
        .get("identifierHash")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !crate::auth::verify_visitor(secret, identifier, hash) {
        return Err(AppError::Unauthorized(
            "identifierHash does not match identifier".into(),
        ));
    }
    s.extensions.insert(VerifiedVisitor(identifier.to_string()));
    Ok(())
}

/// `init_session`: resume the session named by a well-formed, known, reachable `sessionId`
/// (or, for a signed-in customer or verified visitor, their latest unresolved one), or start
/// a new one (a stale or malformed id recovers with `resumed: false`); join its room; with
/// `lastSeq`, return what the client missed.
async fn init<A: Adapter>(
    s: &SocketRef<A>,
    data: Result<Value, ParserError>,
    state: &AppState,
) -> AppResult<InitAck> {
    let payload = data.unwrap_or(Value::Null);
    verify_visitor(s, &payload, state)?;
    let caller = realtime::caller(s);
    let wanted_id = payload.get("sessionId").and_then(Value::as_str);
    let last_seq = payload
        .get("lastSeq")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 0);

    let mut existing = match wanted_id {
        Some(id) => service::find_by_session_id(&state.db, id)
            .await?
            .filter(|sess| caller.can_access(sess)),
        None => None,
    };
    let owner = caller.owner();
    if existing.is_none() {
        if let Some(owner) = &owner {
            existing = service::latest_unresolved(&state.db, owner).await?;
        }
    }
    let resumed = existing.is_some();
    if existing.is_none() && wanted_id.is_none() {
        // A socket asking again for a new conversation gets its own empty one back (still
        // `resumed: false`: to the client it is a new, empty conversation). Each new session
        // is announced to every agent; a widget that re-inits costs nothing.
        existing = own_empty_session(s, state, &caller).await?;
    }
    let session = match existing {
        Some(sess) => {
            let unowned = match &owner {
                Some(Owner::Customer(_)) => sess.customer_id.is_none(),
                Some(Owner::VerifiedVisitor(_)) => {
                    sess.visitor_identity.is_none() && sess.customer_id.is_none()
                }
                None => false,
            };
            match owner.as_ref().filter(|_| unowned) {
                Some(o) => {
                    let linked = service::link_owner(&state.db, sess, o).await?;
                    // Whoever else had the id loses it (session fixation).
                    state
                        .hub
                        .evict_visitors(&linked.session_id, Some(Except::socket(s)))
                        .await;
                    linked
                }
                None => sess,
            }
        }
        None => {
            let info = realtime::client(s);
            let (customer_id, visitor_identity) = match owner {
                Some(Owner::Customer(c)) => (Some(c), caller.verified.clone()),
                Some(Owner::VerifiedVisitor(v)) => (None, Some(v)),
                None => (None, None),
            };
            let new = NewSession {
                ip: info.ip,
                user_agent: info.user_agent,
                customer_id,
                visitor_identity,
            };
            realtime::spend_new_session(s, state)?;
            let sess = state.sessions.create(new).await?;
            realtime::record_created(s, &sess.id);
            tracing::info!(session = %sess.session_id, "session created");
            let sum = crate::desk::summary(state, &sess).await?;
            state.hub.to_agents("session_created", &sum, None).await;
            sess
        }
    };
    // Join before reading history: whatever commits after the join arrives live, whatever
    // committed before is in the history; a message in both is deduped by `seq`.
    s.join(session.session_id.clone());
    let first_join = !realtime::joined(s).contains(&session.session_id);
    realtime::joined(s).insert(&session.session_id, &session.id);
    if first_join && !caller.is_staff() {
        crate::desk::visitors::visitor_arrived(state, &session.session_id, &s.id.to_string()).await;
    }
    if let Some(ai) = &state.assistant {
        ai.replay_to(s, &session.id, &session.session_id);
    }

    let (messages, has_more) = match last_seq {
        Some(after) => {
            let floor = if caller.is_staff() {
                0
            } else {
                session.visitor_cleared_seq
            };
            let (rows, more) = crate::messages::service::messages_after_within(
                &state.db,
                &session.id,
                after.max(floor),
                state.config.history_limit,
                state.config.response_max_bytes,
            )
            .await?;
            let msgs = rows
                .into_iter()
                .map(|m| MessageDto::from_model(m, &session.session_id))
                .collect();
            (Some(msgs), Some(more))
        }
        None => (None, None),
    };
    let assignee = match &session.assignee_id {
        Some(id) => Some(crate::desk::types::Assignee {
            id: id.clone(),
            name: crate::desk::service::names(&state.db, std::slice::from_ref(id))
                .await?
                .remove(id)
                .unwrap_or_default(),
        }),
        None => None,
    };
    let queue_position = crate::desk::position(state, &session).await?;
    Ok(InitAck {
        assignee,
        queue_position,
        session_id: session.session_id,
        resumed,
        status: SessionStatus::stored(&session.status),
        code: session.code,
        last_seq: session.last_seq,
        read_seq: ReadSeq {
            user: session.user_read_seq,
            admin: session.admin_read_seq,
        },
        messages,
        has_more,
    })
}

/// The session this socket created last, while it is still empty, open and reachable.
async fn own_empty_session<A: Adapter>(
    s: &SocketRef<A>,
    state: &AppState,
    caller: &Caller,
) -> AppResult<Option<entity::chat_session::Model>> {
    let Some(pk) = realtime::last_created(s) else {
        return Ok(None);
    };
    Ok(crate::desk::service::load(&state.db, &pk)
        .await
        .ok()
        .filter(|sess| {
            sess.last_seq == 0 && sess.status == SessionStatus::Open && caller.can_access(sess)
        }))
}

/// Payload of `user_message` / `admin_message`. `content` may be left out of a file
/// message (see [`Media::content`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendPayload {
    pub session_id: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub client_msg_id: Option<ClientMsgId>,
    /// `type` and `fileUrl`.
    #[serde(flatten)]
    pub media: Media,
}

/// A `user_message` / `admin_message` taken off a socket, with its place in the socket's
/// order of answers.
pub(crate) struct SendEvent<A: Adapter> {
    pub s: SocketRef<A>,
    pub data: Result<Value, ParserError>,
    pub ack: Ack<A>,
    pub state: AppState,
    pub sender: Sender,
    pub lane: Arc<Lane>,
    pub ticket: Ticket,
}

impl<A: Adapter> SendEvent<A> {
    fn event(&self) -> &'static str {
        match self.sender {
            Sender::Admin => "admin_message",
            Sender::User => "user_message",
        }
    }

    /// Answers the event (in its turn) with a refusal.
    fn refuse(self, e: AppError) {
        let event = self.event();
        let (s, ack) = (self.s, self.ack);
        self.lane
            .answer(self.ticket, Box::new(move || ack.fail(&s, event, e)));
    }
}

/// Runs a send right away, in the socket's reader, when nothing needs the database before
/// the writer: the checks pass or fail here, and a valid message is handed to the writer,
/// which answers it after the commit. Hands the checked event back when its session must be
/// read first (not joined by this socket): queue [`send_checked`] on the lane.
pub(crate) fn send_now<A: Adapter>(mut event: SendEvent<A>) -> Option<Checked<A>> {
    let _span = realtime::span(&event.s).entered();
    let (caller, p) = match check_send(&mut event) {
        Ok(ok) => ok,
        Err(e) => {
            event.refuse(e);
            return None;
        }
    };
    let id = p.session_id.to_ascii_lowercase();
    match realtime::joined(&event.s).get(&id) {
        Some(pk) => {
            hand_over(event, caller, p, pk, id);
            None
        }
        None => Some(Checked { event, caller, p }),
    }
}

/// A send whose checks passed, waiting for its session to be read.
pub(crate) struct Checked<A: Adapter> {
    event: SendEvent<A>,
    caller: Caller,
    p: SendPayload,
}

/// A send queued on the socket's lane: checked, its session read, and handed to the writer
/// in its turn (which gives `seq` in that order); answered after the commit, by the writer.
pub(crate) async fn send_message<A: Adapter>(mut event: SendEvent<A>) {
    match check_send(&mut event) {
        Ok((caller, p)) => send_checked(Checked { event, caller, p }).await,
        Err(e) => event.refuse(e),
    }
}

/// The rest of a checked send: its session is read (and the caller's right to it), then
/// the message goes to the writer.
pub(crate) async fn send_checked<A: Adapter>(Checked { event, caller, p }: Checked<A>) {
    let span = realtime::span(&event.s);
    let found = reachable_session(&event.s, &event.state, &caller, &p.session_id)
        .instrument(span)
        .await;
    match found {
        Ok((pk, id)) => hand_over(event, caller, p, pk, id),
        Err(e) => event.refuse(e),
    }
}

/// The checks of a send that need no database: the sender's rights, the payload, the
/// content, the session id's form.
fn check_send<A: Adapter>(event: &mut SendEvent<A>) -> AppResult<(Caller, SendPayload)> {
    let caller = match event.sender {
        Sender::Admin => require_staff(&event.s, &event.state, "admin_message")?,
        Sender::User => realtime::caller(&event.s),
    };
    let mut p: SendPayload = parse(std::mem::replace(&mut event.data, Ok(Value::Null)))?;
    p.content = p.media.content(std::mem::take(&mut p.content));
    crate::messages::validate_content(&p.content, event.state.config.max_content_length)?;
    check_session_id(&p.session_id)?;
    Ok((caller, p))
}

fn check_session_id(session_id: &str) -> AppResult<()> {
    crate::sessions::types::SessionId::parse(session_id).map(drop)
}

/// Hands a checked message to the writer; the writer answers it (in the socket's order of
/// answers) once it is committed and broadcast.
fn hand_over<A: Adapter>(
    event: SendEvent<A>,
    caller: Caller,
    p: SendPayload,
    session_pk: String,
    session_id: String,
) {
    let state = &event.state;
    let sender = event.sender;
    let except = (!state.config.echo_to_sender).then(|| Except::socket(&event.s));
    let author_id = match sender {
        Sender::Admin => caller
            .identity
            .as_ref()
            .filter(|i| !i.legacy)
            .map(|i| i.account_id.clone()),
        Sender::User => None,
    };
    // A visitor wrote: the assistant (when there is one) may answer.
    let assistant = (sender == Sender::User && !caller.is_staff() && state.assistant.is_some())
        .then(|| (state.clone(), session_pk.clone()));
    let mut new = crate::messages::service::NewMessage::new(
        session_pk.clone(),
        session_id,
        sender,
        p.content,
    );
    new = new.with_media(p.media);
    new.client_msg_id = p.client_msg_id.map(ClientMsgId::into_inner);
    new.author_id = author_id;
    if let (Sender::Admin, Some(ai)) = (sender, &state.assistant) {
        ai.cancel(&session_pk); // a human speaks: the assistant stops and stays quiet
    }
    let name = event.event();
    let SendEvent {
        s,
        ack,
        lane,
        ticket,
        state,
        ..
    } = event;
    let then: OnStored = Box::new(move |result: AppResult<Stored>| {
        if let (Some((state, pk)), Ok(stored)) = (&assistant, &result) {
            if !stored.duplicate {
                crate::assistant::visitor_wrote(state, pk);
            }
        }
        lane.answer(
            ticket,
            Box::new(move || ack.reply(&s, name, result.map(|st| st.message))),
        );
    });
    if let Err((e, then)) = state.writer.submit_then(new, except, then) {
        then(Err(e));
    }
}

/// Staff check of `admin_message`: a staff token, or legacy open mode without any token.
pub fn require_staff<A: Adapter>(
    s: &SocketRef<A>,
    state: &AppState,
    action: &str,
) -> AppResult<Caller> {
    let caller = realtime::caller(s);
    if caller.is_staff() {
        return Ok(caller);
    }
    if caller.identity.is_none() && state.config.insecure_open_admin {
        crate::auth::warn_legacy(action);
        return Ok(Caller {
            identity: Some(crate::auth::Identity::legacy_console()),
            verified: None,
        });
    }
    Err(AppError::Unauthorized(format!(
        "{action} requires a staff token"
    )))
}

/// The session a caller names by its public id, if the caller may reach it.
pub async fn reachable_session<A: Adapter>(
    s: &SocketRef<A>,
    state: &AppState,
    caller: &Caller,
    session_id: &str,
) -> AppResult<(String, String)> {
    check_session_id(session_id)?;
    let canonical = session_id.to_ascii_lowercase();
    if let Some(pk) = realtime::joined(s).get(&canonical) {
        return Ok((pk, canonical));
    }
    let session = service::find_by_session_id(&state.db, &canonical)
        .await?
        .ok_or(AppError::SessionNotFound)?;
    if !caller.can_access(&session) {
        return Err(AppError::Forbidden(
            "this session belongs to someone else".into(),
        ));
    }
    Ok((session.id, session.session_id))
}

/// Which side a socket speaks for: staff write as `admin`, everyone else as `user`.
fn side<A: Adapter>(s: &SocketRef<A>) -> Sender {
    if realtime::caller(s).is_staff() {
        Sender::Admin
    } else {
        Sender::User
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TypingPayload {
    session_id: String,
    is_typing: bool,
}

/// `typing {sessionId, isTyping}`: relayed to the others in the room; an unrefreshed
/// `true` is turned off by the server after `TYPING_TIMEOUT_SECS`.
pub(crate) async fn typing<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "typing", async {
        let p: TypingPayload = parse(data)?;
        let caller = realtime::caller(&s);
        let (_, session_id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        let sender = side(&s);
        let generation = state.presence.typing(&session_id, sender.as_str());
        let payload = Typing::by(&session_id, sender, p.is_typing);
        let except = Except::socket(&s);
        state
            .hub
            .to_session(&session_id, "typing", &payload, Some(except))
            .await;
        if p.is_typing {
            let state = state.clone();
            let session_id = session_id.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(
                    state.config.typing_timeout_secs,
                ))
                .await;
                if state
                    .presence
                    .typing_expired(&session_id, sender.as_str(), generation)
                {
                    let off = Typing::by(&session_id, sender, false);
                    state
                        .hub
                        .to_session(&session_id, "typing", &off, Some(except))
                        .await;
                }
            });
        }
        Ok(TypingAck {
            session_id,
            is_typing: p.is_typing,
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReadPayload {
    session_id: String,
    seq: i64,
}

/// `read {sessionId, seq}`: moves this side's watermark forward (never back); the room
/// hears `read {sessionId, reader, seq}` when it moved.
pub(crate) async fn read<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "read", async {
        let p: ReadPayload = parse(data)?;
        if p.seq < 0 {
            return Err(AppError::InvalidPayload("seq must not be negative".into()));
        }
        let caller = realtime::caller(&s);
        let (pk, session_id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        let reader = if caller.is_staff() {
            crate::desk::service::Reader::Admin
        } else {
            crate::desk::service::Reader::User
        };
        let (stored, moved) =
            crate::desk::service::mark_read(&state.db, &pk, reader, p.seq).await?;
        if moved {
            let payload = ReadReceipt {
                session_id: session_id.clone(),
                reader,
                seq: stored,
            };
            state
                .hub
                .to_session(&session_id, "read", &payload, None)
                .await;
            if reader == crate::desk::service::Reader::Admin {
                let s2 = crate::desk::service::load(&state.db, &pk).await?;
                let update = SessionUpdated::Read {
                    session_id: &session_id,
                    read_seq: ReadSeq {
                        user: s2.user_read_seq,
                        admin: s2.admin_read_seq,
                    },
                    unread: (s2.last_seq - s2.admin_read_seq).max(0),
                };
                state
                    .hub
                    .to_agents_about(SessionUpdated::EVENT, update.kind(), &session_id, &update)
                    .await;
            }
        }
        Ok(ReadAck {
            reader,
            seq: stored,
        })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryPayload {
    session_id: String,
    before_seq: Option<i64>,
    limit: Option<u64>,
}

/// `get_history {sessionId, beforeSeq?, limit?}`: pages backwards.
pub(crate) async fn get_history<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "get_history", async {
        let p: HistoryPayload = parse(data)?;
        let caller = realtime::caller(&s);
        let (pk, session_id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        let limit = p
            .limit
            .unwrap_or(50)
            .clamp(1, state.config.history_limit.max(1));
        let floor = if caller.is_staff() {
            0
        } else {
            service::visitor_floor(&state.db, &pk).await?
        };
        let (rows, has_more) = crate::messages::service::messages_before_within(
            &state.db,
            &pk,
            floor,
            p.before_seq,
            limit,
            state.config.response_max_bytes,
        )
        .await?;
        let messages: Vec<MessageDto> = rows
            .into_iter()
            .map(|m| MessageDto::from_model(m, &session_id))
            .collect();
        Ok(HistoryPage { messages, has_more })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClearPayload {
    session_id: String,
}

/// `clear_history {sessionId}`. Erasing for everyone is an admin's action (as REST `DELETE`
/// is); an agent is `forbidden`; a visitor's clear hides the history from the visitor only
/// (staff keep seeing all of it).
pub(crate) async fn clear_history<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "clear_history", async {
        let p: ClearPayload = parse(data)?;
        let caller = realtime::caller(&s);
        let (pk, session_id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        match &caller.identity {
            Some(id) if id.role == crate::auth::Role::Admin && !id.legacy => {
                crate::sessions::history::clear(&state, &pk, &session_id).await
            }
            Some(id) if id.is_staff() => Err(AppError::Forbidden(
                "erasing a conversation is an admin action".into(),
            )),
            _ => crate::sessions::history::clear_for_visitor(&state, &pk, &session_id).await,
        }
    })
    .await
}

//! Socket.io events of the seed protocol: `init_session`, `user_message`, `admin_message`.
//! Each handler: spend the socket's event budget, decode, call the service, answer.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::ParserError;
use tracing::Instrument;

use crate::conversation::{self, Draft, OpenRequest, Outgoing, SessionRef, Viewer};
use crate::csat::types::{RatePayload, RatingRequest, Score};
use crate::desk::service::Reader;
use crate::desk::types::Availability;
use crate::error::{AppError, AppResult};
use crate::hub::Except;
use crate::messages::service::Stored;
use crate::messages::types::{ClientMsgId, Media, Sender};
use crate::messages::writer::OnStored;
use crate::realtime::lane::{Lane, Ticket};
use crate::realtime::reply::Ack;
use crate::realtime::types::{ContactPayload, InitReply};
use crate::realtime::{self, parse};
use crate::sessions::types::{HistoryPage, InitAck, ReadSeq, SessionId, SessionStatus, TypingAck};
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
            Ok((body, ask_rating)) => {
                ack.send_raw(&body);
                // After the ack, so that a client learns its session first.
                if let Err(e) = s.emit(Availability::EVENT, &body.availability) {
                    tracing::debug!(error = %e, "availability not sent");
                }
                if ask_rating {
                    let ask = RatingRequest {
                        session_id: body.ack.session_id.clone(),
                    };
                    if let Err(e) = s.emit(RatingRequest::EVENT, &ask) {
                        tracing::debug!(error = %e, "rating request not sent");
                    }
                }
            }
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
/// `lastSeq`, return what the client missed. Also says whether anyone can answer now, and
/// whether the visitor is to be asked (again) to rate a resolved session.
async fn init<A: Adapter>(
    s: &SocketRef<A>,
    data: Result<Value, ParserError>,
    state: &AppState,
) -> AppResult<(InitReply, bool)> {
    let payload = data.unwrap_or(Value::Null);
    verify_visitor(s, &payload, state)?;
    let caller = realtime::caller(s);
    let wanted_id = payload.get("sessionId").and_then(Value::as_str);
    let last_seq = payload
        .get("lastSeq")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 0);

    let reuse = match wanted_id {
        None => own_empty_session(s, state, &caller).await?,
        Some(_) => None,
    };
    let opened = conversation::open(
        state,
        OpenRequest {
            caller: &caller,
            wanted: wanted_id,
            only_owned_by: None,
            reuse,
            client: realtime::client(s),
            keep: Some(Except::socket(s)),
        },
        || realtime::spend_new_session(s, state),
    )
    .await?;
    let (session, resumed) = (opened.session, opened.resumed);
    if opened.created {
        realtime::record_created(s, &session.id);
    }
    // Join before reading history: whatever commits after the join arrives live, whatever
    // committed before is in the history; a message in both is deduped by `seq`.
    // A reply streaming now: what was said so far goes first, with the join, so that no
    // live token of it can overtake the replay.
    match &state.assistant {
        Some(ai) => {
            ai.join_and_replay(s, &session.id, &session.session_id, || {
                s.join(session.session_id.clone())
            })
            .await
        }
        None => s.join(session.session_id.clone()),
    }
    let first_join = !realtime::joined(s).contains(&session.session_id);
    realtime::joined(s).insert(&session.session_id, &session.id);
    if first_join && !caller.is_staff() {
        crate::desk::visitors::visitor_arrived(state, &session.session_id, &s.id.to_string()).await;
    }

    let (messages, has_more) = match last_seq {
        Some(after) => {
            let page =
                conversation::missed(state, &session, Viewer::of(&caller), after, None).await?;
            let more = page.has_more;
            (Some(page.dtos(&session.session_id)), Some(more))
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
    let availability = crate::desk::availability::of(state, Some(&session)).await;
    let ask_rating = !caller.is_staff() && crate::desk::csat::due(state, &session).await?;
    let contact_left = !caller.is_staff() && session.contact_left_at.is_some();
    let ack = InitAck {
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
    };
    Ok((
        InitReply {
            ack,
            availability,
            contact_left,
        },
        ask_rating,
    ))
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
/// message (see [`Media::content`]) and of one naming an uploaded file (`attachmentId`).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendPayload {
    pub session_id: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub client_msg_id: Option<ClientMsgId>,
    /// `type` and `fileUrl`, or `attachmentId`.
    #[serde(flatten)]
    pub media: Media,
    /// `admin_message` only: a private note, which the visitor's side never sees.
    #[serde(default)]
    pub private: bool,
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
/// read first (not joined by this socket) or it names an attachment to find: queue
/// [`send_checked`] on the lane.
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
        Some(pk) if p.draft.is_ready() => {
            hand_over(event, caller, p, pk, id);
            None
        }
        _ => Some(Checked { event, caller, p }),
    }
}

/// A send whose checks passed, waiting for its session to be read.
pub(crate) struct Checked<A: Adapter> {
    event: SendEvent<A>,
    caller: Caller,
    p: Send,
}

/// A checked `user_message` / `admin_message`: its session as named, and its message.
struct Send {
    session_id: String,
    draft: Draft,
    client_msg_id: Option<ClientMsgId>,
    private: bool,
}

/// A send queued on the socket's lane: checked, its session read, and handed to the writer
/// in its turn (which gives `seq` in that order); answered after the commit, by the writer.
pub(crate) async fn send_message<A: Adapter>(mut event: SendEvent<A>) {
    match check_send(&mut event) {
        Ok((caller, p)) => send_checked(Checked { event, caller, p }).await,
        Err(e) => event.refuse(e),
    }
}

/// The rest of a checked send: its session is read (and the caller's right to it), and
/// the attachment it names found, then the message goes to the writer.
pub(crate) async fn send_checked<A: Adapter>(Checked { event, caller, p }: Checked<A>) {
    let span = realtime::span(&event.s);
    let Send {
        session_id,
        draft,
        client_msg_id,
        private,
    } = p;
    let found = async {
        let (pk, id) = reachable_session(&event.s, &event.state, &caller, &session_id).await?;
        let (content, media) =
            conversation::compose(&event.state, &pk, event.sender, draft).await?;
        Ok::<_, AppError>((pk, id, Draft::Ready { content, media }))
    }
    .instrument(span)
    .await;
    match found {
        Ok((pk, id, draft)) => {
            let p = Send {
                session_id,
                draft,
                client_msg_id,
                private,
            };
            hand_over(event, caller, p, pk, id)
        }
        Err(e) => event.refuse(e),
    }
}

/// The checks of a send that need no database: the sender's rights, the payload, the
/// content, the session id's form.
fn check_send<A: Adapter>(event: &mut SendEvent<A>) -> AppResult<(Caller, Send)> {
    let caller = match event.sender {
        Sender::Admin => require_staff(&event.s, &event.state, "admin_message")?,
        Sender::User => realtime::caller(&event.s),
    };
    let p: SendPayload = parse(std::mem::replace(&mut event.data, Ok(Value::Null)))?;
    if p.private && event.sender == Sender::User {
        return Err(AppError::InvalidPayload(
            "private notes are written by staff with admin_message".into(),
        ));
    }
    let draft = Draft::new(p.content, p.media, event.state.config.max_content_length)?;
    let session_id = SessionId::parse(&p.session_id)?.into_inner();
    Ok((
        caller,
        Send {
            session_id,
            draft,
            client_msg_id: p.client_msg_id,
            private: p.private,
        },
    ))
}

/// Hands a checked message to the conversation core; the writer answers it (in the
/// socket's order of answers) once it is committed and broadcast.
fn hand_over<A: Adapter>(event: SendEvent<A>, caller: Caller, p: Send, pk: String, id: String) {
    let session = SessionRef { pk, id };
    let Draft::Ready { content, media } = p.draft else {
        // `send_now` and `send_checked` hand over only drafts whose attachment was found.
        event.refuse(AppError::Internal(anyhow::anyhow!(
            "a send's attachment was not looked up"
        )));
        return;
    };
    let out = match (event.sender, &caller.identity) {
        (Sender::Admin, Some(me)) => Outgoing::staff(session, content, me),
        (Sender::Admin, None) => Outgoing {
            side: Sender::Admin,
            ..Outgoing::visitor(session, content)
        },
        // A staff socket writing on the visitor side does not wake the assistant.
        (Sender::User, _) => Outgoing {
            wakes_assistant: !caller.is_staff(),
            ..Outgoing::visitor(session, content)
        },
    }
    .with_client_msg_id(p.client_msg_id)
    .with_media(media);
    let out = Outgoing {
        private: p.private,
        ..out
    };
    let except = (!event.state.config.echo_to_sender).then(|| Except::socket(&event.s));
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
        lane.answer(
            ticket,
            Box::new(move || ack.reply(&s, name, result.map(|st| st.message))),
        );
    });
    conversation::submit(&state, out, except, then);
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

/// The session a caller names by its public id, if the caller may reach it (the sessions
/// this socket joined are known without asking the database).
pub async fn reachable_session<A: Adapter>(
    s: &SocketRef<A>,
    state: &AppState,
    caller: &Caller,
    session_id: &str,
) -> AppResult<(String, String)> {
    let canonical = SessionId::parse(session_id)?.into_inner();
    if let Some(pk) = realtime::joined(s).get(&canonical) {
        return Ok((pk, canonical));
    }
    let session = conversation::reach(state, caller, &canonical).await?;
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
        conversation::typing(
            &state,
            &session_id,
            side(&s),
            p.is_typing,
            Some(Except::socket(&s)),
        )
        .await;
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
        let caller = realtime::caller(&s);
        let (pk, id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        let reader = match Viewer::of(&caller) {
            Viewer::Staff => Reader::Admin,
            Viewer::Visitor => Reader::User,
        };
        conversation::read(&state, &SessionRef { pk, id }, reader, p.seq).await
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
        let (pk, id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        let s = SessionRef { pk, id };
        let page =
            conversation::history(&state, &s, Viewer::of(&caller), p.before_seq, p.limit).await?;
        let has_more = page.has_more;
        Ok(HistoryPage {
            messages: page.dtos(&s.id),
            has_more,
        })
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
        let (pk, id) = reachable_session(&s, &state, &caller, &p.session_id).await?;
        conversation::clear(&state, &caller, &SessionRef { pk, id }).await
    })
    .await
}

/// The session `raw` names, if this socket joined it (`init_session`): a visitor rates, or
/// leaves a contact for, its own conversation only; any other is `session_not_found`.
fn own_session<A: Adapter>(s: &SocketRef<A>, raw: &str) -> AppResult<SessionRef> {
    let id = SessionId::parse(raw)?.into_inner();
    match realtime::joined(s).get(&id) {
        Some(pk) => Ok(SessionRef { pk, id }),
        None => Err(AppError::SessionNotFound),
    }
}

/// `rate_session {sessionId, rating: 1-5, comment?}`: the visitor rates the resolution of
/// its session, once (ack `{sessionId, rating, comment?, createdAt}`; `not_resolved`,
/// `already_rated`, `invalid_payload`, `content_too_long`, `session_not_found`).
pub(crate) async fn rate_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "rate_session", async {
        let p: RatePayload = parse(data)?;
        let here = own_session(&s, &p.session_id)?;
        let score = Score::parse(&p.rating, p.comment.as_ref())?;
        conversation::rate(&state, &realtime::caller(&s), &here, score).await
    })
    .await
}

/// `leave_contact {sessionId, email, message?}`: nobody was online; the visitor leaves an
/// address (and a message) and the session waits for staff (ack `{sessionId, contactEmail,
/// status, position}`; `invalid_email`, `content_too_long`, `session_not_found`).
pub(crate) async fn leave_contact<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    realtime::respond(&s, ack, "leave_contact", async {
        let p: ContactPayload = parse(data)?;
        let here = own_session(&s, &p.session_id)?;
        let caller = realtime::caller(&s);
        let (left, _stored) =
            conversation::leave_contact(&state, &caller, &here, &p.email, p.message.as_deref())
                .await?;
        Ok(left)
    })
    .await
}

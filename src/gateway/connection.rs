//! One plain-WebSocket connection, from the upgrade to the close. A single task selects over
//! four things: frames from the client (decoded, rate-limited, dispatched to the same
//! services the socket.io handlers call), events of the session's room (from the hub,
//! translated), the keep-alive ping timer and the idle deadline.

use crate::messages::service::Audience;
use std::collections::VecDeque;

use axum::extract::ws::WebSocket;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use super::types::{self, Inbound, Outbound};
use super::wire::{self, encode, Counted, Heard, Keepalive, Wire};
use crate::auth::Identity;
use crate::conversation::{self, Outgoing, SessionRef, Viewer};
use crate::edge::limits::SocketBudget;
use crate::error::{AppError, AppResult};
use crate::hub::SessionEvent;
use crate::messages::service::Stored;
use crate::messages::types::{ClientMsgId, Media, MessageDto, Sender};
use crate::messages::Content;
use crate::sessions::types::SessionStatus;
use crate::sessions::Caller;
use crate::state::AppState;

/// How many ids of its own messages a connection remembers (to recognise their echo).
const OWN_IDS: usize = 256;

/// What a connection knows about the session it speaks in.
pub struct Session {
    pub pk: String,
    pub session_id: String,
    pub code: String,
    pub status: crate::sessions::types::SessionStatus,
    pub last_seq: i64,
    pub resumed: bool,
}

/// The state of one connection.
struct Conn {
    state: AppState,
    wire: Wire,
    session: Session,
    budget: SocketBudget,
    /// Ids of the visitor messages this connection stored: their room echo is not sent back.
    own: VecDeque<String>,
    /// The highest `seq` the client has been given (history or live): older ones are not
    /// sent twice.
    seen_seq: i64,
    /// `history_cleared` echoes still to come for clears this connection made itself.
    own_clears: usize,
}

/// Serves one upgraded connection until it closes.
pub async fn serve(
    socket: WebSocket,
    state: AppState,
    session: Session,
    identity: Option<Identity>,
) {
    let _counted = Counted::open(&state.stats, "/ws");
    let session_id = session.session_id.clone();
    // Subscribe before reading history: what commits after this arrives live, what committed
    // before is in the history; a message in both is sent once (by `seq`).
    let mut sub = state.hub.subscribe(&session_id);
    // Closed when the account is disabled or deleted, or this token is logged out.
    // ... and, for an anonymous connection, when the session becomes someone's.
    let revocation = state
        .hub
        .revocable(match identity.as_ref().filter(|i| !i.legacy) {
            Some(i) => vec![
                crate::hub::account_room(&i.account_id),
                crate::hub::token_room(&i.jti),
            ],
            None => vec![crate::hub::session_room(&session_id)],
        });
    let budget = state.limits.socket_budget();
    let mut conn = Conn {
        state: state.clone(),
        wire: Wire::new(socket),
        session,
        budget,
        own: VecDeque::new(),
        seen_seq: 0,
        own_clears: 0,
    };
    tracing::debug!(customer = identity.is_some(), "connected");
    let presence_id = format!("ws-{}", uuid::Uuid::new_v4().simple());
    crate::desk::visitors::visitor_arrived(&state, &session_id, &presence_id).await;
    let mut availability = state.availability.subscribe();
    availability.mark_unchanged();
    conn.greet().await;

    let mut keep = Keepalive::new(&state.config);
    while conn.wire.open {
        tokio::select! {
            frame = conn.wire.recv() => match conn.wire.hear(frame, &mut keep).await {
                Heard::Text(text) => conn.on_text(&text).await,
                Heard::NotText => conn.refuse_binary().await,
                Heard::Control => {}
                Heard::Gone => break,
            },
            event = sub.rx.recv() => match event {
                Ok(ev) => conn.on_room_event(&ev).await,
                Err(RecvError::Lagged(missed)) => conn.resync(missed).await,
                Err(RecvError::Closed) => break,
            },
            Ok(()) = availability.changed() => {
                let now = availability.borrow_and_update().clone();
                conn.send(&Outbound::Availability { availability: now, timestamp: types::now() }).await;
            }
            due = keep.due(&revocation.cancelled) => {
                if !conn.wire.on_due(due).await {
                    break;
                }
            }
        }
    }

    drop(sub);
    crate::desk::visitors::visitor_left(&state, &session_id, &presence_id).await;
    tracing::debug!("disconnected");
}

/// A server message as JSON text (`None`, logged, if it cannot be: it never should).
impl Conn {
    async fn send<T: Serialize>(&mut self, frame: &T) {
        self.wire.send(frame).await;
    }

    async fn send_text(&mut self, text: Option<String>) {
        self.wire.send_text(text).await;
    }

    async fn send_error(&mut self, err: &AppError, event: Option<&str>) {
        let v = types::error(err, event);
        self.send(&v).await;
    }

    /// `session` then `history`: where the client is and what was said so far; then
    /// `availability`, and `rating_request` when the session is resolved and not rated.
    async fn greet(&mut self) {
        let session = crate::desk::service::load(&self.state.db, &self.session.pk)
            .await
            .ok();
        let position = match &session {
            Some(s) => crate::desk::position(&self.state, s).await.ok().flatten(),
            None => None,
        };
        let hello = Outbound::Session {
            session_id: &self.session.session_id,
            code: &self.session.code,
            status: self.session.status,
            resumed: self.session.resumed,
            last_seq: self.session.last_seq,
            queue_position: position,
            contact_left: session
                .as_ref()
                .is_some_and(|s| s.contact_left_at.is_some()),
            timestamp: types::now(),
        };
        let hello = encode(&hello);
        self.send_text(hello).await;
        if let Err(e) = self.history(None, None).await {
            self.send_error(&e, Some("history")).await;
        }
        let Some(session) = session else { return };
        let availability = crate::desk::availability::of(&self.state, Some(&session)).await;
        self.send(&Outbound::Availability {
            availability,
            timestamp: types::now(),
        })
        .await;
        if crate::desk::csat::due(&self.state, &session)
            .await
            .unwrap_or(false)
        {
            let ask = Outbound::RatingRequest {
                session_id: session.session_id.clone(),
                timestamp: types::now(),
            };
            self.send(&ask).await;
        }
    }

    async fn on_text(&mut self, text: &str) {
        let inbound = match wire::admit(&self.budget, text, types::parse) {
            Ok(m) => m,
            Err(m) => {
                self.send_error(&m.error, m.event.as_deref()).await;
                return;
            }
        };
        let (event, result) = match inbound {
            Inbound::Chat {
                content,
                client_msg_id,
                media,
            } => ("chat", self.chat(content, client_msg_id, media).await),
            Inbound::Escalate { message } => ("human-escalation", self.escalate(message).await),
            Inbound::Ping => {
                let pong = Outbound::Pong {
                    timestamp: types::now(),
                };
                self.send(&pong).await;
                ("ping", Ok(()))
            }
            Inbound::GetHistory { before_seq, limit } => {
                ("get_history", self.history(before_seq, limit).await)
            }
            Inbound::ClearHistory => ("clear_history", self.clear().await),
            Inbound::Typing { is_typing } => ("typing", self.typing(is_typing).await),
            Inbound::Rate {
                session_id,
                rating,
                comment,
            } => (
                "rate_session",
                self.rate(session_id.as_deref(), &rating, comment.as_ref())
                    .await,
            ),
            Inbound::LeaveContact {
                session_id,
                email,
                message,
            } => (
                "leave_contact",
                self.leave_contact(session_id.as_deref(), &email, message.as_deref())
                    .await,
            ),
        };
        if let Err(e) = result {
            self.send_error(&e, Some(event)).await;
        }
    }

    async fn refuse_binary(&mut self) {
        if let Err(e) = self.budget.check() {
            self.send_error(&e, None).await;
            return;
        }
        let e = AppError::InvalidPayload("binary messages must be UTF-8 JSON text".into());
        self.send_error(&e, None).await;
    }

    fn remember_own(&mut self, id: &str) {
        if self.own.len() >= OWN_IDS {
            self.own.pop_front();
        }
        self.own.push_back(id.to_string());
    }

    /// The conversation this connection speaks in.
    fn here(&self) -> SessionRef {
        SessionRef {
            pk: self.session.pk.clone(),
            id: self.session.session_id.clone(),
        }
    }

    /// The visitor's message is stored: `sent` answers it.
    async fn confirm(&mut self, stored: &Stored) {
        self.remember_own(&stored.message.id);
        let sent = types::sent(&stored.message, stored.duplicate);
        self.send(&sent).await;
    }

    /// `chat` / `message`: the visitor writes; the assistant (when on and no human owns the
    /// session) answers through the room.
    async fn chat(
        &mut self,
        content: String,
        client_msg_id: Option<ClientMsgId>,
        media: Media,
    ) -> AppResult<()> {
        let draft = conversation::Draft::new(content, media, self.state.config.max_content_length)?;
        let here = self.here();
        let (content, media) =
            conversation::compose(&self.state, &here.pk, Sender::User, draft).await?;
        let out = Outgoing::visitor(here, content)
            .with_client_msg_id(client_msg_id)
            .with_media(media);
        let stored = conversation::send(&self.state, out, None).await?;
        self.confirm(&stored).await;
        Ok(())
    }

    /// `human-escalation`: the session waits for an agent (as socket.io `request_human`); the
    /// optional text is stored as the visitor's message; the client gets
    /// `human-escalation-response`.
    async fn escalate(&mut self, message: Option<String>) -> AppResult<()> {
        let text = message
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty())
            .map(|t| Content::parse(t, self.state.config.max_content_length))
            .transpose()?;
        let done = conversation::escalate(&self.state, &self.session.pk, text).await?;
        if let Some(stored) = &done.stored {
            self.confirm(stored).await;
        }
        let reply = Outbound::EscalationAnswer {
            message: crate::desk::types::EscalationResponse::TEXT,
            status: SessionStatus::of(&done.session),
            position: done.position,
            timestamp: types::now(),
        };
        self.send(&reply).await;
        Ok(())
    }

    /// `history`: the latest messages (or those before `beforeSeq`), oldest first. The
    /// plain-WebSocket client is the visitor side: its view starts after its clear.
    async fn history(&mut self, before_seq: Option<i64>, limit: Option<u64>) -> AppResult<()> {
        let here = self.here();
        let page =
            conversation::history(&self.state, &here, Viewer::Visitor, before_seq, limit).await?;
        if let Some(last) = page.messages.last() {
            self.seen_seq = self.seen_seq.max(last.seq);
        }
        let history = types::history(&here.id, &page.messages, page.has_more);
        let v = encode(&Outbound::History(history));
        self.send_text(v).await;
        Ok(())
    }

    /// `clear_history`: hides the history from the visitor (every device of theirs hears it;
    /// staff keep seeing it, as for a socket.io visitor) and answers `history {messages: []}`.
    async fn clear(&mut self) -> AppResult<()> {
        let visitor = Caller::default();
        conversation::clear(&self.state, &visitor, &self.here()).await?;
        self.own_clears += 1;
        self.send_empty_history().await;
        Ok(())
    }

    /// `typing {isTyping}`: relayed to the room as the visitor side's `typing`.
    async fn typing(&mut self, is_typing: bool) -> AppResult<()> {
        let id = self.session.session_id.clone();
        conversation::typing(&self.state, &id, Sender::User, is_typing, None).await;
        Ok(())
    }

    /// This connection's session, when the frame names none or names it; any other is
    /// `session_not_found` (a connection speaks in its own session only).
    fn own(&self, named: Option<&str>) -> AppResult<SessionRef> {
        match named {
            Some(raw) if !raw.eq_ignore_ascii_case(&self.session.session_id) => {
                Err(AppError::SessionNotFound)
            }
            _ => Ok(self.here()),
        }
    }

    /// `rate_session {rating, comment?}`: answered `rated {...}`.
    async fn rate(
        &mut self,
        named: Option<&str>,
        rating: &serde_json::Value,
        comment: Option<&serde_json::Value>,
    ) -> AppResult<()> {
        let here = self.own(named)?;
        let score = crate::csat::types::Score::parse(rating, comment)?;
        let rated = conversation::rate(&self.state, &Caller::default(), &here, score).await?;
        self.send(&Outbound::Rated {
            rated,
            timestamp: types::now(),
        })
        .await;
        Ok(())
    }

    /// `leave_contact {email, message?}`: answered `contact_left {...}`; the message is the
    /// visitor's own (confirmed by `sent`).
    async fn leave_contact(
        &mut self,
        named: Option<&str>,
        email: &str,
        message: Option<&str>,
    ) -> AppResult<()> {
        let here = self.own(named)?;
        let (left, stored) =
            conversation::leave_contact(&self.state, &Caller::default(), &here, email, message)
                .await?;
        if let Some(stored) = &stored {
            self.confirm(stored).await;
        }
        self.send(&Outbound::ContactLeft {
            left,
            timestamp: types::now(),
        })
        .await;
        Ok(())
    }

    /// An event of the session's room, translated for this client.
    async fn on_room_event(&mut self, ev: &SessionEvent) {
        match ev.event {
            "message" => match MessageDto::deserialize(&*ev.data) {
                Ok(dto) => self.room_message(&dto).await,
                Err(e) => tracing::warn!(error = %e, "room message not understood; not relayed"),
            },
            crate::hub::RESYNC => self.catch_up().await,
            "history_cleared" if self.own_clears > 0 => self.own_clears -= 1,
            "history_cleared" => self.send_empty_history().await,
            other => {
                if let Some(frame) = types::translate(other, &ev.data) {
                    self.send(&frame).await;
                }
            }
        }
    }

    /// `history {messages: []}`: the visitor's history was cleared.
    async fn send_empty_history(&mut self) {
        let v = Outbound::History(types::history(&self.session.session_id, &[], false));
        let v = encode(&v);
        self.send_text(v).await;
    }

    /// A stored message of the room: sent unless the client has it already (its own, or
    /// in the history it was given).
    async fn room_message(&mut self, dto: &MessageDto) {
        if dto.seq != 0 && dto.seq <= self.seen_seq {
            return;
        }
        self.seen_seq = self.seen_seq.max(dto.seq);
        if let Some(i) = self.own.iter().position(|o| *o == dto.id) {
            self.own.remove(i);
            return;
        }
        self.send(&types::live_message(dto)).await;
    }

    /// How many messages one history frame carries.
    fn page(&self) -> u64 {
        conversation::page_size(&self.state, None, conversation::DEFAULT_PAGE)
    }

    /// Events of other nodes may have been missed (this node lost Redis for a while): the
    /// messages stored after the last one the client has are sent now, as live messages
    /// (or the whole recent history, when more are missing than one page holds).
    async fn catch_up(&mut self) {
        let limit = self.page();
        let floor = crate::sessions::service::visitor_floor(&self.state.db, &self.session.pk)
            .await
            .unwrap_or(0);
        let rows = crate::messages::service::messages_between(
            &self.state.db,
            &self.session.pk,
            self.seen_seq.max(floor),
            None,
            limit,
            Audience::Public,
        )
        .await;
        match rows {
            Ok((_, true)) => self.resync(0).await,
            Ok((rows, false)) => {
                for m in rows {
                    let dto = MessageDto::from_model(m, &self.session.session_id);
                    self.room_message(&dto).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "missed messages not read; the client keeps what it has")
            }
        }
    }

    /// The room's events came faster than this client took them: some were lost, so the
    /// client gets the whole recent history again (`history {..., resync: true}`).
    async fn resync(&mut self, missed: u64) {
        tracing::warn!(
            missed,
            "plain WebSocket client fell behind; resending history"
        );
        self.own_clears = 0;
        let floor = crate::sessions::service::visitor_floor(&self.state.db, &self.session.pk)
            .await
            .unwrap_or(0);
        let rows = crate::messages::service::messages_between(
            &self.state.db,
            &self.session.pk,
            floor,
            None,
            self.page(),
            Audience::Public,
        )
        .await;
        match rows {
            Ok((rows, has_more)) => {
                if let Some(last) = rows.last() {
                    self.seen_seq = self.seen_seq.max(last.seq);
                }
                let mut history = types::history(&self.session.session_id, &rows, has_more);
                history.resync = true;
                let v = encode(&Outbound::History(history));
                self.send_text(v).await;
            }
            Err(e) => self.send_error(&e, Some("history")).await,
        }
    }
}

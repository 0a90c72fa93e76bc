//! One `/api/v1/chat/ws` connection: seed 004's frames over a plain WebSocket. A single task
//! selects over the client's frames, the events of every room the connection joined (each
//! room's hub subscription is forwarded into one channel by a small task of its own), the
//! keep-alive ping, revocation and the idle deadline, as the gateway's connections do.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message, WebSocket};
use axum::extract::{FromRequestParts, Request, State, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::Instrument;

use super::http::V1Error;
use super::types::{Author, Inbound, NewMessageData, Outbound, PresenceData, RoomPresence};
use crate::auth::Identity;
use crate::edge::limits::SocketBudget;
use crate::error::{AppError, AppResult};
use crate::hub::SessionEvent;
use crate::messages::types::MessageDto;
use crate::state::AppState;

/// How many of a room's missed messages a connection catches up with at once.
const CATCH_UP: u64 = 100;

/// Authenticates (`?token=` or `Authorization: Bearer`), reads `?room_id=`, then upgrades;
/// refusals are HTTP answers in the seed's failure shape, before any WebSocket exists.
pub async fn upgrade(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let ws = WebSocketUpgrade::from_request_parts(&mut parts, &state).await;
    let token =
        crate::auth::query_token(&parts.uri).or_else(|| crate::auth::bearer(&parts.headers));
    let me = match token {
        Some(t) => match crate::auth::authenticate(&state, &t).await {
            Ok(me) => me,
            Err(e) => return V1Error(e).into_response(),
        },
        None => {
            let e = AppError::Unauthorized(
                "a token is required: ?token=<jwt> or Authorization: Bearer <jwt>".into(),
            );
            return V1Error(e).into_response();
        }
    };
    let first_room = match room_param(&parts.uri) {
        Ok(r) => r,
        Err(e) => return V1Error(e).into_response(),
    };
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => return rejection.into_response(),
    };
    let span = tracing::info_span!("rooms_ws", account = %me.account_id);
    let max = state.config.max_payload_bytes;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(socket, state, me, first_room).instrument(span))
}

/// `?room_id=`: none, or an integer.
fn room_param(uri: &http::Uri) -> AppResult<Option<i64>> {
    let Some(q) = uri.query() else {
        return Ok(None);
    };
    for kv in q.split('&') {
        if let Some(("room_id", v)) = kv.split_once('=') {
            if v.is_empty() {
                return Ok(None);
            }
            return v
                .parse()
                .map(Some)
                .map_err(|_| AppError::InvalidPayload("room_id must be an integer".into()));
        }
    }
    Ok(None)
}

/// What a room's forwarding task hands the connection.
enum Feed {
    Event(SessionEvent),
    /// The connection fell behind: events were lost.
    Lagged,
}

/// A room this connection joined.
struct Joined {
    session_id: String,
    /// The session's owner (a visitor's message without an author is theirs).
    owner: Option<String>,
    /// The highest `message_id` (`seq`) sent, or the room's last when it was joined.
    seen_seq: i64,
    session_pk: String,
    forward: tokio::task::JoinHandle<()>,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.forward.abort();
    }
}

struct Conn {
    state: AppState,
    socket: WebSocket,
    me: Identity,
    budget: SocketBudget,
    rooms: HashMap<i64, Joined>,
    feed: mpsc::Sender<(i64, Feed)>,
    open: bool,
}

async fn serve(socket: WebSocket, state: AppState, me: Identity, first_room: Option<i64>) {
    crate::metrics::connection_opened("/api/v1/chat/ws");
    let revocation = state.hub.revocable(vec![
        crate::hub::account_room(&me.account_id),
        crate::hub::token_room(&me.jti),
    ]);
    let (feed, mut feed_rx) = mpsc::channel(1024);
    let mut conn = Conn {
        budget: state.limits.socket_budget(),
        state: state.clone(),
        socket,
        me,
        rooms: HashMap::new(),
        feed,
        open: true,
    };
    if let Some(room_id) = first_room {
        if let Err(e) = conn.join(room_id).await {
            conn.send_error(&e).await;
        }
    }

    let ping_every = Duration::from_secs(state.config.ws_ping_interval_secs.max(1));
    let idle_after = Duration::from_secs(state.config.ws_idle_timeout_secs.max(1));
    let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let idle = tokio::time::sleep(idle_after);
    tokio::pin!(idle);

    while conn.open {
        tokio::select! {
            frame = conn.socket.recv() => match frame {
                None => break,
                Some(Err(e)) => {
                    conn.read_failed(&e.to_string()).await;
                    break;
                }
                Some(Ok(msg)) => {
                    idle.as_mut().reset(Instant::now() + idle_after);
                    match msg {
                        Message::Text(text) => conn.on_text(text.as_str()).await,
                        Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                            Ok(text) => conn.on_text(text).await,
                            Err(_) => {
                                let e = AppError::InvalidPayload("frames must be UTF-8 JSON text".into());
                                conn.send_error(&e).await;
                            }
                        },
                        Message::Close(_) => break,
                        Message::Ping(_) | Message::Pong(_) => {}
                    }
                }
            },
            Some((room_id, feed)) = feed_rx.recv() => match feed {
                Feed::Event(ev) => conn.on_room_event(room_id, &ev).await,
                Feed::Lagged => conn.catch_up(room_id).await,
            },
            _ = ping.tick() => {
                if conn.socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            () = revocation.cancelled.cancelled() => {
                conn.close(close_code::POLICY, "access revoked").await;
                break;
            }
            () = &mut idle => {
                conn.close(close_code::AWAY, "idle timeout").await;
                break;
            }
        }
    }
    let joined: Vec<i64> = conn.rooms.keys().copied().collect();
    for room_id in joined {
        conn.part(room_id).await;
    }
    crate::metrics::connection_closed("/api/v1/chat/ws");
}

fn encode<T: Serialize>(frame: &T) -> Option<String> {
    match serde_json::to_string(frame) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!(error = %e, "server frame not encoded");
            None
        }
    }
}

impl Conn {
    async fn send<T: Serialize>(&mut self, frame: &T) {
        let Some(text) = encode(frame) else { return };
        if !self.open {
            return;
        }
        if self.socket.send(Message::Text(text.into())).await.is_err() {
            self.open = false;
        }
    }

    async fn send_error(&mut self, e: &AppError) {
        let frame = Outbound::error(e);
        self.send(&frame).await;
    }

    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = self.socket.send(Message::Close(Some(frame))).await;
        self.open = false;
    }

    /// An oversized message closes with 1009 (as the gateway does); anything else just ends.
    async fn read_failed(&mut self, why: &str) {
        if why.contains("Space limit exceeded") || why.contains("too long") {
            self.close(close_code::SIZE, "message too big").await;
        } else {
            tracing::debug!(error = why, "read failed");
        }
    }

    async fn on_text(&mut self, text: &str) {
        if let Err(e) = self.budget.check() {
            self.send_error(&e).await;
            return;
        }
        let frame: Inbound = match serde_json::from_str(text) {
            Ok(f) => f,
            Err(e) => {
                let e = AppError::InvalidPayload(format!("invalid frame: {e}"));
                self.send_error(&e).await;
                return;
            }
        };
        let result = match frame {
            Inbound::JoinRoom { room_id } => self.join(room_id).await,
            Inbound::LeaveRoom { room_id } => self.leave(room_id).await,
            Inbound::SendMessage { room_id, content } => self.send_message(room_id, content).await,
        };
        if let Err(e) = result {
            self.send_error(&e).await;
        }
    }

    /// `join_room`: the member (or staff, or the session's owner, who become members) hears
    /// the room from now on; every connection in the room hears `user_joined`.
    async fn join(&mut self, room_id: i64) -> AppResult<()> {
        if self.rooms.contains_key(&room_id) {
            return Ok(());
        }
        let r = super::join(&self.state, &self.me, room_id).await?;
        // Subscribe before reading where the room stands: a message stored after that read
        // arrives live; one stored before is not sent (the client reads it over REST).
        let mut sub = self.state.hub.subscribe(&r.session.session_id);
        let last_seq = super::service::session(&self.state.db, &r.session.id)
            .await?
            .map(|s| s.last_seq)
            .unwrap_or(r.session.last_seq);
        let tx = self.feed.clone();
        let forward = tokio::spawn(async move {
            loop {
                let feed = match sub.rx.recv().await {
                    Ok(ev) => Feed::Event(ev),
                    Err(RecvError::Lagged(_)) => Feed::Lagged,
                    Err(RecvError::Closed) => break,
                };
                if tx.send((room_id, feed)).await.is_err() {
                    break;
                }
            }
        });
        let session_id = r.session.session_id.clone();
        self.rooms.insert(
            room_id,
            Joined {
                session_id: session_id.clone(),
                owner: r.session.customer_id.clone(),
                seen_seq: last_seq,
                session_pk: r.session.id.clone(),
                forward,
            },
        );
        self.state.rooms_online.enter(room_id, &self.me.account_id);
        let news = RoomPresence {
            room_id,
            user_uuid: self.me.account_id.clone(),
            membership_ended: false,
        };
        self.state
            .hub
            .to_listeners(&session_id, super::types::JOINED, &news)
            .await;
        Ok(())
    }

    /// `leave_room`: this connection stops hearing the room (the membership stays).
    async fn leave(&mut self, room_id: i64) -> AppResult<()> {
        if !self.rooms.contains_key(&room_id) {
            return Err(AppError::InvalidPayload("You are not in this room".into()));
        }
        self.part(room_id).await;
        Ok(())
    }

    /// Drops a room from this connection and tells the room.
    async fn part(&mut self, room_id: i64) {
        let Some(joined) = self.rooms.remove(&room_id) else {
            return;
        };
        self.state.rooms_online.exit(room_id, &self.me.account_id);
        let news = RoomPresence {
            room_id,
            user_uuid: self.me.account_id.clone(),
            membership_ended: false,
        };
        self.state
            .hub
            .to_listeners(&joined.session_id, super::types::LEFT, &news)
            .await;
    }

    /// `send_message`: stored as the member's message of the room (membership checked again:
    /// a member who left over REST writes no more).
    async fn send_message(&mut self, room_id: i64, content: String) -> AppResult<()> {
        if !self.rooms.contains_key(&room_id) {
            return Err(AppError::Forbidden("You must join the room first".into()));
        }
        let room = super::open(&self.state, &self.me, room_id).await?;
        super::post_message(&self.state, &self.me, &room, content).await?;
        Ok(())
    }

    async fn on_room_event(&mut self, room_id: i64, ev: &SessionEvent) {
        match ev.event {
            "message" => match MessageDto::deserialize(&*ev.data) {
                Ok(dto) => self.room_message(room_id, &dto).await,
                Err(e) => tracing::warn!(error = %e, "room message not understood"),
            },
            super::types::JOINED | super::types::LEFT => {
                if let Ok(news) = RoomPresence::deserialize(&*ev.data) {
                    self.presence(room_id, ev.event, &news).await;
                }
            }
            crate::hub::RESYNC => self.catch_up(room_id).await,
            _ => {}
        }
    }

    async fn presence(&mut self, room_id: i64, event: &str, news: &RoomPresence) {
        if news.room_id != room_id || !self.rooms.contains_key(&room_id) {
            return;
        }
        let data = PresenceData {
            user_uuid: &news.user_uuid,
        };
        let frame = if event == super::types::JOINED {
            Outbound::UserJoined {
                room_id,
                user_uuid: &news.user_uuid,
                data,
            }
        } else {
            Outbound::UserLeft {
                room_id,
                user_uuid: &news.user_uuid,
                data,
            }
        };
        let text = encode(&frame);
        if let Some(text) = text {
            if self.open && self.socket.send(Message::Text(text.into())).await.is_err() {
                self.open = false;
            }
        }
        if news.membership_ended && news.user_uuid == self.me.account_id {
            // The member left the room: this connection hears it no more.
            self.rooms.remove(&room_id);
            self.state.rooms_online.exit(room_id, &self.me.account_id);
        }
    }

    /// A stored message of the room, as `new_message` (once: by `seq`).
    async fn room_message(&mut self, room_id: i64, dto: &MessageDto) {
        let Some(joined) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if dto.seq <= joined.seen_seq {
            return;
        }
        joined.seen_seq = dto.seq;
        let owner = joined.owner.clone();
        let sender = super::sender_of(&dto.sender);
        let author = super::author_of(&self.state, &dto.id, sender, dto.is_ai, owner.as_deref())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "author not read");
                Author::visitor()
            });
        let frame = Outbound::NewMessage {
            room_id,
            user_uuid: &author.user_uuid,
            content: &dto.content,
            timestamp: &dto.created_at,
            message_id: dto.seq,
            data: NewMessageData {
                message_id: dto.seq,
                content: &dto.content,
                user_uuid: &author.user_uuid,
                user_fullname: &author.user_fullname,
                user_email: author.user_email.as_deref(),
                created_at: &dto.created_at,
            },
        };
        let text = encode(&frame);
        if let Some(text) = text {
            if self.open && self.socket.send(Message::Text(text.into())).await.is_err() {
                self.open = false;
            }
        }
    }

    /// Events of the room were lost (this connection fell behind, or its node missed other
    /// nodes' events): the messages stored since the last one sent are sent now.
    async fn catch_up(&mut self, room_id: i64) {
        let Some(joined) = self.rooms.get(&room_id) else {
            return;
        };
        let (pk, session_id, after) = (
            joined.session_pk.clone(),
            joined.session_id.clone(),
            joined.seen_seq,
        );
        match super::service::messages_page(&self.state.db, &pk, after, 0, CATCH_UP).await {
            Ok(rows) => {
                for m in rows {
                    let dto = MessageDto::from_model(m, &session_id);
                    self.room_message(room_id, &dto).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "missed room messages not read"),
        }
    }
}

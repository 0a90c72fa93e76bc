//! One seed-002 connection: a person, in every conversation they take part in. A single task
//! selects over the client's frames, the events of those conversations (each forwarded by a
//! small task from its hub subscription), what is sent to the person (call signalling), a
//! periodic look at which conversations they take part in, the keep-alive and revocation.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::WebSocket;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use super::types::{self, ConversationMessage, Inbound, Outbound, Signal};
use crate::auth::Identity;
use crate::conversation::{self, Outgoing, SessionRef, Viewer};
use crate::edge::limits::SocketBudget;
use crate::error::{AppError, AppResult};
use crate::gateway::wire::{self, Counted, Heard, Keepalive, Wire};
use crate::hub::{SessionEvent, Subscription};
use crate::messages::types::{ClientMsgId, Media, MessageDto, Sender};
use crate::sessions::types::{ReadReceipt, Reader, SessionId, Typing};
use crate::state::AppState;
use entity::chat_session::Model as Session;

/// How often a connection looks again at which conversations its person takes part in (a
/// session assigned to an agent, or opened by a customer elsewhere, is heard from then on).
const REFRESH: Duration = Duration::from_secs(10);
/// The most conversations one connection follows (the newest).
const MOST: u64 = 200;

/// An event of one of the followed conversations, or word that some were lost.
enum Routed {
    Event(Arc<str>, SessionEvent),
    Missed(Arc<str>),
}

/// A conversation the connection follows.
struct Followed {
    pk: String,
    customer: Option<String>,
    /// The highest `seq` given to the client: older messages are not sent twice.
    seen_seq: i64,
    forwarder: AbortHandle,
}

struct Conn {
    state: AppState,
    wire: Wire,
    me: Identity,
    side: Sender,
    budget: SocketBudget,
    followed: HashMap<String, Followed>,
    forwarders: JoinSet<()>,
    events: mpsc::Sender<Routed>,
}

/// Serves one connection whose token was valid.
pub async fn serve(socket: WebSocket, state: AppState, me: Identity) {
    let _counted = Counted::open(&state.stats, "/ws/chat");
    let revocation = state.hub.revocable(vec![
        crate::hub::account_room(&me.account_id),
        crate::hub::token_room(&me.jti),
    ]);
    let mut personal = state.hub.subscribe(&crate::hub::user_key(&me.account_id));
    let (events, mut routed) = mpsc::channel(256);
    let side = if me.is_staff() {
        Sender::Admin
    } else {
        Sender::User
    };
    let mut conn = Conn {
        budget: state.limits.socket_budget(),
        state: state.clone(),
        wire: Wire::new(socket),
        me,
        side,
        followed: HashMap::new(),
        forwarders: JoinSet::new(),
        events,
    };
    // Follow first: whatever is written after `connected` reaches this connection.
    conn.refresh().await;
    let hello = Outbound::Connected {
        user_id: &conn.me.account_id,
    };
    let hello = crate::gateway::wire::encode(&hello);
    conn.wire.send_text(hello).await;

    let mut keep = Keepalive::new(&state.config);
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.reset();
    while conn.wire.open {
        tokio::select! {
            frame = conn.wire.recv() => match conn.wire.hear(frame, &mut keep).await {
                Heard::Text(text) => conn.on_text(&text).await,
                Heard::NotText => {
                    let e = AppError::InvalidPayload("binary messages must be UTF-8 JSON text".into());
                    conn.refuse(&e, None).await;
                }
                Heard::Control => {}
                Heard::Gone => break,
            },
            Some(item) = routed.recv() => match item {
                Routed::Event(id, ev) => conn.on_event(&id, &ev).await,
                Routed::Missed(id) => conn.catch_up(&id).await,
            },
            ev = personal.rx.recv() => match ev {
                Ok(ev) => conn.on_personal(&ev).await,
                Err(RecvError::Lagged(n)) => tracing::warn!(missed = n, "call signalling lost"),
                Err(RecvError::Closed) => break,
            },
            _ = refresh.tick() => conn.refresh().await,
            due = keep.due(&revocation.cancelled) => {
                if !conn.wire.on_due(due).await {
                    break;
                }
            }
        }
    }
}

/// A connection without a valid token: accepted, then closed with 1008 and the reason, as
/// the seed's server does.
pub async fn refuse(socket: WebSocket, reason: &'static str, code: u16) {
    let mut wire = Wire::new(socket);
    wire.close(code, reason).await;
}

/// Forwards one conversation's events to its connection, in order; lost events (the
/// connection fell behind) become one `Missed`.
async fn forward(mut sub: Subscription, id: Arc<str>, to: mpsc::Sender<Routed>) {
    loop {
        let item = match sub.rx.recv().await {
            Ok(ev) => Routed::Event(id.clone(), ev),
            Err(RecvError::Lagged(_)) => Routed::Missed(id.clone()),
            Err(RecvError::Closed) => return,
        };
        if to.send(item).await.is_err() {
            return;
        }
    }
}

impl Conn {
    async fn refuse(&mut self, e: &AppError, event: Option<&str>) {
        self.wire.send(&Outbound::error(e, event)).await;
    }

    fn viewer(&self) -> Viewer {
        match self.side {
            Sender::Admin => Viewer::Staff,
            Sender::User => Viewer::Visitor,
        }
    }

    /// Follows exactly the conversations the person takes part in now.
    async fn refresh(&mut self) {
        let now = match crate::sessions::service::taken_part_in(
            &self.state.db,
            &self.me.account_id,
            MOST,
        )
        .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "conversations not read; following the same ones");
                return;
            }
        };
        let ids: std::collections::HashSet<&str> =
            now.iter().map(|s| s.session_id.as_str()).collect();
        self.followed.retain(|id, f| {
            let keep = ids.contains(id.as_str());
            if !keep {
                f.forwarder.abort();
            }
            keep
        });
        for s in &now {
            self.follow(s);
        }
    }

    /// Starts hearing a conversation's events (from now on).
    fn follow(&mut self, s: &Session) {
        if let Some(f) = self.followed.get_mut(&s.session_id) {
            f.customer.clone_from(&s.customer_id);
            return;
        }
        let sub = self.state.hub.subscribe(&s.session_id);
        let id: Arc<str> = Arc::from(s.session_id.as_str());
        let forwarder = self.forwarders.spawn(forward(sub, id, self.events.clone()));
        self.followed.insert(
            s.session_id.clone(),
            Followed {
                pk: s.id.clone(),
                customer: s.customer_id.clone(),
                seen_seq: s.last_seq,
                forwarder,
            },
        );
    }

    /// The conversation a frame names, if the person takes part in it (followed from now on).
    async fn conversation(&mut self, raw: &str) -> AppResult<SessionRef> {
        let id = SessionId::parse(raw)?.into_inner();
        if let Some(f) = self.followed.get(&id) {
            return Ok(SessionRef {
                pk: f.pk.clone(),
                id,
            });
        }
        let session = crate::sessions::service::find_by_session_id(&self.state.db, &id)
            .await?
            .ok_or(AppError::SessionNotFound)?;
        let member =
            crate::sessions::service::takes_part(&self.state.db, &session.id, &self.me.account_id)
                .await?;
        if !member {
            return Err(AppError::Forbidden(
                "you do not take part in this conversation".into(),
            ));
        }
        self.follow(&session);
        Ok(SessionRef::from(&session))
    }

    async fn on_text(&mut self, text: &str) {
        let frame = match wire::admit(&self.budget, text, types::parse) {
            Ok(f) => f,
            Err(e) => {
                self.refuse(&e, None).await;
                return;
            }
        };
        let event = frame.name();
        if let Err(e) = self.dispatch(frame).await {
            self.refuse(&e, Some(event)).await;
        }
    }

    async fn dispatch(&mut self, frame: Inbound) -> AppResult<()> {
        match frame {
            Inbound::Message {
                conversation_id,
                content,
                message_type,
                file_url,
                attachment_id,
                client_msg_id,
            } => {
                let media = Media::from_json(message_type.as_ref(), file_url.as_ref())?
                    .with_attachment_id(attachment_id.as_ref())?;
                self.message(&conversation_id, content, media, client_msg_id)
                    .await
            }
            Inbound::Typing {
                conversation_id,
                is_typing,
            } => {
                let s = self.conversation(&conversation_id).await?;
                conversation::typing(&self.state, &s.id, self.side, is_typing, None).await;
                Ok(())
            }
            Inbound::Read {
                conversation_id,
                seq,
            } => {
                let s = self.conversation(&conversation_id).await?;
                let seq = match seq {
                    Some(n) => n,
                    None => {
                        crate::desk::service::load(&self.state.db, &s.pk)
                            .await?
                            .last_seq
                    }
                };
                let reader = match self.side {
                    Sender::Admin => Reader::Admin,
                    Sender::User => Reader::User,
                };
                conversation::read(&self.state, &s, reader, seq).await?;
                Ok(())
            }
            Inbound::CallOffer {
                target_user_id,
                offer,
            } => {
                let me = self.me.account_id.clone();
                let signal = Signal::Offer {
                    sender_id: &me,
                    offer: &offer,
                };
                self.signal(&target_user_id, &signal).await
            }
            Inbound::CallAnswer {
                target_user_id,
                answer,
            } => {
                let me = self.me.account_id.clone();
                let signal = Signal::Answer {
                    sender_id: &me,
                    answer: &answer,
                };
                self.signal(&target_user_id, &signal).await
            }
            Inbound::IceCandidate {
                target_user_id,
                candidate,
            } => {
                let me = self.me.account_id.clone();
                let signal = Signal::Candidate {
                    sender_id: &me,
                    candidate: &candidate,
                };
                self.signal(&target_user_id, &signal).await
            }
            Inbound::Ping => {
                self.wire.send(&Outbound::Pong).await;
                Ok(())
            }
        }
    }

    /// `message`: stored in the conversation; every device of every participant (this one
    /// included) hears it through the conversation's room.
    async fn message(
        &mut self,
        conversation_id: &str,
        content: String,
        media: Media,
        client_msg_id: Option<ClientMsgId>,
    ) -> AppResult<()> {
        let draft = conversation::Draft::new(content, media, self.state.config.max_content_length)?;
        let s = self.conversation(conversation_id).await?;
        let (content, media) = conversation::compose(&self.state, &s.pk, self.side, draft).await?;
        let out = match self.side {
            Sender::Admin => Outgoing::staff(s, content, &self.me),
            Sender::User => Outgoing::visitor(s, content),
        }
        .with_client_msg_id(client_msg_id)
        .with_media(media);
        conversation::send(&self.state, out, None).await?;
        Ok(())
    }

    /// Call signalling to every connection of `target`, when the two share a conversation.
    async fn signal(&mut self, target: &str, signal: &Signal<'_>) -> AppResult<()> {
        if target.is_empty() || target == self.me.account_id {
            return Err(AppError::InvalidPayload(
                "targetUserId must name another user".into(),
            ));
        }
        let shared =
            crate::sessions::service::share_a_session(&self.state.db, &self.me.account_id, target)
                .await?;
        if !shared {
            return Err(AppError::Forbidden(
                "you share no conversation with that user".into(),
            ));
        }
        self.state
            .hub
            .to_listeners(&crate::hub::user_key(target), signal.event(), signal)
            .await;
        Ok(())
    }

    /// An event of a followed conversation, translated.
    async fn on_event(&mut self, id: &str, ev: &SessionEvent) {
        match ev.event {
            "message" => match MessageDto::deserialize(&*ev.data) {
                Ok(dto) => self.deliver(id, &dto).await,
                Err(e) => tracing::warn!(error = %e, "room message not understood; not relayed"),
            },
            "typing" => {
                let Ok(t) = Typing::deserialize(&*ev.data) else {
                    return;
                };
                // A side does not hear its own typing.
                if t.sender != self.side {
                    let frame = Outbound::Typing {
                        conversation_id: &t.session_id,
                        is_typing: t.is_typing,
                        sender: t.sender,
                        is_ai: t.is_ai,
                    };
                    self.wire.send(&frame).await;
                }
            }
            "read" => {
                if let Ok(r) = ReadReceipt::deserialize(&*ev.data) {
                    let frame = Outbound::Read {
                        conversation_id: &r.session_id,
                        reader: r.reader,
                        seq: r.seq,
                    };
                    self.wire.send(&frame).await;
                }
            }
            crate::hub::RESYNC => self.catch_up(id).await,
            _ => {}
        }
    }

    /// A message of a followed conversation, unless the client has it already.
    async fn deliver(&mut self, id: &str, dto: &MessageDto) {
        let Some(f) = self.followed.get_mut(id) else {
            return;
        };
        if dto.seq <= f.seen_seq {
            return;
        }
        f.seen_seq = dto.seq;
        let customer = f.customer.clone();
        let frame = Outbound::Message {
            message: ConversationMessage::of(dto, customer.as_deref()),
        };
        self.wire.send(&frame).await;
    }

    /// Events of a conversation were lost: what was stored after the client's last message
    /// is sent now.
    async fn catch_up(&mut self, id: &str) {
        let Some(f) = self.followed.get(id) else {
            return;
        };
        let (pk, after) = (f.pk.clone(), f.seen_seq);
        let session = match crate::desk::service::load(&self.state.db, &pk).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "missed messages not read");
                return;
            }
        };
        match conversation::missed(&self.state, &session, self.viewer(), after, None).await {
            Ok(page) => {
                for dto in page.dtos(id) {
                    self.deliver(id, &dto).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "missed messages not read"),
        }
    }

    /// Something sent to the person: call signalling, passed on as it was written.
    async fn on_personal(&mut self, ev: &SessionEvent) {
        if matches!(ev.event, "call-offer" | "call-answer" | "ice-candidate") {
            let text = crate::gateway::wire::encode(&*ev.data);
            self.wire.send_text(text).await;
        }
    }
}

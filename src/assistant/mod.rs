//! The AI assistant: answers visitors in sessions no human owns (status `open`, no staff
//! reply yet) through any OpenAI-compatible chat-completions endpoint, streamed token by
//! token to the session's room (`stream-start`, `stream-token`, `stream-end`), and hands over
//! to a human when asked, when the model says so (`AI_HANDOFF_MARKER`), or when the endpoint
//! fails (after retries with backoff: the visitor gets `AI_FALLBACK_MESSAGE` and the session
//! goes to the queue).
//!
//! One generation at a time per session: a visitor message that arrives meanwhile is
//! answered after it, with the conversation so far as context. A claim, a staff message or a
//! request for a human cancels the stream; what was generated is stored as an `interrupted`
//! message, and the assistant stays quiet in that session from then on.

pub mod client;
pub mod types;

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::desk::types::EscalationResponse;
use crate::messages::service::NewMessage;
use crate::messages::types::{MessageDto, Sender};
use crate::sessions::types::Typing;
use crate::state::AppState;
use client::{ChatTurn, CompletionError, Endpoint};
use types::{StreamEnd, StreamStart, StreamToken};

/// One reply being generated.
struct Generation {
    message_id: String,
    cancel: CancellationToken,
    tokens: Mutex<Vec<String>>,
}

/// A session's assistant slot: the current generation and whether another reply is owed.
struct Slot {
    generation: Option<Arc<Generation>>,
    again: bool,
}

/// The assistant's settings and live generations.
pub struct Assistant {
    endpoint: Endpoint,
    system_prompt: String,
    context: u64,
    max_retries: u32,
    max_chars: usize,
    marker: String,
    fallback: String,
    permits: Semaphore,
    slots: Mutex<HashMap<String, Slot>>,
    /// Tells the other nodes about a cancel (`cluster::cancel`), when there are any.
    remote_cancel: std::sync::OnceLock<RemoteCancel>,
}

/// Publishes a session's cancel to the other nodes.
pub type RemoteCancel = Box<dyn Fn(&str) + Send + Sync>;

impl Assistant {
    /// The assistant, when `AI_BASE_URL` is set.
    pub fn from_config(c: &Config) -> anyhow::Result<Option<Arc<Assistant>>> {
        let Some(base) = c
            .ai_base_url
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
        else {
            return Ok(None);
        };
        let system_prompt = match c.ai_system_prompt.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("AI_SYSTEM_PROMPT file {path}: {e}"))?,
            None => c.ai_system_prompt.clone(),
        };
        let timeout = Duration::from_secs(c.ai_timeout_secs.max(1));
        let http = reqwest::Client::builder()
            .connect_timeout(timeout)
            .build()?;
        tracing::info!(model = %c.ai_model, "assistant on");
        Ok(Some(Arc::new(Assistant {
            endpoint: Endpoint {
                http,
                url: format!("{}/chat/completions", base.trim_end_matches('/')),
                api_key: c.ai_api_key.clone().filter(|k| !k.is_empty()),
                model: c.ai_model.clone(),
                timeout,
            },
            system_prompt,
            context: c.ai_context_messages.max(1),
            max_retries: c.ai_max_retries,
            max_chars: c.ai_max_reply_chars.max(1),
            marker: c.ai_handoff_marker.clone(),
            fallback: c.ai_fallback_message.clone(),
            permits: Semaphore::new(c.ai_max_concurrency.max(1)),
            slots: Mutex::new(HashMap::new()),
            remote_cancel: std::sync::OnceLock::new(),
        })))
    }

    /// Stops the session's generation (if any) and forgets any reply still owed, on this
    /// node and on the others (the reply may be streaming from the node the visitor is on).
    pub fn cancel(&self, session_pk: &str) {
        self.cancel_local(session_pk);
        if let Some(remote) = self.remote_cancel.get() {
            remote(session_pk);
        }
    }

    /// Sets how cancels reach the other nodes (once).
    pub fn on_cancel(&self, remote: RemoteCancel) {
        let _ = self.remote_cancel.set(remote);
    }

    /// [`Assistant::cancel`] on this node only (what another node's cancel does here).
    pub fn cancel_local(&self, session_pk: &str) {
        if let Ok(mut slots) = self.slots.lock() {
            if let Some(slot) = slots.get_mut(session_pk) {
                slot.again = false;
                if let Some(g) = &slot.generation {
                    g.cancel.cancel();
                }
            }
        }
    }

    /// Sends a socket that just joined the session the reply streamed so far.
    pub fn replay_to<A: Adapter>(&self, s: &SocketRef<A>, session_pk: &str, session_id: &str) {
        let generation = self
            .slots
            .lock()
            .ok()
            .and_then(|m| m.get(session_pk).and_then(|slot| slot.generation.clone()));
        let Some(g) = generation else { return };
        let tokens = g.tokens.lock().map(|t| t.clone()).unwrap_or_default();
        if tokens.is_empty() {
            return;
        }
        let start = StreamStart {
            message_id: Cow::Borrowed(&g.message_id),
            session_id: Cow::Borrowed(session_id),
        };
        let _ = s.emit("stream-start", &start);
        for (index, token) in tokens.iter().enumerate() {
            let token = StreamToken {
                message_id: Cow::Borrowed(&g.message_id),
                session_id: Cow::Borrowed(session_id),
                index,
                token: Cow::Borrowed(token),
            };
            let _ = s.emit("stream-token", &token);
        }
    }
}

/// A visitor wrote in a session: answer it (or queue another answer after the current one).
pub fn visitor_wrote(state: &AppState, session_pk: &str) {
    let Some(ai) = state.assistant.clone() else {
        return;
    };
    {
        let Ok(mut slots) = ai.slots.lock() else {
            return;
        };
        if let Some(slot) = slots.get_mut(session_pk) {
            slot.again = true;
            return;
        }
        slots.insert(
            session_pk.to_string(),
            Slot {
                generation: None,
                again: false,
            },
        );
    }
    let state = state.clone();
    let pk = session_pk.to_string();
    tokio::spawn(async move {
        loop {
            answer(&state, &ai, &pk).await;
            let Ok(mut slots) = ai.slots.lock() else {
                return;
            };
            match slots.get_mut(&pk) {
                Some(slot) if slot.again => {
                    slot.again = false;
                    slot.generation = None;
                }
                _ => {
                    slots.remove(&pk);
                    return;
                }
            }
        }
    });
}

/// Whether the assistant may speak in this session: the session is `open` (nobody asked
/// for or took it over), and its switch allows: off never, on always, automatic (the
/// default) until a human has answered.
fn may_answer(s: &entity::chat_session::Model) -> bool {
    s.status == crate::sessions::types::SessionStatus::Open
        && match s.ai_enabled {
            Some(on) => on,
            None => s.first_response_at.is_none(),
        }
}

/// How a generation ended.
enum Ending {
    Done,
    Cancelled,
    Failed(CompletionError),
}

async fn answer(state: &AppState, ai: &Arc<Assistant>, pk: &str) {
    let Ok(session) = crate::desk::service::load(&state.db, pk).await else {
        return;
    };
    if !may_answer(&session) {
        return;
    }
    let Ok(_permit) = ai.permits.acquire().await else {
        return;
    };
    let generation = Arc::new(Generation {
        message_id: uuid::Uuid::now_v7().to_string(),
        cancel: CancellationToken::new(),
        tokens: Mutex::new(Vec::new()),
    });
    if let Ok(mut slots) = ai.slots.lock() {
        if let Some(slot) = slots.get_mut(pk) {
            slot.generation = Some(generation.clone());
        }
    }
    let sid = session.session_id.clone();
    let turns = match context(state, ai, pk).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "assistant could not read the conversation");
            return;
        }
    };
    typing(state, &sid, true).await;
    let mut ending = Ending::Done;
    for attempt in 0..=ai.max_retries {
        match stream_once(state, ai, &generation, &sid, &turns).await {
            Ok(()) if generation.cancel.is_cancelled() => {
                ending = Ending::Cancelled;
                break;
            }
            Ok(()) => {
                ending = Ending::Done;
                break;
            }
            Err(e) => {
                let started = generation
                    .tokens
                    .lock()
                    .map(|t| !t.is_empty())
                    .unwrap_or(true);
                let wait = e.retry().filter(|_| {
                    !started && attempt < ai.max_retries && !generation.cancel.is_cancelled()
                });
                crate::metrics::ai_stream_error();
                tracing::warn!(error = %e, attempt, "assistant request failed");
                match wait {
                    Some(after) => {
                        let backoff = after
                            .unwrap_or(Duration::from_millis(300 * 2u64.pow(attempt)))
                            .min(Duration::from_secs(10));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = generation.cancel.cancelled() => { ending = Ending::Cancelled; break; }
                        }
                    }
                    None => {
                        ending = Ending::Failed(e);
                        break;
                    }
                }
            }
        }
    }
    finish(state, ai, &session, &generation, ending).await;
}

/// The system prompt and the latest messages of the session.
async fn context(
    state: &AppState,
    ai: &Assistant,
    pk: &str,
) -> crate::error::AppResult<Vec<ChatTurn>> {
    let (rows, _) =
        // The assistant never reads the desk's private notes.
        crate::messages::service::messages_before(
            &state.db,
            pk,
            None,
            ai.context,
            crate::messages::service::Audience::Public,
        )
        .await?;
    let mut turns = vec![ChatTurn {
        role: "system",
        content: ai.system_prompt.clone(),
    }];
    turns.extend(rows.into_iter().map(|m| ChatTurn {
        role: if m.sender == "user" {
            "user"
        } else {
            "assistant"
        },
        content: m.content,
    }));
    Ok(turns)
}

async fn typing(state: &AppState, session_id: &str, on: bool) {
    let payload = Typing {
        is_ai: Some(true),
        ..Typing::by(session_id, Sender::Admin, on)
    };
    state
        .hub
        .to_session(session_id, "typing", &payload, None)
        .await;
}

/// One request: tokens go to the room as they arrive.
async fn stream_once(
    state: &AppState,
    ai: &Assistant,
    g: &Generation,
    sid: &str,
    turns: &[ChatTurn],
) -> Result<(), CompletionError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut chars = g
        .tokens
        .lock()
        .map(|t| t.iter().map(|x| x.chars().count()).sum::<usize>())
        .unwrap_or(0);
    let producer = client::stream_completion(&ai.endpoint, turns, move |token| {
        if g.cancel.is_cancelled() {
            return false;
        }
        let room = ai.max_chars.saturating_sub(chars);
        let token: String = token.chars().take(room).collect();
        chars += token.chars().count();
        if !token.is_empty() {
            let _ = tx.send(token);
        }
        chars < ai.max_chars
    });
    let consumer = async {
        while let Some(token) = rx.recv().await {
            let index = {
                let Ok(mut t) = g.tokens.lock() else { continue };
                t.push(token.clone());
                t.len() - 1
            };
            if index == 0 {
                typing(state, sid, false).await;
                state
                    .hub
                    .to_session(
                        sid,
                        "stream-start",
                        &StreamStart {
                            message_id: Cow::Borrowed(&g.message_id),
                            session_id: Cow::Borrowed(sid),
                        },
                        None,
                    )
                    .await;
            }
            let payload = StreamToken {
                message_id: Cow::Borrowed(&g.message_id),
                session_id: Cow::Borrowed(sid),
                index,
                token: Cow::Owned(token),
            };
            state
                .hub
                .to_session(sid, "stream-token", &payload, None)
                .await;
        }
    };
    let cancelled = g.cancel.cancelled();
    let run = async {
        let (result, ()) = futures::join!(
            producer, // its closure owns the sender: the channel closes when it ends
            consumer
        );
        result
    };
    tokio::select! {
        r = run => r,
        _ = cancelled => Ok(()),
    }
}

/// Stores what was generated and tells the room; hands over to a human when needed.
async fn finish(
    state: &AppState,
    ai: &Assistant,
    session: &entity::chat_session::Model,
    g: &Generation,
    ending: Ending,
) {
    let sid = &session.session_id;
    if let Ending::Failed(e) = &ending {
        tracing::warn!(session = %sid, error = %e, "assistant failed: handing over to a human");
    }
    let text: String = g.tokens.lock().map(|t| t.concat()).unwrap_or_default();
    let started = !text.is_empty();
    typing(state, sid, false).await;
    let (content, interrupted, handoff) = match &ending {
        Ending::Done => {
            let handoff = !ai.marker.is_empty() && text.contains(&ai.marker);
            let clean = if handoff {
                text.replace(&ai.marker, "").trim().to_string()
            } else {
                text.clone()
            };
            (clean, false, handoff)
        }
        Ending::Cancelled | Ending::Failed(_) => (text.clone(), true, false),
    };
    if !content.trim().is_empty() {
        let mut new = NewMessage::new(session.id.clone(), sid.clone(), Sender::Admin, content);
        new.is_ai = true;
        new.id = Some(g.message_id.clone());
        new.interrupted = interrupted;
        match state.writer.store(new, None).await {
            Ok(stored) => end_stream(state, sid, &g.message_id, Some(&stored.message)).await,
            Err(e) => {
                tracing::warn!(error = %e, "assistant reply not stored");
                end_stream(state, sid, &g.message_id, None).await;
            }
        }
    } else if started {
        end_stream(state, sid, &g.message_id, None).await;
    }
    let fail = matches!(ending, Ending::Failed(_)) || (matches!(ending, Ending::Done) && !started);
    if fail {
        let mut fb = NewMessage::new(
            session.id.clone(),
            sid.clone(),
            Sender::Admin,
            ai.fallback.clone(),
        );
        fb.is_ai = true;
        if let Err(e) = state.writer.store(fb, None).await {
            tracing::warn!(error = %e, "fallback message not stored");
        }
    }
    if fail || handoff {
        hand_over(state, &session.id).await;
    }
}

async fn end_stream(state: &AppState, sid: &str, message_id: &str, message: Option<&MessageDto>) {
    let payload = StreamEnd {
        message_id: Cow::Borrowed(message_id),
        session_id: Cow::Borrowed(sid),
        message: message.map(Cow::Borrowed),
    };
    state
        .hub
        .to_session(sid, "stream-end", &payload, None)
        .await;
}

/// The session goes to the queue and the visitor is told a human will come.
async fn hand_over(state: &AppState, pk: &str) {
    let Ok(s) = crate::desk::service::load(&state.db, pk).await else {
        return;
    };
    let sid = s.session_id.clone();
    if let Err(e) = crate::desk::escalate(state, s).await {
        tracing::warn!(error = %e, "assistant could not hand over");
        return;
    }
    state
        .hub
        .to_session(
            &sid,
            "human-escalation-response",
            &EscalationResponse::now(),
            None,
        )
        .await;
}

impl crate::cluster::cancel::Cancellable for Assistant {
    fn on_cancel(&self, remote: RemoteCancel) {
        Assistant::on_cancel(self, remote);
    }
    fn cancel_local(&self, session_pk: &str) {
        Assistant::cancel_local(self, session_pk);
    }
}

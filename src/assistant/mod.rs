//! The AI assistant: answers visitors in sessions no human owns (status `open`, no staff
//! reply yet) through a model, streamed token by token to the session's room (`stream-start`,
//! `stream-token`, `stream-end`), and hands over to a human when asked, when the model says
//! so (`AI_HANDOFF_MARKER`), or when the model fails (after retries with backoff: the visitor
//! gets `AI_FALLBACK_MESSAGE` and the session goes to the queue). The model is an
//! OpenAI-compatible chat-completions endpoint ([`client`]) or seed 001's AI service
//! ([`fastapi`]): one pipeline, the same streaming, cancellation, retries and fallback.
//!
//! Grounding: when the knowledge base has published articles, the prompt carries the
//! passages relevant to the visitor's question (title, link, text; `kb::Knowledge::grounding`)
//! and the reply ends with the articles it cites; when no passage is relevant enough, the
//! model is not asked: the visitor is told so and the session goes to the queue.
//!
//! Without a model (`AI_PROVIDER=none`, the default when none is configured) the assistant
//! answers from the rules and articles instead ([`auto`]). Every automatic message is stored
//! with `is_ai` and its `source` (`llm`, `kb`, `rule`).
//!
//! One generation at a time per session: a visitor message that arrives meanwhile is
//! answered after it, with the conversation so far as context. A claim, a staff message or a
//! request for a human cancels the stream; what was generated is stored as an `interrupted`
//! message, and the assistant stays quiet in that session from then on.

pub mod auto;
pub mod client;
pub mod fastapi;
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
use crate::messages::types::{AiSource, MessageDto, Sender};
use crate::sessions::types::Typing;
use crate::state::AppState;
use client::{ChatTurn, CompletionError, Endpoint};
use types::{StreamEnd, StreamStart, StreamToken};

/// One reply being generated.
struct Generation {
    message_id: String,
    cancel: CancellationToken,
    tokens: Mutex<Vec<String>>,
    /// Held while a token is added and sent to the room, and while a socket joins the room
    /// and is sent the tokens so far ([`Assistant::join_and_replay`]): a socket that joins
    /// mid-stream sees every token once, in order, whichever thread sends the next one.
    emitting: tokio::sync::Mutex<()>,
}

/// A session's assistant slot: the current generation and whether another reply is owed.
struct Slot {
    generation: Option<Arc<Generation>>,
    again: bool,
}

/// Where replies come from.
pub enum Provider {
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi(Endpoint),
    /// Seed 001's AI service.
    FastApi(fastapi::Service),
}

/// The assistant's settings and live generations.
pub struct Assistant {
    /// The model; none: automatic answers from the knowledge base and rules ([`auto`]).
    provider: Option<Provider>,
    system_prompt: String,
    context: u64,
    max_retries: u32,
    max_chars: usize,
    marker: String,
    fallback: String,
    /// What the visitor reads when nothing answers the question (`KB_NO_MATCH_MESSAGE`).
    no_match: String,
    permits: Semaphore,
    slots: Mutex<HashMap<String, Slot>>,
    /// Tells the other nodes about a cancel (`cluster::cancel`), when there are any.
    remote_cancel: std::sync::OnceLock<RemoteCancel>,
}

/// Publishes a session's cancel to the other nodes.
pub type RemoteCancel = Box<dyn Fn(&str) + Send + Sync>;

impl Assistant {
    /// The assistant `AI_PROVIDER` asks for (none with `off`).
    pub fn from_config(c: &Config) -> anyhow::Result<Option<Arc<Assistant>>> {
        let set = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|b| !b.is_empty())
                .map(String::from)
        };
        let (base, fastapi_url) = (set(&c.ai_base_url), set(&c.fastapi_url));
        let chosen = set(&c.ai_provider).map(|p| p.to_ascii_lowercase());
        let kind = match chosen.as_deref() {
            Some(k @ ("openai" | "fastapi" | "none")) => k,
            Some("off") => return Ok(None),
            Some(other) => {
                anyhow::bail!("AI_PROVIDER={other}: expected openai, fastapi, none or off")
            }
            None if base.is_some() => "openai",
            None if fastapi_url.is_some() => "fastapi",
            None => "none",
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
        let provider = match kind {
            "openai" => {
                let base = base.unwrap_or_else(|| "https://api.openai.com/v1".into());
                tracing::info!(model = %c.ai_model, "assistant on: OpenAI-compatible endpoint");
                Some(Provider::OpenAi(Endpoint {
                    http,
                    url: format!("{}/chat/completions", base.trim_end_matches('/')),
                    api_key: c.ai_api_key.clone().filter(|k| !k.is_empty()),
                    model: c.ai_model.clone(),
                    timeout,
                }))
            }
            "fastapi" => {
                let Some(url) = fastapi_url else {
                    anyhow::bail!("AI_PROVIDER=fastapi needs FASTAPI_URL");
                };
                tracing::info!("assistant on: seed 001's AI service");
                Some(Provider::FastApi(fastapi::Service::new(
                    http, &url, timeout,
                )))
            }
            _ => None,
        };
        Ok(Some(Arc::new(Assistant {
            provider,
            system_prompt,
            context: c.ai_context_messages.max(1),
            max_retries: c.ai_max_retries,
            max_chars: c.ai_max_reply_chars.max(1),
            marker: c.ai_handoff_marker.clone(),
            fallback: c.ai_fallback_message.clone(),
            no_match: c.kb_no_match_message.clone(),
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

    /// Whether a model answers (else: automatic answers from the knowledge base and rules).
    pub fn has_model(&self) -> bool {
        self.provider.is_some()
    }

    /// Whether a model answers this session now (it has not handed it over to humans, nor
    /// been switched off for it).
    pub fn model_answers(&self, s: &entity::chat_session::Model) -> bool {
        self.has_model() && may_answer(s)
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

    /// Joins `s` to the session's room (`join`) and, when a reply is streaming, sends it the
    /// reply so far: `stream-start`, then every token with its index. The join and the
    /// replay happen while no token of the reply is being sent, so the socket gets each
    /// token exactly once and in order (live ones after the replay), on a runtime whose
    /// other threads keep streaming meanwhile.
    pub async fn join_and_replay<A: Adapter>(
        &self,
        s: &SocketRef<A>,
        session_pk: &str,
        session_id: &str,
        join: impl FnOnce(),
    ) {
        let generation = self
            .slots
            .lock()
            .ok()
            .and_then(|m| m.get(session_pk).and_then(|slot| slot.generation.clone()));
        let Some(g) = generation else {
            join();
            return;
        };
        let _turn = g.emitting.lock().await;
        join();
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
    if !ai.has_model() && !state.kb.can_answer() {
        return; // no model, no rule, no article: nothing to say
    }
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
/// Whether the assistant may answer this session now: it is open, and the switch is on (or
/// automatic and no human answered yet).
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
    let Some(provider) = &ai.provider else {
        auto::answer(state, ai, &session).await;
        return;
    };
    let Ok(_permit) = ai.permits.acquire().await else {
        return;
    };
    let generation = Arc::new(Generation {
        message_id: uuid::Uuid::now_v7().to_string(),
        cancel: CancellationToken::new(),
        tokens: Mutex::new(Vec::new()),
        emitting: tokio::sync::Mutex::new(()),
    });
    if let Ok(mut slots) = ai.slots.lock() {
        if let Some(slot) = slots.get_mut(pk) {
            slot.generation = Some(generation.clone());
        }
    }
    let sid = session.session_id.clone();
    let prompt = match prompt(state, ai, &session).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "assistant could not read the conversation");
            return;
        }
    };
    if prompt.ungrounded {
        // The desk has articles, and none is relevant enough: say so rather than guess.
        auto::say(state, &session, ai.no_match.clone(), AiSource::Kb).await;
        hand_over(state, &session.id).await;
        return;
    }
    typing(state, &sid, true).await;
    let mut ending = Ending::Done;
    for attempt in 0..=ai.max_retries {
        match stream_once(state, ai, provider, &generation, &sid, &prompt).await {
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
    if matches!(ending, Ending::Done) {
        cite(state, ai, &generation, &sid, &prompt.passages).await;
    }
    finish(state, ai, &session, &generation, ending).await;
}

/// What the model is asked.
struct Prompt {
    /// The system prompt (with the passages) and the latest messages of the session.
    turns: Vec<ChatTurn>,
    /// The visitor's latest message.
    query: String,
    /// The knowledge-base passages the answer should come from.
    passages: Vec<crate::kb::Passage>,
    /// The desk has articles and none is relevant enough to the question.
    ungrounded: bool,
    session_id: String,
    user_id: String,
}

/// The prompt: the system prompt, grounded in the passages relevant to the visitor's latest
/// message when the desk has articles, and the latest messages of the session.
async fn prompt(
    state: &AppState,
    ai: &Assistant,
    session: &entity::chat_session::Model,
) -> crate::error::AppResult<Prompt> {
    let (rows, _) =
        // The assistant never reads the desk's private notes.
        crate::messages::service::messages_before(
            &state.db,
            &session.id,
            None,
            ai.context,
            crate::messages::service::Audience::Public,
        )
        .await?;
    let query = rows
        .iter()
        .rev()
        .find(|m| m.sender == "user")
        .map(|m| m.content.clone())
        .unwrap_or_default();
    // A greeting or small talk has nothing to look up: the model answers it ungrounded.
    let grounded = state.kb.has_articles() && state.kb.is_searchable(&query);
    let passages = if grounded {
        state.kb.grounding(&query)
    } else {
        Vec::new()
    };
    let mut system = ai.system_prompt.clone();
    if !passages.is_empty() {
        system.push_str(&grounding(&passages, &ai.marker));
    }
    let mut turns = vec![ChatTurn {
        role: "system",
        content: system,
    }];
    turns.extend(rows.into_iter().map(|m| ChatTurn {
        role: if m.sender == "user" {
            "user"
        } else {
            "assistant"
        },
        content: m.content,
    }));
    Ok(Prompt {
        turns,
        query,
        ungrounded: grounded && passages.is_empty(),
        passages,
        session_id: session.session_id.clone(),
        user_id: session
            .customer_id
            .clone()
            .unwrap_or_else(|| session.session_id.clone()),
    })
}

/// The part of the system prompt that grounds the answer: the passages, numbered, each with
/// its title and link.
fn grounding(passages: &[crate::kb::Passage], marker: &str) -> String {
    let mut out = String::from(
        "\n\nAnswer only from the help-center articles below. Cite each article you use by its \
         number in brackets, like [1]. If they do not answer the question, say so",
    );
    if marker.is_empty() {
        out.push('.');
    } else {
        out.push_str(&format!(" and answer with {marker}."));
    }
    for (i, p) in passages.iter().enumerate() {
        out.push_str(&format!(
            "\n\n[{}] {} ({})\n{}",
            i + 1,
            p.title,
            p.link,
            p.text
        ));
    }
    out
}

/// The articles a reply cites: those whose `[n]` it contains, else (a reply grounded in the
/// passages that names none) all of them.
fn cited<'a>(
    text: &str,
    passages: &'a [crate::kb::Passage],
) -> Vec<(usize, &'a crate::kb::Passage)> {
    let numbered = passages.iter().enumerate().map(|(i, p)| (i + 1, p));
    let named: Vec<_> = numbered
        .clone()
        .filter(|(n, _)| text.contains(&format!("[{n}]")))
        .collect();
    if named.is_empty() {
        numbered.collect()
    } else {
        named
    }
}

/// Ends a grounded reply with the articles it cites, streamed like the rest of it (what the
/// visitor saw is what is stored). Not after a hand-over.
async fn cite(
    state: &AppState,
    ai: &Assistant,
    g: &Generation,
    sid: &str,
    passages: &[crate::kb::Passage],
) {
    if passages.is_empty() {
        return;
    }
    let text: String = g.tokens.lock().map(|t| t.concat()).unwrap_or_default();
    if text.trim().is_empty() || (!ai.marker.is_empty() && text.contains(&ai.marker)) {
        return;
    }
    let list: Vec<String> = cited(&text, passages)
        .into_iter()
        .map(|(n, p)| format!("[{n}] {}: {}", p.title, p.link))
        .collect();
    let sources = format!("\n\nSources:\n{}", list.join("\n"));
    let index = {
        let Ok(mut t) = g.tokens.lock() else { return };
        t.push(sources.clone());
        t.len() - 1
    };
    emit_token(state, g, sid, index, sources).await;
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
    provider: &Provider,
    g: &Generation,
    sid: &str,
    prompt: &Prompt,
) -> Result<(), CompletionError> {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let mut chars = g
        .tokens
        .lock()
        .map(|t| t.iter().map(|x| x.chars().count()).sum::<usize>())
        .unwrap_or(0);
    let on_token = move |token: &str| {
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
    };
    let producer = async move {
        // the closure owns the sender: the channel closes when the request ends
        match provider {
            Provider::OpenAi(ep) => client::stream_completion(ep, &prompt.turns, on_token).await,
            Provider::FastApi(svc) => {
                let system = prompt.turns.first().map(|t| t.content.as_str());
                let body = fastapi::AiRequest {
                    query: &prompt.query,
                    user_id: &prompt.user_id,
                    session_id: &prompt.session_id,
                    context: fastapi::Context {
                        system: system.unwrap_or(""),
                        messages: prompt.turns.get(1..).unwrap_or(&[]),
                        knowledge: prompt
                            .passages
                            .iter()
                            .map(|p| fastapi::Knowledge {
                                title: &p.title,
                                url: &p.link,
                                text: &p.text,
                            })
                            .collect(),
                    },
                };
                fastapi::stream_answer(svc, &body, on_token).await
            }
        }
    };
    let consumer = async {
        while let Some(token) = rx.recv().await {
            let _turn = g.emitting.lock().await;
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
            emit_token(state, g, sid, index, token).await;
        }
    };
    let cancelled = g.cancel.cancelled();
    let run = async {
        let (result, ()) = futures::join!(producer, consumer);
        result
    };
    tokio::select! {
        r = run => r,
        _ = cancelled => Ok(()),
    }
}

/// Sends the room the reply's token number `index`.
async fn emit_token(state: &AppState, g: &Generation, sid: &str, index: usize, token: String) {
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
        new.source = Some(AiSource::Llm);
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
        fb.source = Some(AiSource::Llm);
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
pub(crate) async fn hand_over(state: &AppState, pk: &str) {
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

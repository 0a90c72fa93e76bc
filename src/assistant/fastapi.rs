//! Seed 001's AI service as the assistant's model (`AI_PROVIDER=fastapi`): `POST
//! {FASTAPI_URL}/api/v1/chat/ai-response` with `{query, user_id, session_id, context}`,
//! answered with server-sent events of `{"choices":[{"delta":{"content":...}}]}` and then
//! `[DONE]`: the OpenAI streaming format, read by the same code
//! ([`super::client::stream_response`]), with the same timeouts, errors and retries.
//!
//! `query` is the visitor's latest message; `context` carries what the OpenAI-compatible
//! provider gets as messages: the system prompt (with the knowledge-base passages, when
//! there are any), the conversation so far, and the passages themselves.

use std::time::Duration;

use serde::Serialize;

use super::client::{stream_response, ChatTurn, CompletionError};

/// The service's settings.
#[derive(Clone)]
pub struct Service {
    pub http: reqwest::Client,
    /// `{FASTAPI_URL}/api/v1/chat/ai-response`.
    pub url: String,
    pub timeout: Duration,
}

impl Service {
    pub fn new(http: reqwest::Client, base: &str, timeout: Duration) -> Self {
        Service {
            http,
            url: format!("{}/api/v1/chat/ai-response", base.trim_end_matches('/')),
            timeout,
        }
    }
}

/// The request body.
#[derive(Debug, Serialize)]
pub struct AiRequest<'a> {
    pub query: &'a str,
    pub user_id: &'a str,
    pub session_id: &'a str,
    pub context: Context<'a>,
}

/// `context`: the system prompt, the conversation (oldest first, the query last), and the
/// knowledge-base passages the answer should come from.
#[derive(Debug, Serialize)]
pub struct Context<'a> {
    pub system: &'a str,
    pub messages: &'a [ChatTurn],
    pub knowledge: Vec<Knowledge<'a>>,
}

/// One passage of `context.knowledge`.
#[derive(Debug, Serialize)]
pub struct Knowledge<'a> {
    pub title: &'a str,
    pub url: &'a str,
    pub text: &'a str,
}

/// Streams one answer; `on_token` as in [`super::client::stream_completion`].
pub async fn stream_answer(
    svc: &Service,
    body: &AiRequest<'_>,
    on_token: impl FnMut(&str) -> bool,
) -> Result<(), CompletionError> {
    let req = svc.http.post(&svc.url).json(body);
    stream_response(req, svc.timeout, on_token).await
}

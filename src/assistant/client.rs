//! The OpenAI-compatible chat-completions client: `POST {base}/chat/completions` with
//! `stream: true`, server-sent events parsed by `eventsource-stream`, tokens handed to a
//! callback as they arrive. Errors say whether a retry may help. The reading of the stream
//! ([`stream_response`]) is shared with seed 001's AI service (`super::fastapi`).

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;

/// One chat message of the request.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChatTurn {
    pub role: &'static str,
    pub content: String,
}

/// The body of a chat-completions request (streamed).
#[derive(Debug, serde::Serialize)]
struct CompletionRequest<'a> {
    model: &'a str,
    messages: &'a [ChatTurn],
    stream: bool,
}

/// Why a completion failed.
#[derive(Debug, thiserror::Error)]
pub enum CompletionError {
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    #[error("endpoint answered HTTP {status}")]
    Http {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("no answer within the timeout")]
    Timeout,
    #[error("malformed stream: {0}")]
    Malformed(String),
    #[error("stream closed before [DONE]")]
    Truncated,
}

impl CompletionError {
    /// Whether trying again may help (and, for 429, how long to wait).
    pub fn retry(&self) -> Option<Option<Duration>> {
        match self {
            CompletionError::Connect(_) | CompletionError::Timeout => Some(None),
            CompletionError::Http {
                status,
                retry_after,
            } if *status == 429 || *status >= 500 => Some(*retry_after),
            _ => None,
        }
    }
}

/// The endpoint settings.
#[derive(Clone)]
pub struct Endpoint {
    pub http: reqwest::Client,
    pub url: String,
    pub api_key: Option<String>,
    pub model: String,
    pub timeout: Duration,
}

/// Streams one completion; `on_token` gets each content delta, and returns `false` to stop
/// early (cancelled, or long enough). Returns normally at `[DONE]` or when stopped.
pub async fn stream_completion(
    ep: &Endpoint,
    messages: &[ChatTurn],
    on_token: impl FnMut(&str) -> bool,
) -> Result<(), CompletionError> {
    let body = CompletionRequest {
        model: &ep.model,
        messages,
        stream: true,
    };
    let mut req = ep.http.post(&ep.url).json(&body);
    if let Some(key) = &ep.api_key {
        req = req.bearer_auth(key);
    }
    stream_response(req, ep.timeout, on_token).await
}

/// Sends `req` and reads its server-sent events of `{"choices":[{"delta":{"content":..}}]}`
/// until `[DONE]` (the OpenAI streaming format, which seed 001's AI service speaks too).
/// `timeout` bounds the wait for the answer and for each event. An event's `data` of
/// several lines is read line by line: a service that writes `data:` lines without the blank
/// line between events sends them as one event.
pub async fn stream_response(
    req: reqwest::RequestBuilder,
    timeout: Duration,
    mut on_token: impl FnMut(&str) -> bool,
) -> Result<(), CompletionError> {
    let resp = match tokio::time::timeout(timeout, req.send()).await {
        Err(_) => return Err(CompletionError::Timeout),
        Ok(Err(e)) if e.is_timeout() => return Err(CompletionError::Timeout),
        Ok(Err(e)) => return Err(CompletionError::Connect(e.without_url().to_string())),
        Ok(Ok(r)) => r,
    };
    if !resp.status().is_success() {
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Err(CompletionError::Http {
            status: resp.status().as_u16(),
            retry_after,
        });
    }
    let mut events = resp.bytes_stream().eventsource();
    loop {
        let next = match tokio::time::timeout(timeout, events.next()).await {
            Err(_) => return Err(CompletionError::Timeout),
            Ok(None) => return Err(CompletionError::Truncated),
            Ok(Some(Err(e))) => return Err(CompletionError::Malformed(e.to_string())),
            Ok(Some(Ok(ev))) => ev,
        };
        for line in next.data.lines() {
            match token_of(line)? {
                Delta::Done => return Ok(()),
                Delta::Token(token) => {
                    if !on_token(&token) {
                        return Ok(());
                    }
                }
                Delta::Nothing => {}
            }
        }
    }
}

/// What one `data` line says.
enum Delta {
    Token(String),
    Done,
    Nothing,
}

fn token_of(line: &str) -> Result<Delta, CompletionError> {
    let data = line.trim();
    if data.is_empty() {
        return Ok(Delta::Nothing);
    }
    if data == "[DONE]" {
        return Ok(Delta::Done);
    }
    let v: Value =
        serde_json::from_str(data).map_err(|e| CompletionError::Malformed(e.to_string()))?;
    if let Some(err) = v.get("error") {
        return Err(CompletionError::Malformed(format!(
            "error event: {}",
            err.get("message")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
        )));
    }
    let choices = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or_else(|| CompletionError::Malformed("no choices".into()))?;
    let delta = choices
        .first()
        .and_then(|c| c.get("delta"))
        .and_then(|d| d.get("content"))
        .and_then(Value::as_str);
    Ok(match delta.filter(|t| !t.is_empty()) {
        Some(t) => Delta::Token(t.to_string()),
        None => Delta::Nothing,
    })
}

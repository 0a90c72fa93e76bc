//! A local server that speaks the real streaming protocol of the assistant's models (chunked
//! server-sent events, tokens split across network writes, `[DONE]`), and variants of it
//! that fail: OpenAI's chat completions and seed 001's AI service alike. Shared by
//! `tests/assistant.rs` and `tests/knowledge_base.rs`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

use super::TestApp;

/// What the fake model does for one request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Streams these tokens (each SSE event split across two writes), then `[DONE]`.
    Reply(Vec<&'static str>),
    /// Streams tokens slowly (one per `gap`), then `[DONE]`.
    Slow(Vec<&'static str>, Duration),
    Status(u16, Option<u64>),
    Stall,
    Malformed,
    /// Some tokens, then the connection closes without `[DONE]`.
    CloseMidStream(Vec<&'static str>),
}

#[derive(Clone, Default)]
pub struct Fake {
    pub script: Arc<Mutex<VecDeque<Behavior>>>,
    pub default: Arc<Mutex<Option<Behavior>>>,
    pub requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Fake {
    pub fn next(&self) -> Behavior {
        self.script
            .lock()
            .ok()
            .and_then(|mut s| s.pop_front())
            .or_else(|| self.default.lock().ok().and_then(|d| d.clone()))
            .unwrap_or(Behavior::Reply(vec!["ok"]))
    }
    /// Every request so far: headers and JSON body.
    pub fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

pub fn chunk(token: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({ "id": "c1", "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": token } }] })
    )
}

pub fn sse(
    parts: Vec<(String, Duration)>,
    end: Option<&'static str>,
    fail_at_end: bool,
) -> Response {
    let stream = futures::stream::unfold(
        (parts.into_iter(), end, fail_at_end, false),
        |(mut it, end, fail, done)| async move {
            if done {
                return None;
            }
            match it.next() {
                Some((text, gap)) => {
                    tokio::time::sleep(gap).await;
                    Some((
                        Ok::<Bytes, std::io::Error>(Bytes::from(text)),
                        (it, end, fail, false),
                    ))
                }
                None if fail => {
                    // let the last bytes reach the client before the connection breaks
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Some((
                        Err(std::io::Error::other("connection reset")),
                        (it, end, fail, true),
                    ))
                }
                None => end.map(|e| (Ok(Bytes::from(e)), (it, end, fail, true))),
            }
        },
    );
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Each event split in two writes, so a token arrives across TCP reads.
pub fn split(tokens: &[&str], gap: Duration) -> Vec<(String, Duration)> {
    let mut out = Vec::new();
    for t in tokens {
        let c = chunk(t);
        let mid = c.len() / 2;
        out.push((c[..mid].to_string(), gap));
        out.push((c[mid..].to_string(), Duration::from_millis(1)));
    }
    out
}

pub async fn completions(
    State(fake): State<Fake>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Infallible> {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = fake.requests.lock() {
        r.push((headers, v));
    }
    Ok(match fake.next() {
        Behavior::Reply(tokens) => sse(
            split(&tokens, Duration::from_millis(2)),
            Some("data: [DONE]\n\n"),
            false,
        ),
        Behavior::Slow(tokens, gap) => sse(split(&tokens, gap), Some("data: [DONE]\n\n"), false),
        Behavior::Status(code, retry) => {
            let mut r = (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "{\"error\":{\"message\":\"nope\"}}",
            )
                .into_response();
            if let Some(s) = retry {
                if let Ok(v) = s.to_string().parse() {
                    r.headers_mut().insert("retry-after", v);
                }
            }
            r
        }
        Behavior::Stall => sse(vec![(String::new(), Duration::from_secs(30))], None, false),
        Behavior::Malformed => sse(
            vec![("data: {not json\n\n".to_string(), Duration::from_millis(2))],
            Some("data: [DONE]\n\n"),
            false,
        ),
        Behavior::CloseMidStream(tokens) => {
            sse(split(&tokens, Duration::from_millis(2)), None, true)
        }
    })
}

/// A fake model server: OpenAI's `POST /v1/chat/completions` and seed 001's AI service's
/// `POST /api/v1/chat/ai-response` (the same stream format), behaving as `default` unless
/// scripted. Returns its root URL.
pub async fn fake_model(default: Behavior) -> (String, Fake) {
    let fake = Fake::default();
    if let Ok(mut d) = fake.default.lock() {
        *d = Some(default);
    }
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .route("/api/v1/chat/ai-response", post(completions))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), fake)
}

/// [`fake_model`] as an OpenAI-compatible base URL (`.../v1`).
pub async fn fake_llm(default: Behavior) -> (String, Fake) {
    let (root, fake) = fake_model(default).await;
    (format!("{root}/v1"), fake)
}

/// Session status as staff see it.
pub async fn status_of(app: &TestApp, sid: &str) -> String {
    let token = app.admin_token().await;
    let chats: Value = app
        .http
        .get(format!("{}/api/chats", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    chats
        .as_array()
        .expect("array")
        .iter()
        .find(|c| c["sessionId"] == sid)
        .map(|c| c["status"].as_str().unwrap_or("").to_string())
        .expect("session listed")
}

/// A failing endpoint: the visitor gets the fallback, nothing half-baked is stored, the
/// session waits for a human.
pub async fn assert_falls_back(app: &TestApp, fake: &Fake, expected_requests: usize) {
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "help" }),
        )
        .await;
    let _own = visitor.next("message").await;
    let fallback = visitor.next("message").await;
    assert_eq!(
        fallback["content"],
        "Our assistant is down; a human will help you."
    );
    assert_eq!(fallback["isAI"], true);
    let esc = visitor.next("human-escalation-response").await;
    assert!(esc["message"].is_string() && esc["timestamp"].is_string());
    let st = visitor.next("session_status").await;
    assert_eq!(st["status"], "waiting");
    assert_eq!(status_of(app, &sid).await, "waiting");
    let history = app.history(&sid).await;
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(fake.requests().len(), expected_requests, "retries");
    // the assistant stays quiet now: a new visitor message gets no AI reply
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello?" }),
        )
        .await;
    assert!(visitor
        .next_within("stream-start", Duration::from_millis(500))
        .await
        .is_none());
    assert_eq!(fake.requests().len(), expected_requests);
}

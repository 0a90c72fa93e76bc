//! The plain-WebSocket gateway (`/ws`) with a real WebSocket client (tokio-tungstenite),
//! replaying the documented client flows of shared/seeds/001 (chatbot server: `chat`, token
//! streaming, `human-escalation`, `ping`) and shared/seeds/000 (AI chatbot: history on
//! connect, `message`, `typing`, `get_history`, `clear_history`), the refusals, malformed
//! input, limits, keep-alive, and a plain-WebSocket customer talking with a socket.io agent.
//! The assistant runs against a local server that speaks the OpenAI streaming protocol.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use common::ws::Ws;
use common::{Backend, TestApp};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://127.0.0.1:{}/ws{query}", app.port)
}

/// The seed 001 README's account: registered, then logged in with its literal curl body.
async fn seed_user_token(app: &TestApp) -> String {
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "username": "testuser", "password": "password123" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app
        .post(
            "/api/auth/login",
            None,
            serde_json::from_str(r#"{"username": "testuser", "password": "password123"}"#)
                .expect("json"),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    v["token"].as_str().expect("token").to_string()
}

/// A customer account's token.
async fn customer_token(app: &TestApp, email: &str) -> String {
    app.register(email, "customer-password").await
}

// ---------------------------------------------------------------------------------------
// A local OpenAI-compatible endpoint (chunked server-sent events, then `[DONE]`).

#[derive(Clone, Default)]
struct FakeModel {
    reply: Arc<Vec<&'static str>>,
    requests: Arc<Mutex<Vec<Value>>>,
}

async fn completions(State(fake): State<FakeModel>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Ok(mut r) = fake.requests.lock() {
        r.push(v);
    }
    let mut parts: Vec<String> = fake
        .reply
        .iter()
        .map(|t| {
            format!(
                "data: {}\n\n",
                json!({ "object": "chat.completion.chunk", "choices": [{ "index": 0, "delta": { "content": t } }] })
            )
        })
        .collect();
    parts.push("data: [DONE]\n\n".into());
    let stream = futures::stream::iter(parts).then(|p| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<Bytes, std::io::Error>(Bytes::from(p))
    });
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn fake_model(reply: Vec<&'static str>) -> (String, FakeModel) {
    let fake = FakeModel {
        reply: Arc::new(reply),
        ..Default::default()
    };
    let app = Router::new()
        .route("/v1/chat/completions", post(completions))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/v1"), fake)
}

async fn desk_with_ai(backend: Backend, base: &str) -> TestApp {
    let base = base.to_string();
    common::spawn_app_with(backend, move |c| {
        c.ai_base_url = Some(base);
        c.ai_timeout_secs = 5;
    })
    .await
}

/// Session status as staff see it.
/// A session's stored messages, read over REST as staff (a customer's session is not
/// readable by its id alone).
async fn stored_messages(app: &TestApp, session_id: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    app.history_as(session_id, &admin).await
}

async fn status_of(app: &TestApp, session_id: &str) -> String {
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
        .find(|c| c["sessionId"] == session_id)
        .and_then(|c| c["status"].as_str())
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Seed 001: the chatbot server.

async fn seed_001_chat_streams_the_assistant_reply_token_by_token(backend: Backend) {
    let (base, fake) = fake_model(vec!["Hel", "lo", "! How", " can I", " help?"]).await;
    let app = desk_with_ai(backend, &base).await;
    let token = seed_user_token(&app).await;

    // const ws = new WebSocket(`ws://localhost:3001/ws?token=${token}`);
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let session_id = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    // ws.onopen: ws.send(JSON.stringify({ type: 'chat', content: 'Hello, how are you?' }))
    ws.send(json!({ "type": "chat", "content": "Hello, how are you?" }))
        .await;
    // ws.onmessage: stream-token -> process.stdout.write(message.token); stream-end -> done
    let mut printed = String::new();
    let mut started: Option<String> = None;
    loop {
        let m = ws.next_any().await;
        match m["type"].as_str() {
            Some("stream-start") => started = m["messageId"].as_str().map(String::from),
            Some("stream-token") => {
                assert!(started.is_some(), "token before stream-start");
                assert_eq!(m["messageId"].as_str(), started.as_deref());
                printed.push_str(m["token"].as_str().expect("token"));
            }
            Some("stream-end") => {
                assert_eq!(m["messageId"].as_str(), started.as_deref());
                assert_eq!(m["content"], "Hello! How can I help?");
                break;
            }
            Some("sent") => assert_eq!(m["seq"], 1),
            Some("message") => {
                assert_eq!(m["sender"], "bot");
                assert_eq!(m["isAI"], true);
                assert_eq!(m["seq"], 2);
            }
            _ => {}
        }
    }
    assert_eq!(printed, "Hello! How can I help?");

    // stored like any socket.io message, with a gap-free seq
    let history = stored_messages(&app, &session_id).await;
    let stored: Vec<(i64, &str, &str)> = history
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap_or(0),
                m["sender"].as_str().unwrap_or(""),
                m["content"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        stored,
        vec![
            (1, "user", "Hello, how are you?"),
            (2, "admin", "Hello! How can I help?")
        ]
    );
    let requests = fake.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(
        requests[0]["messages"][1],
        json!({ "role": "user", "content": "Hello, how are you?" })
    );

    // { "type": "ping" }
    ws.send(json!({ "type": "ping" })).await;
    ws.next("pong").await;
}
both!(
    seed_001_streaming,
    seed_001_chat_streams_the_assistant_reply_token_by_token
);

async fn seed_001_human_escalation_puts_the_session_in_the_queue(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = seed_user_token(&app).await;
    // "Or in Authorization header during connection."
    let bearer = format!("Bearer {token}");
    let mut ws = Ws::try_connect(&ws_url(&app, ""), &[("authorization", &bearer)])
        .await
        .expect("connects with the Authorization header");
    let session_id = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    ws.send(
        serde_json::from_str(
            r#"{"type": "human-escalation", "message": "I need to speak with a human agent"}"#,
        )
        .expect("json"),
    )
    .await;
    let reply = ws.next("human-escalation-response").await;
    assert_eq!(reply["message"], "A human agent will contact you soon.");
    assert_eq!(reply["status"], "waiting");
    assert_eq!(reply["position"], 1);
    let status = ws.next("session_status").await;
    assert_eq!(status["status"], "waiting");
    assert_eq!(status_of(&app, &session_id).await, "waiting");
    let history = stored_messages(&app, &session_id).await;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0]["content"], "I need to speak with a human agent");
    assert_eq!(history[0]["sender"], "user");
}
both!(
    seed_001_escalation,
    seed_001_human_escalation_puts_the_session_in_the_queue
);

// ---------------------------------------------------------------------------------------
// Seed 000: the AI chatbot.

async fn seed_000_history_message_typing_get_and_clear(backend: Backend) {
    let (base, _fake) = fake_model(vec!["Xin chào!", " Tôi có thể", " giúp gì cho bạn?"]).await;
    let app = desk_with_ai(backend, &base).await;
    let token = customer_token(&app, "lan@example.com").await;
    let url = ws_url(&app, &format!("?token={token}"));

    // on connect: { type: "history", messages: history }
    let mut ws = Ws::connect(&url).await;
    let first = ws.next("history").await;
    assert_eq!(first["messages"], json!([]));

    // { type: "message", message } -> typing { isTyping: true } -> message { id, message, timestamp }
    ws.send(json!({ "type": "message", "message": "xin chào" }))
        .await;
    let typing = ws.next("typing").await;
    assert_eq!(typing["isTyping"], true);
    let reply = ws.next("message").await;
    assert_eq!(reply["message"], "Xin chào! Tôi có thể giúp gì cho bạn?");
    assert!(reply["id"].is_string());
    assert_eq!(reply["sender"], "bot");

    // get_history -> { type: "history", messages: [{ id, text, sender, timestamp }] }
    ws.send(json!({ "type": "get_history" })).await;
    let history = ws.next("history").await;
    let items: Vec<(&str, &str)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            assert!(m["id"].is_string() && m["timestamp"].is_string(), "{m}");
            (
                m["text"].as_str().unwrap_or(""),
                m["sender"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        items,
        vec![
            ("xin chào", "user"),
            ("Xin chào! Tôi có thể giúp gì cho bạn?", "bot")
        ]
    );

    // the session follows the account: a second device gets the same history on connect
    let mut other = Ws::connect(&url).await;
    let hello = other.next("session").await;
    assert_eq!(hello["resumed"], true);
    assert_eq!(other.next("history").await["messages"], history["messages"]);

    // clear_history -> { type: "history", messages: [] }, for the other device too
    ws.send(json!({ "type": "clear_history" })).await;
    assert_eq!(ws.next("history").await["messages"], json!([]));
    assert_eq!(other.next("history").await["messages"], json!([]));
    ws.send(json!({ "type": "get_history" })).await;
    assert_eq!(ws.next("history").await["messages"], json!([]));
    assert!(
        ws.next_within("history", Duration::from_millis(300))
            .await
            .is_none(),
        "the clear was answered twice"
    );

    // { type: "ping" } -> { type: "pong" }
    ws.send(json!({ "type": "ping" })).await;
    ws.next("pong").await;
}
both!(seed_000_flow, seed_000_history_message_typing_get_and_clear);

// ---------------------------------------------------------------------------------------
// Who may connect.

async fn connections_without_or_with_a_bad_token_are_refused_with_401(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let refused = Ws::try_connect(&ws_url(&app, ""), &[])
        .await
        .err()
        .expect("refused without a token");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["error"]["code"], "unauthorized");
    for bad in [
        "?token=not.a.jwt",
        "?token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let refused = Ws::try_connect(&ws_url(&app, bad), &[])
            .await
            .err()
            .expect("refused with a bad token");
        assert_eq!(refused.status, 401, "{bad}");
        assert_eq!(refused.body["error"]["code"], "unauthorized");
    }
    let refused = Ws::try_connect(&ws_url(&app, ""), &[("authorization", "Bearer forged")])
        .await
        .err()
        .expect("refused with a bad bearer");
    assert_eq!(refused.status, 401);
    // a logged-out token is revoked
    let token = customer_token(&app, "gone@example.com").await;
    let r = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert!(r.status().is_success());
    let refused = Ws::try_connect(&ws_url(&app, &format!("?token={token}")), &[])
        .await
        .err()
        .expect("refused with a revoked token");
    assert_eq!(refused.status, 401);
    // a plain GET without the upgrade, but with a token, is not a WebSocket
    let customer = customer_token(&app, "plain@example.com").await;
    let r = app.get(&format!("/ws?token={customer}")).await;
    assert!(r.status().is_client_error(), "{}", r.status());
}
both!(
    refusals,
    connections_without_or_with_a_bad_token_are_refused_with_401
);

async fn anonymous_visitors_when_allowed_get_and_resume_their_own_session(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.ws_allow_anonymous = true).await;
    // an invalid token is still refused
    let refused = Ws::try_connect(&ws_url(&app, "?token=forged"), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);

    let mut ws = Ws::connect(&ws_url(&app, "")).await;
    let hello = ws.next("session").await;
    assert_eq!(hello["resumed"], false);
    let sid = hello["sessionId"].as_str().expect("sessionId").to_string();
    ws.send(json!({ "type": "chat", "content": "hi" })).await;
    assert_eq!(ws.next("sent").await["seq"], 1);

    // `?sessionId=` resumes it, with its history
    let mut again = Ws::connect(&ws_url(&app, &format!("?sessionId={sid}"))).await;
    let hello = again.next("session").await;
    assert_eq!(hello["sessionId"], sid.as_str());
    assert_eq!(hello["resumed"], true);
    let history = again.next("history").await;
    assert_eq!(history["messages"][0]["text"], "hi");

    // a socket.io widget in the same session: each side sees the other's messages
    let widget = app.socket().await;
    let ack = widget
        .ack("init_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(ack["sessionId"], sid.as_str());
    let sent = widget
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "from the widget" }),
        )
        .await;
    assert_eq!(sent["ok"], true);
    assert_eq!(widget.next("message").await["seq"], 2); // its own (ECHO_TO_SENDER)
    let echoed = ws.next("user_message").await;
    assert_eq!(echoed["message"], "from the widget");
    assert_eq!(echoed["seq"], 2);
    ws.send(json!({ "type": "chat", "content": "from the plain socket" }))
        .await;
    let m = widget.next("message").await;
    assert_eq!(m["content"], "from the plain socket");
    assert_eq!(m["seq"], 3);

    // a customer's session is never resumed by someone else
    let token = customer_token(&app, "owner@example.com").await;
    let mut owner = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let owned = owner.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let mut intruder = Ws::connect(&ws_url(&app, &format!("?sessionId={owned}"))).await;
    let hello = intruder.next("session").await;
    assert_ne!(hello["sessionId"], owned.as_str());
    assert_eq!(hello["resumed"], false);
}
both!(
    anonymous,
    anonymous_visitors_when_allowed_get_and_resume_their_own_session
);

// ---------------------------------------------------------------------------------------
// Malformed input and limits.

async fn every_malformed_message_is_answered_with_error(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.max_content_length = 20).await;
    let token = customer_token(&app, "typo@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let cases: Vec<(&str, &str, Option<&str>)> = vec![
        ("not json at all", "invalid_payload", None),
        ("[\"chat\", \"hi\"]", "invalid_payload", None),
        ("\"chat\"", "invalid_payload", None),
        (r#"{"content": "no type"}"#, "invalid_payload", None),
        (r#"{"type": 42}"#, "invalid_payload", None),
        (r#"{"type": "dance"}"#, "invalid_payload", Some("dance")),
        (r#"{"type": "chat"}"#, "invalid_payload", Some("chat")),
        (
            r#"{"type": "chat", "content": 12}"#,
            "invalid_payload",
            Some("chat"),
        ),
        (
            r#"{"type": "chat", "content": "   "}"#,
            "invalid_payload",
            Some("chat"),
        ),
        (
            r#"{"type": "chat", "content": "this is longer than twenty"}"#,
            "content_too_long",
            Some("chat"),
        ),
        (
            r#"{"type": "message", "message": null}"#,
            "invalid_payload",
            Some("message"),
        ),
        (
            r#"{"type": "chat", "content": "hi", "clientMsgId": {"a": 1}}"#,
            "invalid_payload",
            Some("chat"),
        ),
        (
            r#"{"type": "human-escalation", "message": ["help"]}"#,
            "invalid_payload",
            Some("human-escalation"),
        ),
        (
            r#"{"type": "typing", "isTyping": "yes"}"#,
            "invalid_payload",
            Some("typing"),
        ),
        (
            r#"{"type": "get_history", "limit": -1}"#,
            "invalid_payload",
            Some("get_history"),
        ),
    ];
    for (input, code, event) in cases {
        ws.send_text(input).await;
        let e = ws.next("error").await;
        assert_eq!(e["code"], code, "{input} -> {e}");
        assert!(e["message"].is_string(), "{e}");
        assert_eq!(e["error"], e["message"], "seed 000 reads `error`");
        assert_eq!(e["event"].as_str(), event, "{input} -> {e}");
    }
    ws.send_binary(vec![0xff, 0xfe, 0x00]).await;
    assert_eq!(ws.next("error").await["code"], "invalid_payload");
    // still connected, and nothing was stored
    ws.send(json!({ "type": "ping" })).await;
    ws.next("pong").await;
    assert!(stored_messages(&app, &sid).await.is_empty());
}
both!(malformed, every_malformed_message_is_answered_with_error);

async fn too_many_messages_are_refused_with_rate_limited(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.socket_events_per_sec = 1;
        c.socket_events_burst = 3;
    })
    .await;
    let token = customer_token(&app, "fast@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    ws.next("history").await;
    ws.inbox.clear();
    for _ in 0..8 {
        ws.send(json!({ "type": "ping" })).await;
    }
    let mut pongs = 0;
    let mut refusals = Vec::new();
    for _ in 0..8 {
        let m = ws.next_any().await;
        match m["type"].as_str() {
            Some("pong") => pongs += 1,
            Some("error") => refusals.push(m),
            _ => {}
        }
    }
    assert!((3..8).contains(&pongs), "{pongs} pongs");
    let e = refusals.first().expect("a refusal");
    assert_eq!(e["code"], "rate_limited");
    assert!(e["retryAfterMs"].as_u64().is_some_and(|ms| ms > 0), "{e}");
}
both!(rate_limit, too_many_messages_are_refused_with_rate_limited);

async fn an_oversized_message_closes_only_that_connection(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.max_payload_bytes = 4096).await;
    let token = customer_token(&app, "big@example.com").await;
    let url = ws_url(&app, &format!("?token={token}"));
    let mut big = Ws::connect(&url).await;
    let mut small = Ws::connect(&url).await;
    big.next("history").await;
    let huge = json!({ "type": "chat", "content": "x".repeat(16 * 1024) });
    big.send(huge).await;
    let frame = big.closed().await;
    assert_eq!(frame.map(|f| u16::from(f.code)), Some(1009));
    small.send(json!({ "type": "ping" })).await;
    small.next("pong").await;
}
both!(oversized, an_oversized_message_closes_only_that_connection);

/// Reads a server's raw WebSocket frames (unmasked) and returns their opcodes until EOF.
async fn raw_opcodes_until_eof(stream: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut buf = Vec::new();
    let read_all = async {
        let mut chunk = [0u8; 4096];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read_all)
        .await
        .expect("the server closed the dead connection");
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP response")
        + 4;
    assert!(buf.starts_with(b"HTTP/1.1 101"), "upgrade refused");
    let mut ops = Vec::new();
    let mut i = head_end;
    while i + 2 <= buf.len() {
        ops.push(buf[i] & 0x0f);
        let (len, hdr) = match buf[i + 1] & 0x7f {
            126 if i + 4 <= buf.len() => (u16::from_be_bytes([buf[i + 2], buf[i + 3]]) as usize, 4),
            127 => break,
            n => (n as usize, 2),
        };
        i += hdr + len;
    }
    ops
}

async fn keep_alive_pings_and_dead_peers_are_dropped(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.ws_ping_interval_secs = 1;
        c.ws_idle_timeout_secs = 2;
    })
    .await;
    let token = customer_token(&app, "sleepy@example.com").await;

    // a live client answers the pings (tungstenite does) and outlives the idle timeout
    let mut live = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    live.next("history").await;
    let mut pings = 0;
    while pings < 4 {
        // more pings than the idle timeout has seconds: the connection outlived it
        match tokio::time::timeout(WAIT, live.ws.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Text(_)))) => {}
            other => panic!("a live client was dropped: {other:?}"),
        }
    }
    live.send(json!({ "type": "ping" })).await;
    live.next("pong").await;

    // a peer that never answers gets pings, then a close, then the end of the connection
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("tcp");
    let handshake = format!(
        "GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n\r\n",
        app.port
    );
    tcp.write_all(handshake.as_bytes()).await.expect("write");
    let ops = raw_opcodes_until_eof(&mut tcp).await;
    assert!(ops.contains(&0x9), "no ping frame: {ops:?}");
    assert_eq!(ops.last(), Some(&0x8), "no close frame: {ops:?}");
}
both!(keepalive, keep_alive_pings_and_dead_peers_are_dropped);

// ---------------------------------------------------------------------------------------
// Order: what one plain-WebSocket connection sends is stored and delivered in that order.

async fn a_burst_over_the_plain_websocket_keeps_its_order(backend: Backend) {
    const BURST: usize = 200;
    let app = common::spawn_app_with(backend, |c| c.socket_events_burst = 2 * BURST as u32).await;
    let admin = app.admin_token().await;
    let agent = app.socket_as("/admin", &admin).await;
    let token = customer_token(&app, "burst@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    agent.ack("join_session", json!({ "sessionId": sid })).await;

    for n in 0..BURST {
        ws.send(json!({ "type": "chat", "content": format!("line {n:04}") }))
            .await;
    }
    for n in 0..BURST {
        let m = agent.next("message").await;
        assert_eq!(m["content"], format!("line {n:04}"), "arrival #{n}");
        assert_eq!(m["seq"], n as i64 + 1);
    }
    for n in 0..BURST {
        let sent = ws.next("sent").await;
        assert_eq!(sent["seq"], n as i64 + 1, "answer #{n}");
    }
    let stored = stored_messages(&app, &sid).await;
    assert_eq!(stored.len(), BURST);
    for (n, m) in stored.iter().enumerate() {
        assert_eq!(m["content"], format!("line {n:04}"), "stored #{n}");
    }
}
both!(
    plain_websocket_burst_order,
    a_burst_over_the_plain_websocket_keeps_its_order
);

// One session model: a plain-WebSocket customer, a socket.io agent and a socket.io tab.

async fn a_plain_websocket_customer_and_a_socketio_agent_talk_both_ways(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.socket_as("/admin", &admin).await;
    let token = customer_token(&app, "mixed@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let created = agent.next("session_created").await;
    assert_eq!(created["sessionId"], sid.as_str());
    agent.ack("join_session", json!({ "sessionId": sid })).await;

    // plain WebSocket -> agent
    ws.send(json!({ "type": "chat", "content": "Where is my order?" }))
        .await;
    let sent = ws.next("sent").await;
    let m = agent.next("message").await;
    assert_eq!(m["content"], "Where is my order?");
    assert_eq!(m["sender"], "user");
    assert_eq!(m["seq"], 1);
    assert_eq!(m["id"], sent["id"]);

    // agent -> plain WebSocket
    let ack = agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "Let me check." }),
        )
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(agent.next("message").await["seq"], 2); // its own (ECHO_TO_SENDER)
    let reply = ws.next("message").await;
    assert_eq!(reply["message"], "Let me check.");
    assert_eq!(reply["sender"], "agent");
    assert_eq!(reply["isAI"], false);
    assert_eq!(reply["seq"], 2);

    // typing, both ways
    agent
        .ack("typing", json!({ "sessionId": sid, "isTyping": true }))
        .await;
    let typing = ws.next("typing").await;
    assert_eq!(
        (typing["isTyping"].clone(), typing["sender"].clone()),
        (json!(true), json!("agent"))
    );
    ws.send(json!({ "type": "typing", "isTyping": true })).await;
    let typing = agent.next("typing").await;
    assert_eq!(typing["sender"], "user");
    assert_eq!(typing["isTyping"], true);

    // the customer's socket.io tab is in the same session
    let tab = app.socket_as("/", &token).await;
    let init = tab.ack("init_session", json!({})).await;
    assert_eq!(init["sessionId"], sid.as_str());
    tab.ack(
        "user_message",
        json!({ "sessionId": sid, "content": "from my phone" }),
    )
    .await;
    assert_eq!(tab.next("message").await["seq"], 3); // its own (ECHO_TO_SENDER)
    let other = ws.next("user_message").await;
    assert_eq!(other["message"], "from my phone");
    assert_eq!(other["seq"], 3);
    assert_eq!(agent.next("message").await["seq"], 3);
    ws.send(json!({ "type": "chat", "content": "and from the laptop", "clientMsgId": "c-1" }))
        .await;
    assert_eq!(tab.next("message").await["seq"], 4);
    assert_eq!(agent.next("message").await["seq"], 4);
    // a retry with the same clientMsgId stores nothing new
    let first = ws.next("sent").await;
    ws.send(json!({ "type": "chat", "content": "and from the laptop", "clientMsgId": "c-1" }))
        .await;
    let retry = ws.next("sent").await;
    assert_eq!(retry["duplicate"], true);
    assert_eq!(retry["id"], first["id"]);

    // the agent claims: the customer hears it
    agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    let status = ws.next("session_status").await;
    assert_eq!(status["status"], "assigned");

    let seqs: Vec<i64> = stored_messages(&app, &sid)
        .await
        .iter()
        .filter_map(|m| m["seq"].as_i64())
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4]);
    assert!(
        ws.next_within("message", Duration::from_millis(300))
            .await
            .is_none(),
        "the customer's own messages came back as replies"
    );
}
both!(
    mixed,
    a_plain_websocket_customer_and_a_socketio_agent_talk_both_ways
);

// Several nodes: a plain-WebSocket customer on node A, a socket.io agent on node B (one
// PostgreSQL database, one Redis). The gateway listens to its node's hub; room events
// emitted on B reach it through the Redis relay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_websocket_customer_on_one_node_hears_an_agent_on_another() {
    let (a, b) = common::two_nodes(|_| {}).await;
    let admin = b.admin_token().await;
    let agent = b.socket_as("/admin", &admin).await;
    let token = customer_token(&a, "far@example.com").await;
    let mut ws = Ws::connect(&ws_url(&a, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    assert_eq!(
        agent.next("session_created").await["sessionId"],
        sid.as_str()
    );
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    ws.send(json!({ "type": "chat", "content": "hello from A" }))
        .await;
    ws.next("sent").await;
    assert_eq!(agent.next("message").await["content"], "hello from A");

    let ack = agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "hello from B" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let reply = ws.next("message").await;
    assert_eq!(reply["message"], "hello from B");
    assert_eq!(reply["seq"], 2);
    agent
        .ack("typing", json!({ "sessionId": sid, "isTyping": true }))
        .await;
    assert_eq!(ws.next("typing").await["isTyping"], true);
    agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(ws.next("session_status").await["status"], "assigned");
    assert!(
        ws.next_within("message", Duration::from_millis(300))
            .await
            .is_none(),
        "a room event arrived twice"
    );
}

// The relay's subscription is opened again when Redis returns: a plain-WebSocket customer on
// node A hears the agent on node B again (a private Redis, stopped and started).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_outage_a_plain_websocket_customer_hears_an_agent_on_another_node_again() {
    let port = common::free_port();
    let mut redis = common::OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let (a, b) = common::two_nodes(move |c| c.redis_url = Some(url.clone())).await;
    let admin = b.admin_token().await;
    let agent = b.socket_as("/admin", &admin).await;
    let token = customer_token(&a, "outage@example.com").await;
    let mut ws = Ws::connect(&ws_url(&a, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    // The greeting's history is read after the `session` frame: a message written before
    // that read is in it (and, by `seq`, not sent again live). Wait for it, so that "before"
    // can only come live.
    ws.next("history").await;
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "before" }),
        )
        .await;
    assert_eq!(ws.next("message").await["message"], "before");

    redis.stop();
    // written while node A cannot hear node B: stored, not relayed
    let during = agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "during" }),
        )
        .await;
    assert_eq!(during["ok"], true, "{during}");
    assert!(
        ws.next_within("message", Duration::from_millis(500))
            .await
            .is_none(),
        "relayed without Redis?"
    );
    let _redis = common::OwnRedis::start(port);
    // once A's relay is back, the customer catches up on what it missed, unasked
    let missed = ws
        .next_within("message", Duration::from_secs(15))
        .await
        .expect("the message written during the outage never reached the customer");
    assert_eq!(missed["message"], "during", "{missed}");
    // The agent writes until the customer hears it: the relay is back within a few seconds.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut heard = None;
    for i in 0.. {
        if tokio::time::Instant::now() > deadline {
            break;
        }
        let content = format!("after {i}");
        agent
            .ack(
                "admin_message",
                json!({ "sessionId": sid, "content": content }),
            )
            .await;
        if let Some(m) = ws.next_within("message", Duration::from_millis(500)).await {
            heard = Some(m);
            break;
        }
    }
    let heard = heard.expect("no message from node B after Redis returned");
    assert!(
        heard["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("after ")),
        "{heard}"
    );
}

/// The seeds' clients connect where their own servers listened: seed 001 at `/ws`, seed 000
/// at the server root (its `WebSocket.Server` has no path), both in this dialect; `/ws/chat`
/// is seed 002's own dialect now (tests/seed002.rs), and keeps this one with
/// `?dialect=session`. A plain `GET /` is still not found.
async fn the_seed_paths_reach_the_gateway(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = customer_token(&app, "paths@example.com").await;
    let mut chat = Ws::connect(&format!(
        "ws://127.0.0.1:{}/ws/chat?dialect=session&token={token}",
        app.port
    ))
    .await;
    let hello = chat.next("session").await;
    let sid = hello["sessionId"].as_str().expect("sessionId").to_string();
    chat.send(json!({ "type": "chat", "content": "via /ws/chat" }))
        .await;
    assert_eq!(chat.next("sent").await["seq"], 1);

    let mut root = Ws::connect(&format!("ws://127.0.0.1:{}/?token={token}", app.port)).await;
    let hello = root.next("session").await;
    assert_eq!(hello["sessionId"], sid.as_str(), "the customer's session");
    let history = root.next("history").await;
    assert_eq!(history["messages"][0]["text"], "via /ws/chat");
    root.send(json!({ "type": "message", "message": "via /" }))
        .await;
    assert_eq!(root.next("sent").await["seq"], 2);

    // the same rules: no token, no connection
    let refused = Ws::try_connect(&format!("ws://127.0.0.1:{}/", app.port), &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.status, 401);
    let r = app.get("/").await;
    assert_eq!(r.status(), 404);
}
both!(seed_paths, the_seed_paths_reach_the_gateway);

/// A staff account (here the desk's admin) still chats on /ws, as the visitor of its own
/// sessions only.
async fn a_staff_account_chats_on_ws_in_its_own_sessions_only(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = app.admin_token().await;

    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let own = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    ws.send(json!({ "type": "chat", "content": "hello from the admin" }))
        .await;
    assert_eq!(ws.next("sent").await["seq"], 1);
    let stored = app.history_as(&own, &token).await;
    assert_eq!(stored[0]["sender"], "user");
    // reconnecting resumes the account's own session
    let mut again = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    assert_eq!(again.next("session").await["sessionId"], own.as_str());

    // a visitor's session is not theirs to speak in as the visitor
    let visitor = app.socket().await;
    let theirs = app.open_session(&visitor).await;
    let mut other = Ws::connect(&ws_url(&app, &format!("?token={token}&sessionId={theirs}"))).await;
    let hello = other.next("session").await;
    assert_ne!(hello["sessionId"], theirs.as_str());
    other
        .send(json!({ "type": "chat", "content": "not in their session" }))
        .await;
    other.next("sent").await;
    let theirs_stored: Value = app
        .get(&format!("/api/chats/{theirs}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        theirs_stored,
        json!([]),
        "nothing written in the visitor's session"
    );
}
both!(
    staff_on_ws,
    a_staff_account_chats_on_ws_in_its_own_sessions_only
);

/// The per-IP connection rate covers every path of the gateway, not only `/ws`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_rate_covers_the_gateway_aliases() {
    for path in ["/ws/chat", "/"] {
        let app = common::spawn_app_with(Backend::Sqlite, |c| {
            c.ws_allow_anonymous = true;
            c.connections_per_min = 2;
        })
        .await;
        let url = format!("ws://127.0.0.1:{}{path}", app.port);
        let mut kept = Vec::new();
        for _ in 0..2 {
            kept.push(Ws::connect(&url).await);
        }
        let refused = Ws::try_connect(&url, &[])
            .await
            .err()
            .unwrap_or_else(|| panic!("a third connection on {path} was accepted"));
        assert_eq!(refused.status, 429, "{path}");
        assert_eq!(refused.body["error"]["code"], "rate_limited", "{path}");
    }
}

async fn websockets(app: &TestApp) -> Value {
    app.get_json("/api/stats").await["connections"]["websockets"].clone()
}

/// `/api/stats` counts the plain-WebSocket clients that are connected, and forgets them when
/// they leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_connected_websocket_clients() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| c.ws_allow_anonymous = true).await;
    let mut a = Ws::connect(&ws_url(&app, "")).await;
    a.next("session").await;
    let mut b = Ws::connect(&format!("ws://127.0.0.1:{}/", app.port)).await;
    b.next("session").await;
    assert_eq!(websockets(&app).await, 2);
    a.ws.close(None).await.expect("close");
    a.closed().await;
    // The server notices the close on its own schedule: wait for it, within a bound.
    let deadline = tokio::time::Instant::now() + WAIT;
    while websockets(&app).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A NUL character cannot be stored by PostgreSQL: it is refused as `invalid_payload` on
/// this path as on every other, and the connection goes on.
async fn a_nul_character_in_a_chat_message_is_invalid_payload(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = customer_token(&app, "nul@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let session = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    ws.send(json!({ "type": "chat", "content": "before\u{0}after" }))
        .await;
    assert_eq!(ws.next("error").await["code"], "invalid_payload");
    ws.send(json!({ "type": "message", "message": "a\u{0}" }))
        .await;
    assert_eq!(ws.next("error").await["code"], "invalid_payload");
    ws.send(json!({ "type": "chat", "content": "fine" })).await;
    assert_eq!(ws.next("sent").await["seq"], 1);
    let stored = stored_messages(&app, &session).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}
both!(
    nul_on_ws,
    a_nul_character_in_a_chat_message_is_invalid_payload
);

/// One rule for `clientMsgId` on every protocol: a string or an integer. `1.5` is refused
/// everywhere (the gateway refused it while socket.io and REST stored `"1.5"`); an integer is
/// kept as its decimal text everywhere.
async fn one_client_msg_id_rule(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "x", "clientMsgId": 1.5 }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "x", "clientMsgId": 15 }),
        )
        .await;
    assert_eq!(ack["data"]["clientMsgId"], "15", "{ack}");

    let admin = app.admin_token().await;
    let r = app
        .post(
            &format!("/api/chats/{sid}/messages"),
            Some(&admin),
            json!({ "content": "y", "clientMsgId": 1.5 }),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_payload", "{body}");

    let token = customer_token(&app, "ids@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let ws_sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    ws.send(json!({ "type": "chat", "content": "z", "clientMsgId": 1.5 }))
        .await;
    assert_eq!(ws.next("error").await["code"], "invalid_payload");
    ws.send(json!({ "type": "chat", "content": "z", "clientMsgId": 16 }))
        .await;
    assert_eq!(ws.next("sent").await["seq"], 1);

    assert_eq!(app.history(&sid).await.len(), 1, "only the valid send");
    let stored = app.history_as(&ws_sid, &token).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["clientMsgId"], "16");
}
both!(
    client_msg_id_follows_one_rule_on_every_protocol,
    one_client_msg_id_rule
);

/// Message types on the plain WebSocket (issue 17): `messageType` and `fileUrl` (the frame's
/// own `type` is taken) in `chat` / `message`, in the live frames and in `history`; the same
/// rule as on socket.io, answered with an `error` frame that stores nothing.
async fn file_messages_cross_the_gateway_with_message_type_and_file_url(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.socket_as("/admin", &admin).await;
    let token = customer_token(&app, "files@example.com").await;
    let mut ws = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    let sid = ws.next("session").await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    agent.next("session_created").await;
    agent.ack("join_session", json!({ "sessionId": sid })).await;

    // refusals first: nothing is stored
    for bad in [
        json!({ "type": "chat", "messageType": "image", "fileUrl": "javascript:alert(1)" }),
        json!({ "type": "chat", "messageType": "image", "fileUrl": "http://x.example/a.png" }),
        json!({ "type": "message", "messageType": "file", "fileUrl": "//evil.com/x" }),
        json!({ "type": "chat", "messageType": "image", "content": "no url" }),
        json!({ "type": "chat", "messageType": "gif", "fileUrl": "/a.gif" }),
        json!({ "type": "chat", "content": "x", "fileUrl": "/a.png" }),
        json!({ "type": "chat", "messageType": ["image"], "fileUrl": "/a.png" }),
    ] {
        ws.send(bad.clone()).await;
        let e = ws.next("error").await;
        assert_eq!(e["code"], "invalid_payload", "{bad}: {e}");
    }
    assert!(stored_messages(&app, &sid).await.is_empty());

    // plain WebSocket -> agent: an image without text is named after its file
    ws.send(json!({ "type": "chat", "messageType": "image", "fileUrl": "/uploads/cat.png" }))
        .await;
    let sent = ws.next("sent").await;
    assert_eq!(sent["content"], "cat.png", "{sent}");
    let m = agent.next("message").await;
    assert_eq!(
        (&m["type"], &m["fileUrl"], &m["content"], &m["id"]),
        (
            &json!("image"),
            &json!("/uploads/cat.png"),
            &json!("cat.png"),
            &sent["id"]
        ),
        "{m}"
    );

    // agent -> plain WebSocket
    let ack = agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "The manual", "type": "file",
                    "fileUrl": "https://cdn.example.com/manual.pdf" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let reply = ws.next("message").await;
    assert_eq!(reply["messageType"], "file", "{reply}");
    assert_eq!(reply["fileUrl"], "https://cdn.example.com/manual.pdf");
    assert_eq!(reply["message"], "The manual");
    agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "anything else?" }),
        )
        .await;
    let text = ws.next("message").await;
    assert_eq!(text["messageType"], "text", "{text}");
    assert!(text.get("fileUrl").is_none(), "{text}");

    // a second device of the customer gets them in its history
    let mut again = Ws::connect(&ws_url(&app, &format!("?token={token}"))).await;
    assert_eq!(again.next("session").await["sessionId"], sid.as_str());
    let history = again.next("history").await;
    let kinds: Vec<(Value, Value)> = history["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["messageType"].clone(), m["fileUrl"].clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (json!("image"), json!("/uploads/cat.png")),
            (json!("file"), json!("https://cdn.example.com/manual.pdf")),
            (json!("text"), Value::Null),
        ],
        "{history}"
    );
}
both!(
    gateway_message_types,
    file_messages_cross_the_gateway_with_message_type_and_file_url
);

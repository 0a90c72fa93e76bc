//! Seed 004's rooms API (`shared/seeds/004`, a Go/Gin chat server) against chatdesk: its
//! `test_api.sh`-style REST sequence and its WebSocket example played literally, membership
//! and code-guessing refusals, malformed input answered in the seed's error shape with
//! nothing stored, and one conversation shared by a seed-004 room member, a socket.io visitor
//! and an agent on `/admin`. Every scenario runs on SQLite and PostgreSQL.

mod common;

use std::collections::VecDeque;
use std::time::Duration;

use common::{Backend, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const WAIT: Duration = Duration::from_secs(10);

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A seed-004 WebSocket client: JSON frames in and out; frames of other types wait in an inbox.
struct Ws {
    ws: Stream,
    inbox: VecDeque<Value>,
}

impl Ws {
    async fn connect(app: &TestApp, query: &str, bearer: Option<&str>) -> Ws {
        let url = format!("ws://127.0.0.1:{}/api/v1/chat/ws{query}", app.port);
        let mut req = url.into_client_request().expect("request");
        if let Some(t) = bearer {
            req.headers_mut().insert(
                http::header::AUTHORIZATION,
                format!("Bearer {t}").parse().expect("header"),
            );
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("connects");
        Ws {
            ws,
            inbox: VecDeque::new(),
        }
    }

    async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    async fn read(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()??;
            match frame {
                Ok(Message::Text(t)) => {
                    return Some(serde_json::from_str(t.as_str()).expect("server sends JSON"))
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next frame of type `ty` (others stay queued).
    async fn next(&mut self, ty: &str) -> Value {
        self.next_within(ty, WAIT)
            .await
            .unwrap_or_else(|| panic!("no `{ty}` within {WAIT:?}; queued: {:?}", self.inbox))
    }

    async fn next_within(&mut self, ty: &str, wait: Duration) -> Option<Value> {
        if let Some(i) = self.inbox.iter().position(|m| m["type"] == ty) {
            return self.inbox.remove(i);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let m = self.read(deadline).await?;
            if m["type"] == ty {
                return Some(m);
            }
            self.inbox.push_back(m);
        }
    }
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = app.http.request(method, format!("{}{path}", app.url));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(app: &TestApp, path: &str, token: &str) -> (u16, Value) {
    call(app, reqwest::Method::GET, path, Some(token), None).await
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    call(app, reqwest::Method::POST, path, token, Some(body)).await
}

/// A refusal in the seed's shape: `{success: false, message, error: code}`.
fn assert_failure(status: u16, body: &Value, want_status: u16, code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["success"], false, "{body}");
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Registers over `/api/v1/auth/register` (the seed's body) and returns the token and uuid.
async fn register(app: &TestApp, email: &str, fullname: &str) -> (String, String) {
    let (status, v) = post(
        app,
        "/api/v1/auth/register",
        None,
        json!({"user_email": email, "user_password": "password123", "user_fullname": fullname}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(v["success"], true);
    let user = &v["data"]["user"];
    assert_eq!(user["user_email"], email);
    assert_eq!(user["user_fullname"], fullname);
    assert_eq!(user["user_role"], "Member");
    (
        v["data"]["token"].as_str().expect("token").to_string(),
        user["user_uuid"].as_str().expect("uuid").to_string(),
    )
}

async fn login(app: &TestApp, email: &str) -> String {
    let (status, v) = post(
        app,
        "/api/v1/auth/login",
        None,
        json!({"user_email": email, "user_password": "password123"}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["success"], true);
    v["data"]["token"].as_str().expect("token").to_string()
}

/// Creates a room as `token`; returns its `data`.
async fn create_room(app: &TestApp, token: &str, name: &str) -> Value {
    let (status, v) = post(
        app,
        "/api/v1/rooms",
        Some(token),
        json!({"room_name": name, "room_is_direct_chat": false}),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    v["data"].clone()
}

async fn stored_count(app: &TestApp, token: &str, room_id: i64) -> usize {
    let (status, v) = get(
        app,
        &format!("/api/v1/rooms/{room_id}/messages?limit=500"),
        token,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["data"].as_array().map(Vec::len).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------

async fn seed_004_rest_sequence(backend: Backend) {
    let app = common::spawn_app(backend).await;
    // register two users, log in
    register(&app, "alice@example.com", "Alice Nguyen").await;
    let (_, bob_id) = register(&app, "bob@example.com", "Bob Tran").await;
    let alice = login(&app, "alice@example.com").await;
    let bob = login(&app, "bob@example.com").await;

    // create a room, list rooms
    let room = create_room(&app, &alice, "Team chat").await;
    let room_id = room["room_id"].as_i64().expect("integer room_id");
    let code = room["room_code"].as_str().expect("room_code").to_string();
    assert_eq!(code.len(), 6);
    assert_eq!(room["room_name"], "Team chat");
    assert_eq!(room["room_is_direct_chat"], false);
    let (status, list) = get(&app, "/api/v1/rooms", &alice).await;
    assert_eq!(status, 200);
    assert_eq!(list["success"], true);
    let ids: Vec<i64> = list["data"]
        .as_array()
        .expect("rooms")
        .iter()
        .filter_map(|r| r["room_id"].as_i64())
        .collect();
    assert_eq!(ids, vec![room_id]);

    // the second user joins by code (lower case works too)
    let (status, joined) = post(
        &app,
        "/api/v1/rooms/join-by-code",
        Some(&bob),
        json!({"room_code": code.to_lowercase()}),
    )
    .await;
    assert_eq!(status, 200, "{joined}");
    assert_eq!(joined["data"]["room_id"], room_id);
    assert_eq!(joined["data"]["member_role"], "Member");

    // members
    let (status, members) = get(&app, &format!("/api/v1/rooms/{room_id}/members"), &bob).await;
    assert_eq!(status, 200);
    let members = members["data"].as_array().expect("members").clone();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["user_email"], "alice@example.com");
    assert_eq!(members[0]["user_fullname"], "Alice Nguyen");
    assert_eq!(members[0]["member_role"], "Admin");
    assert_eq!(members[1]["user_uuid"], bob_id.as_str());
    assert_eq!(members[1]["user_role"], "Member");

    // messages over REST, then the list in order, with limit and offset
    for (token, text) in [(&alice, "Hello Bob"), (&bob, "Hi Alice"), (&alice, "Third")] {
        let (status, v) = post(
            &app,
            &format!("/api/v1/rooms/{room_id}/messages"),
            Some(token),
            json!({"content": text}),
        )
        .await;
        assert_eq!(status, 201, "{v}");
        assert_eq!(v["data"]["content"], text);
    }
    let (status, page) = get(
        &app,
        &format!("/api/v1/rooms/{room_id}/messages?limit=2&offset=0"),
        &alice,
    )
    .await;
    assert_eq!(status, 200);
    let page = page["data"].as_array().expect("messages").clone();
    let ids: Vec<i64> = page
        .iter()
        .filter_map(|m| m["message_id"].as_i64())
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(page[0]["content"], "Hello Bob");
    assert_eq!(page[0]["user_fullname"], "Alice Nguyen");
    assert_eq!(page[1]["user_uuid"], bob_id.as_str());
    assert_eq!(page[1]["user_email"], "bob@example.com");
    assert!(page[1]["created_at"].as_str().is_some());
    let (_, rest) = get(
        &app,
        &format!("/api/v1/rooms/{room_id}/messages?limit=2&offset=2"),
        &bob,
    )
    .await;
    let rest = rest["data"].as_array().expect("messages").clone();
    assert_eq!(rest.len(), 1);
    assert_eq!(
        (rest[0]["message_id"].clone(), rest[0]["content"].clone()),
        (json!(3), json!("Third"))
    );

    // leave: the room is no longer bob's
    let (status, v) = post(
        &app,
        &format!("/api/v1/rooms/{room_id}/leave"),
        Some(&bob),
        json!({}),
    )
    .await;
    assert_eq!((status, v["success"].clone()), (200, json!(true)));
    let (status, v) = get(&app, &format!("/api/v1/rooms/{room_id}/messages"), &bob).await;
    assert_failure(status, &v, 403, "forbidden");
    let (_, list) = get(&app, "/api/v1/rooms", &bob).await;
    assert_eq!(list["data"], json!([]));

    // logout: the token no longer works
    let (status, v) = post(&app, "/api/v1/auth/logout", Some(&alice), json!({})).await;
    assert_eq!((status, v["success"].clone()), (200, json!(true)));
    let (status, v) = get(&app, "/api/v1/rooms", &alice).await;
    assert_failure(status, &v, 401, "unauthorized");
}
both!(rest_sequence, seed_004_rest_sequence);

/// Alice's room, with Bob joined by code: (alice, bob, alice's uuid, bob's uuid, room).
async fn room_of_two(app: &TestApp) -> (String, String, String, String, Value) {
    let (alice, alice_id) = register(app, "alice@example.com", "Alice Nguyen").await;
    let (bob, bob_id) = register(app, "bob@example.com", "Bob Tran").await;
    let room = create_room(app, &alice, "Team chat").await;
    let (status, v) = post(
        app,
        "/api/v1/rooms/join-by-code",
        Some(&bob),
        json!({"room_code": room["room_code"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    (alice, bob, alice_id, bob_id, room)
}

async fn seed_004_websocket_example(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (alice, bob, alice_id, bob_id, room) = room_of_two(&app).await;
    let room_id = room["room_id"].as_i64().expect("room_id");

    // alice: token and room in the URL; bob: bearer header, then join_room
    let mut a = Ws::connect(&app, &format!("?token={alice}&room_id={room_id}"), None).await;
    let joined = a.next("user_joined").await;
    assert_eq!(joined["user_uuid"], alice_id.as_str());
    let mut b = Ws::connect(&app, "", Some(&bob)).await;
    b.send(json!({"type": "join_room", "room_id": room_id}))
        .await;
    let joined = a.next("user_joined").await;
    assert_eq!(
        joined,
        json!({"type": "user_joined", "room_id": room_id, "user_uuid": bob_id, "data": {"user_uuid": bob_id}})
    );
    b.next("user_joined").await;

    // who is connected
    let (status, v) = get(
        &app,
        &format!("/api/v1/chat/rooms/{room_id}/status"),
        &alice,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["data"]["online_count"], 2);

    // send_message: both members get new_message with the author's details
    a.send(json!({"type": "send_message", "room_id": room_id, "content": "Hello everyone!"}))
        .await;
    for ws in [&mut a, &mut b] {
        let m = ws.next("new_message").await;
        assert_eq!(m["room_id"], room_id);
        assert_eq!(m["user_uuid"], alice_id.as_str());
        assert_eq!(m["content"], "Hello everyone!");
        assert_eq!(m["message_id"], 1);
        assert_eq!(m["timestamp"], m["data"]["created_at"]);
        let d = &m["data"];
        assert_eq!(d["message_id"], 1);
        assert_eq!(d["content"], "Hello everyone!");
        assert_eq!(d["user_uuid"], alice_id.as_str());
        assert_eq!(d["user_fullname"], "Alice Nguyen");
        assert_eq!(d["user_email"], "alice@example.com");
        assert!(d["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
    }
    b.send(json!({"type": "send_message", "room_id": room_id, "content": "Hi Alice"}))
        .await;
    let m = a.next("new_message").await;
    assert_eq!(
        (m["message_id"].clone(), m["data"]["user_fullname"].clone()),
        (json!(2), json!("Bob Tran"))
    );
    b.next("new_message").await;

    // a room not joined: the seed's error frame, nothing stored
    b.send(json!({"type": "send_message", "room_id": room_id + 1, "content": "lost"}))
        .await;
    let e = b.next("error").await;
    assert_eq!(e["content"], "You must join the room first");

    // leave_room: the others hear user_left; bob hears the room no more
    b.send(json!({"type": "leave_room", "room_id": room_id}))
        .await;
    let left = a.next("user_left").await;
    assert_eq!(
        left,
        json!({"type": "user_left", "room_id": room_id, "user_uuid": bob_id, "data": {"user_uuid": bob_id}})
    );
    b.send(json!({"type": "send_message", "room_id": room_id, "content": "after leaving"}))
        .await;
    assert_eq!(
        b.next("error").await["content"],
        "You must join the room first"
    );
    a.send(json!({"type": "send_message", "room_id": room_id, "content": "still here"}))
        .await;
    assert_eq!(a.next("new_message").await["message_id"], 3);
    assert!(b
        .next_within("new_message", Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(stored_count(&app, &alice, room_id).await, 3);
}
both!(websocket_example, seed_004_websocket_example);

async fn non_members_read_and_write_nothing(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (alice, _bob, _, _, room) = room_of_two(&app).await;
    let room_id = room["room_id"].as_i64().expect("room_id");
    let (carol, _) = register(&app, "carol@example.com", "Carol").await;

    let paths = [
        format!("/api/v1/rooms/{room_id}/messages"),
        format!("/api/v1/rooms/{room_id}/members"),
        format!("/api/v1/chat/rooms/{room_id}/status"),
    ];
    for p in &paths {
        let (status, v) = get(&app, p, &carol).await;
        assert_failure(status, &v, 403, "forbidden");
    }
    let (status, v) = post(
        &app,
        &format!("/api/v1/rooms/{room_id}/messages"),
        Some(&carol),
        json!({"content": "let me in"}),
    )
    .await;
    assert_failure(status, &v, 403, "forbidden");
    // joining by id is no way in (ids are sequential); an unknown room looks the same
    let (status, joined) = post(
        &app,
        &format!("/api/v1/rooms/{room_id}/join"),
        Some(&carol),
        json!({}),
    )
    .await;
    assert_failure(status, &joined, 403, "forbidden");
    let (status, unknown) = post(&app, "/api/v1/rooms/99999/join", Some(&carol), json!({})).await;
    assert_failure(status, &unknown, 403, "forbidden");
    assert_eq!(joined["message"], unknown["message"]);
    let (status, v) = get(&app, "/api/v1/rooms/99999/messages", &carol).await;
    assert_failure(status, &v, 403, "forbidden");
    // without a token
    let (status, v) = call(&app, reqwest::Method::GET, "/api/v1/rooms", None, None).await;
    assert_failure(status, &v, 401, "unauthorized");

    // over the WebSocket
    let mut c = Ws::connect(&app, &format!("?token={carol}&room_id={room_id}"), None).await;
    let e = c.next("error").await;
    assert_eq!(e["code"], "forbidden");
    c.send(json!({"type": "join_room", "room_id": room_id}))
        .await;
    assert_eq!(
        c.next("error").await["content"],
        "You are not a member of this room"
    );
    c.send(json!({"type": "send_message", "room_id": room_id, "content": "sneaky"}))
        .await;
    assert_eq!(
        c.next("error").await["content"],
        "You must join the room first"
    );

    // staff may join any room (support); the desk's admin answers as the desk
    let admin = app.admin_token().await;
    let (status, v) = post(
        &app,
        &format!("/api/v1/rooms/{room_id}/join"),
        Some(&admin),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, _) = post(
        &app,
        &format!("/api/v1/rooms/{room_id}/messages"),
        Some(&admin),
        json!({"content": "Support here"}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, page) = get(&app, &format!("/api/v1/rooms/{room_id}/messages"), &alice).await;
    let page = page["data"].as_array().expect("messages").clone();
    assert_eq!(page.len(), 1, "only the admin's message was stored");
    assert_eq!(page[0]["user_email"], common::ADMIN_EMAIL);
}
both!(membership, non_members_read_and_write_nothing);

async fn guessing_room_codes_is_rate_limited(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (alice, _, _, _, room) = room_of_two(&app).await;
    let (carol, _) = register(&app, "carol@example.com", "Carol").await;
    let real = room["room_code"].as_str().expect("code").to_string();
    let mut refused = None;
    for i in 0..40 {
        let guess = format!("ZZZZ{:02}", i % 10)
            .replace('0', "2")
            .replace('1', "3");
        if guess == real {
            continue;
        }
        let (status, v) = post(
            &app,
            "/api/v1/rooms/join-by-code",
            Some(&carol),
            json!({"room_code": guess}),
        )
        .await;
        if status == 429 {
            refused = Some((status, v));
            break;
        }
        assert_failure(status, &v, 404, "not_found");
    }
    let (status, v) = refused.expect("wrong codes were refused with 429");
    assert_failure(status, &v, 429, "rate_limited");
    assert!(v["retry_after_ms"].as_u64().is_some_and(|ms| ms > 0));
    // even the right code is refused now, and carol is in no room
    let (status, _) = post(
        &app,
        "/api/v1/rooms/join-by-code",
        Some(&carol),
        json!({"room_code": real}),
    )
    .await;
    assert_eq!(status, 429);
    let (_, list) = get(&app, "/api/v1/rooms", &carol).await;
    assert_eq!(list["data"], json!([]));
    let _ = alice;
}
both!(code_guessing, guessing_room_codes_is_rate_limited);

async fn malformed_input_gets_the_seed_error_shape_and_stores_nothing(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (alice, _bob, _, _, room) = room_of_two(&app).await;
    let room_id = room["room_id"].as_i64().expect("room_id");
    let messages = format!("/api/v1/rooms/{room_id}/messages");

    // REST: not JSON, wrong types, missing fields, a bad room id, too long content
    let r = app
        .http
        .post(format!("{}{messages}", app.url))
        .bearer_auth(&alice)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    let status = r.status().as_u16();
    let v: Value = r.json().await.expect("json");
    assert_failure(status, &v, 400, "invalid_payload");
    for body in [
        json!({"content": 5}),
        json!({}),
        json!({"text": "hi"}),
        json!([1]),
        json!({"content": "  "}),
    ] {
        let (status, v) = post(&app, &messages, Some(&alice), body.clone()).await;
        assert_failure(status, &v, 400, "invalid_payload");
    }
    let (status, v) = post(
        &app,
        &messages,
        Some(&alice),
        json!({"content": "x".repeat(10_001)}),
    )
    .await;
    assert_failure(status, &v, 400, "content_too_long");
    let (status, v) = post(
        &app,
        "/api/v1/rooms/abc/messages",
        Some(&alice),
        json!({"content": "hi"}),
    )
    .await;
    assert_failure(status, &v, 400, "invalid_payload");
    let (status, v) = post(&app, "/api/v1/rooms", Some(&alice), json!({"room_name": 7})).await;
    assert_failure(status, &v, 400, "invalid_payload");
    let (status, v) = post(
        &app,
        "/api/v1/rooms",
        Some(&alice),
        json!({"room_name": ""}),
    )
    .await;
    assert_failure(status, &v, 400, "invalid_payload");
    let (status, v) = post(
        &app,
        "/api/v1/auth/register",
        None,
        json!({"user_email": "dave@example.com", "user_password": "password123"}),
    )
    .await;
    assert_failure(status, &v, 400, "invalid_payload");
    let (status, v) = post(
        &app,
        "/api/v1/auth/login",
        None,
        json!({"user_email": "alice@example.com"}),
    )
    .await;
    assert_failure(status, &v, 400, "invalid_payload");
    let (status, v) = post(
        &app,
        "/api/v1/auth/login",
        None,
        json!({"user_email": "alice@example.com", "user_password": "wrong-password"}),
    )
    .await;
    assert_failure(status, &v, 401, "unauthorized");
    let (status, v) = get(&app, &format!("{messages}?limit=abc"), &alice).await;
    assert_failure(status, &v, 400, "invalid_payload");

    // WebSocket: every malformed frame gets `{type: "error", content, code}`
    let mut a = Ws::connect(&app, &format!("?token={alice}&room_id={room_id}"), None).await;
    a.next("user_joined").await;
    let bad = [
        "not json".to_string(),
        "[1,2]".to_string(),
        json!({"room_id": room_id}).to_string(),
        json!({"type": "dance", "room_id": room_id}).to_string(),
        json!({"type": "send_message", "room_id": "one", "content": "hi"}).to_string(),
        json!({"type": "send_message", "room_id": room_id}).to_string(),
        json!({"type": "send_message", "room_id": room_id, "content": 5}).to_string(),
        json!({"type": "send_message", "room_id": room_id, "content": ""}).to_string(),
        json!({"type": "join_room"}).to_string(),
    ];
    for text in &bad {
        a.send_text(text).await;
        let e = a.next("error").await;
        assert_eq!(e["code"], "invalid_payload", "{text} -> {e}");
        assert!(e["content"].as_str().is_some_and(|c| !c.is_empty()));
    }
    a.send(json!({"type": "send_message", "room_id": room_id, "content": "x".repeat(10_001)}))
        .await;
    assert_eq!(a.next("error").await["code"], "content_too_long");
    assert!(a
        .next_within("new_message", Duration::from_millis(300))
        .await
        .is_none());
    assert_eq!(stored_count(&app, &alice, room_id).await, 0);
    // the connection still works
    a.send(json!({"type": "send_message", "room_id": room_id, "content": "fine"}))
        .await;
    assert_eq!(a.next("new_message").await["message_id"], 1);
}
both!(
    malformed,
    malformed_input_gets_the_seed_error_shape_and_stores_nothing
);

async fn a_room_member_a_socketio_visitor_and_an_agent_share_one_conversation(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (alice, bob, alice_id, bob_id, room) = room_of_two(&app).await;
    let room_id = room["room_id"].as_i64().expect("room_id");
    let session_id = room["session_id"].as_str().expect("session_id").to_string();

    // bob: seed-004 WebSocket member
    let mut b = Ws::connect(&app, &format!("?token={bob}&room_id={room_id}"), None).await;
    b.next("user_joined").await;
    // alice: the session's owner, on socket.io as its visitor
    let visitor = app.socket_as("/", &alice).await;
    let init = visitor
        .ack("init_session", json!({"sessionId": session_id}))
        .await;
    assert_eq!(init["sessionId"], session_id.as_str());
    // an agent on /admin
    let admin = app.admin_token().await;
    let agent = app.socket_as("/admin", &admin).await;
    let joined = agent
        .ack("join_session", json!({"sessionId": session_id}))
        .await;
    // staff see every member of the room, in the order they joined
    let members: Vec<(Value, Value, Value)> = joined["data"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (m["accountId"].clone(), m["name"].clone(), m["role"].clone()))
        .collect();
    assert_eq!(
        members,
        [
            (json!(alice_id), json!("Alice Nguyen"), json!("Admin")),
            (json!(bob_id), json!("Bob Tran"), json!("Member")),
        ]
    );

    // seed-004 member -> visitor and agent
    b.send(json!({"type": "send_message", "room_id": room_id, "content": "from bob"}))
        .await;
    assert_eq!(b.next("new_message").await["message_id"], 1);
    let m = visitor.next("message").await;
    assert_eq!(
        (m["content"].clone(), m["seq"].clone()),
        (json!("from bob"), json!(1))
    );
    let m = agent.next("message").await;
    assert_eq!(
        (m["content"].clone(), m["sender"].clone()),
        (json!("from bob"), json!("user"))
    );

    // socket.io visitor -> member
    let ack = visitor
        .ack(
            "user_message",
            json!({"sessionId": session_id, "content": "from alice"}),
        )
        .await;
    assert!(ack.get("error").is_none(), "{ack}");
    let m = b.next("new_message").await;
    assert_eq!(m["message_id"], 2);
    assert_eq!(m["user_uuid"], alice_id.as_str());
    assert_eq!(m["data"]["user_fullname"], "Alice Nguyen");
    assert_eq!(agent.next("message").await["seq"], 2);
    assert_eq!(visitor.next("message").await["seq"], 2); // its own (ECHO_TO_SENDER)

    // agent -> member and visitor
    let ack = agent
        .ack(
            "admin_message",
            json!({"sessionId": session_id, "content": "from the desk"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let m = b.next("new_message").await;
    assert_eq!(m["message_id"], 3);
    assert_eq!(m["content"], "from the desk");
    assert_eq!(m["data"]["user_email"], common::ADMIN_EMAIL);
    let m = visitor.next("message").await;
    assert_eq!(
        (m["seq"].clone(), m["sender"].clone()),
        (json!(3), json!("admin"))
    );

    // the REST history of the room names every author
    let (_, page) = get(&app, &format!("/api/v1/rooms/{room_id}/messages"), &bob).await;
    let authors: Vec<Value> = page["data"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["user_uuid"].clone())
        .collect();
    assert_eq!(authors[0], bob_id.as_str());
    assert_eq!(authors[1], alice_id.as_str());
    assert_eq!(authors.len(), 3);
}
both!(
    mixed,
    a_room_member_a_socketio_visitor_and_an_agent_share_one_conversation
);

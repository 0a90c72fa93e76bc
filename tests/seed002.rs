//! Seed 002's client on `/ws/chat` (shared/seeds/002, PROTOCOL Part 3), played literally:
//! the `useChat` hook connects with `?token=`, waits for `connected`, sends `{type:
//! "message", conversationId, content}` and appends every `message` frame's `message`; the
//! `useWebRTC` hook sends `call-offer {targetUserId, offer}`. A customer (two devices) and
//! the agent assigned to the customer's session are the participants.

mod common;

use common::ws::Ws;
use common::{Backend, SioClient, TestApp};
use serde_json::{json, Value};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

fn chat_url(app: &TestApp, token: &str) -> String {
    format!("ws://127.0.0.1:{}/ws/chat?token={token}", app.port)
}

/// Connects as seed 002's hook does and returns the connection and the user id it was told.
async fn connect(app: &TestApp, token: &str) -> (Ws, String) {
    let mut ws = Ws::connect(&chat_url(app, token)).await;
    ws.stamped = false;
    let hello = ws.next("connected").await;
    let id = hello["userId"].as_str().expect("userId").to_string();
    (ws, id)
}

/// A customer with a session (opened on the widget's socket) that an agent has claimed:
/// (customer token, agent token, session id, the customer's socket).
async fn claimed_conversation(app: &TestApp, email: &str) -> (String, String, String, SioClient) {
    let customer = app.register(email, "customer-password").await;
    let widget = app.socket_as("/", &customer).await;
    let sid = app.open_session(&widget).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let console = app.socket_as("/admin", &agent).await;
    let claimed = console
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claimed["ok"], true, "{claimed}");
    (customer, agent, sid, widget)
}

async fn the_use_chat_hook_flow(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (customer, agent, sid, _widget) = claimed_conversation(&app, "ana@example.com").await;
    let (mut phone, ana) = connect(&app, &customer).await;
    let (mut laptop, ana_again) = connect(&app, &customer).await;
    assert_eq!(ana, ana_again, "the same person on two devices");
    let (mut desk, bo) = connect(&app, &agent).await;
    assert_ne!(ana, bo);

    phone
        .send(json!({ "type": "message", "conversationId": sid, "content": "Xin chào" }))
        .await;
    for ws in [&mut phone, &mut laptop, &mut desk] {
        let m = ws.next("message").await;
        let m = &m["message"];
        assert_eq!(m["conversationId"], sid.as_str());
        assert_eq!(m["senderId"], ana.as_str());
        assert_eq!(m["content"], "Xin chào");
        assert_eq!(m["type"], "text");
        assert_eq!(m["seq"], 1);
        assert!(m["id"].is_string() && m["createdAt"].is_string(), "{m}");
    }

    desk.send(json!({ "type": "message", "conversationId": sid, "content": "Hello Ana" }))
        .await;
    for ws in [&mut phone, &mut laptop, &mut desk] {
        let m = ws.next("message").await;
        assert_eq!(m["message"]["senderId"], bo.as_str());
        assert_eq!(m["message"]["seq"], 2);
    }

    // an image: type and fileUrl as seed 002's messages table has them
    desk.send(
        json!({ "type": "message", "conversationId": sid, "content": "",
                      "messageType": "image", "fileUrl": "https://cdn.example/p/receipt.png" }),
    )
    .await;
    let m = phone.next("message").await;
    assert_eq!(m["message"]["type"], "image");
    assert_eq!(m["message"]["fileUrl"], "https://cdn.example/p/receipt.png");
    assert_eq!(m["message"]["content"], "receipt.png");
    desk.send(
        json!({ "type": "message", "conversationId": sid, "content": "x",
                      "messageType": "image", "fileUrl": "javascript:alert(1)" }),
    )
    .await;
    assert_eq!(desk.next("error").await["code"], "invalid_payload");
    for ws in [&mut laptop, &mut desk] {
        assert_eq!(ws.next("message").await["message"]["seq"], 3);
    }

    // typing goes to the other side only
    laptop
        .send(json!({ "type": "typing", "conversationId": sid, "isTyping": true }))
        .await;
    let t = desk.next("typing").await;
    assert_eq!(t["conversationId"], sid.as_str());
    assert_eq!(t["isTyping"], true);
    assert!(phone.next_within("typing", QUIET).await.is_none());

    // read without seq: up to the latest message
    desk.send(json!({ "type": "read", "conversationId": sid }))
        .await;
    let r = phone.next("read").await;
    assert_eq!(
        (r["reader"].clone(), r["seq"].clone()),
        (json!("admin"), json!(3))
    );

    // what they said is the conversation everyone else sees
    let stored = app.history_as(&sid, &agent).await;
    let said: Vec<&str> = stored
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(said, ["Xin chào", "Hello Ana", "receipt.png"]);
}
both!(use_chat, the_use_chat_hook_flow);

async fn call_signalling_goes_to_every_device_of_a_participant(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (customer, agent, _sid, _widget) = claimed_conversation(&app, "cam@example.com").await;
    let (mut caller, cam) = connect(&app, &customer).await;
    let (mut desk_a, bo) = connect(&app, &agent).await;
    let (mut desk_b, _) = connect(&app, &agent).await;

    let offer = json!({ "type": "offer", "sdp": "v=0 o=- 1 2 IN IP4 127.0.0.1" });
    caller
        .send(json!({ "type": "call-offer", "targetUserId": bo, "offer": offer }))
        .await;
    for desk in [&mut desk_a, &mut desk_b] {
        let got = desk.next("call-offer").await;
        assert_eq!(
            got,
            json!({ "type": "call-offer", "senderId": cam, "offer": offer })
        );
    }
    let answer = json!({ "type": "answer", "sdp": "v=0" });
    desk_a
        .send(json!({ "type": "call-answer", "targetUserId": cam, "answer": answer }))
        .await;
    let got = caller.next("call-answer").await;
    assert_eq!(
        got,
        json!({ "type": "call-answer", "senderId": bo, "answer": answer })
    );
    caller
        .send(json!({ "type": "ice-candidate", "targetUserId": bo, "candidate": { "candidate": "c1" } }))
        .await;
    assert_eq!(
        desk_b.next("ice-candidate").await["candidate"]["candidate"],
        "c1"
    );

    // someone who shares no conversation with the agent cannot ring them
    let stranger = app
        .register("stranger@example.com", "customer-password")
        .await;
    let (mut other, _) = connect(&app, &stranger).await;
    other
        .send(json!({ "type": "call-offer", "targetUserId": bo, "offer": offer }))
        .await;
    let refused = other.next("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    assert_eq!(refused["event"], "call-offer");
    assert!(refused["message"].is_string());
    assert!(desk_a.next_within("call-offer", QUIET).await.is_none());
}
both!(calls, call_signalling_goes_to_every_device_of_a_participant);

async fn refusals_close_or_answer_in_the_seeds_shape_and_store_nothing(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (customer, _agent, sid, _widget) = claimed_conversation(&app, "dan@example.com").await;

    // no token / a bad token: accepted, then closed with 1008 and the seed's reasons
    let mut none = Ws::connect(&format!("ws://127.0.0.1:{}/ws/chat", app.port)).await;
    let close = none.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "No token provided");
    let mut bad = Ws::connect(&chat_url(&app, "not-a-jwt")).await;
    let close = bad.closed().await.expect("a close frame");
    assert_eq!(u16::from(close.code), 1008);
    assert_eq!(close.reason.as_str(), "Invalid token");

    let (mut ws, _) = connect(&app, &customer).await;
    let cases = [
        ("not json".to_string(), "invalid_payload"),
        (json!({ "type": "message", "content": "no conversation" }).to_string(), "invalid_payload"),
        (json!({ "type": "message", "conversationId": sid, "content": 5 }).to_string(), "invalid_payload"),
        (json!({ "type": "message", "conversationId": sid, "content": "  " }).to_string(), "invalid_payload"),
        (json!({ "type": "message", "conversationId": "nope", "content": "x" }).to_string(), "invalid_payload"),
        (json!({ "type": "dance" }).to_string(), "invalid_payload"),
        (json!({ "type": "typing", "conversationId": sid }).to_string(), "invalid_payload"),
        (json!({ "type": "message", "conversationId": sid, "content": "x".repeat(10_001) }).to_string(), "content_too_long"),
        (json!({ "type": "message", "conversationId": uuid::Uuid::new_v4().to_string(), "content": "x" }).to_string(), "session_not_found"),
    ];
    for (frame, code) in cases {
        ws.send_text(&frame).await;
        let e = ws.next("error").await;
        assert_eq!(e["code"], code, "{frame} -> {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }

    // someone else's conversation: refused, nothing stored there
    let intruder = app.register("eve@example.com", "customer-password").await;
    let (mut eve, _) = connect(&app, &intruder).await;
    eve.send(json!({ "type": "message", "conversationId": sid, "content": "let me in" }))
        .await;
    assert_eq!(eve.next("error").await["code"], "forbidden");
    assert!(ws.next_within("message", QUIET).await.is_none());
    assert_eq!(app.history_as(&sid, &customer).await, Vec::<Value>::new());

    // the connection still works after all that
    ws.send(json!({ "type": "message", "conversationId": sid, "content": "still here" }))
        .await;
    assert_eq!(ws.next("message").await["message"]["seq"], 1);
}
both!(
    refusals,
    refusals_close_or_answer_in_the_seeds_shape_and_store_nothing
);

/// A message written on any other protocol reaches the seed-002 client, and the old
/// single-session dialect stays reachable on the path with `?dialect=session`.
async fn other_protocols_meet_in_the_same_conversation(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (customer, agent, sid, widget) = claimed_conversation(&app, "fay@example.com").await;
    let (mut ws, fay) = connect(&app, &customer).await;
    let console = app.socket_as("/admin", &agent).await;
    let sent = console
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "from the console" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    let m = ws.next("message").await;
    assert_eq!(m["message"]["content"], "from the console");
    assert_eq!(m["message"]["sender"], "admin");
    let acked = widget
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "from the widget" }),
        )
        .await;
    assert_eq!(acked["ok"], true, "{acked}");
    let m = ws.next("message").await;
    assert_eq!(m["message"]["content"], "from the widget");
    assert_eq!(m["message"]["senderId"], fay.as_str());

    let mut old = Ws::connect(&format!(
        "ws://127.0.0.1:{}/ws/chat?dialect=session&token={customer}",
        app.port
    ))
    .await;
    assert_eq!(old.next("session").await["sessionId"], sid.as_str());
}
both!(mixed, other_protocols_meet_in_the_same_conversation);

/// Members of one room (seed 004) share a conversation: they may ring each other, whoever
/// created the room; someone outside it still may not.
async fn room_members_may_call_each_other(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let gia = app.register("gia@example.com", "customer-password").await;
    let hai = app.register("hai@example.com", "customer-password").await;
    let out = app.register("out@example.com", "customer-password").await;
    let room = app
        .http
        .post(format!("{}/api/v1/rooms", app.url))
        .bearer_auth(&gia)
        .json(&json!({ "room_name": "Project", "room_is_direct_chat": false }))
        .send()
        .await
        .expect("create room");
    assert_eq!(room.status().as_u16(), 201);
    let room: Value = room.json().await.expect("room json");
    let joined = app
        .http
        .post(format!("{}/api/v1/rooms/join-by-code", app.url))
        .bearer_auth(&hai)
        .json(&json!({ "room_code": room["data"]["room_code"] }))
        .send()
        .await
        .expect("join by code");
    assert_eq!(joined.status().as_u16(), 200);

    let (mut g, gia_id) = connect(&app, &gia).await;
    let (mut h, hai_id) = connect(&app, &hai).await;
    let (mut o, _) = connect(&app, &out).await;
    let offer = json!({ "type": "offer", "sdp": "v=0" });
    // the member who joined rings the room's creator, and the creator answers
    h.send(json!({ "type": "call-offer", "targetUserId": gia_id, "offer": offer }))
        .await;
    assert_eq!(
        g.next("call-offer").await,
        json!({ "type": "call-offer", "senderId": hai_id, "offer": offer })
    );
    g.send(json!({ "type": "call-answer", "targetUserId": hai_id, "answer": { "sdp": "a" } }))
        .await;
    assert_eq!(h.next("call-answer").await["senderId"], gia_id.as_str());
    // an outsider is refused
    o.send(json!({ "type": "call-offer", "targetUserId": hai_id, "offer": offer }))
        .await;
    assert_eq!(o.next("error").await["code"], "forbidden");
    assert!(h.next_within("call-offer", QUIET).await.is_none());
}
both!(room_calls, room_members_may_call_each_other);

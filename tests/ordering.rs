//! What one connection sends is applied in the order it was sent: stored with `seq` in that
//! order, broadcast and answered in that order, on both transports, both databases and with
//! several writer pipelines. Order is checked by each sender's own counter (carried in the
//! content and the `clientMsgId`), not only by `seq`.

mod common;

use std::time::Duration;

use common::{Backend, ConnectOpts, SioClient, TestApp, Transport};
use serde_json::{json, Value};

const BURST: usize = 200;

/// A server whose per-socket event budget lets a burst of `BURST` through.
async fn desk(backend: Backend, shards: usize) -> TestApp {
    common::spawn_app_with(backend, move |c| {
        c.socket_events_burst = 2 * BURST as u32;
        c.write_shards = shards;
    })
    .await
}

/// The content of message `n` of sender `who`.
fn line(who: usize, n: usize) -> String {
    format!("s{who:02}-{n:04}")
}

/// Waits for `count` `message` events on `s` and returns them in arrival order.
async fn collect(s: &SioClient, count: usize) -> Vec<Value> {
    let mut got = Vec::with_capacity(count);
    while got.len() < count {
        match s.next_within("message", Duration::from_secs(20)).await {
            Some(m) => got.push(m),
            None => panic!("only {} of {count} messages arrived", got.len()),
        }
    }
    got
}

/// Per sender, the counters in arrival order must be 0, 1, 2, ... and `seq` must ascend.
fn assert_sender_order(got: &[Value], senders: usize, per_sender: usize) {
    let mut next = vec![0usize; senders];
    let mut last_seq = 0;
    for m in got {
        let content = m["content"].as_str().expect("content");
        let (who, n) = content[1..].split_once('-').expect("sNN-NNNN");
        let (who, n): (usize, usize) = (who.parse().unwrap(), n.parse().unwrap());
        assert_eq!(
            n, next[who],
            "sender {who}: message {n} arrived where {} was due",
            next[who]
        );
        next[who] += 1;
        let seq = m["seq"].as_i64().expect("seq");
        assert!(seq > last_seq, "seq {seq} after {last_seq}");
        last_seq = seq;
    }
    assert!(next.iter().all(|n| *n == per_sender), "counts {next:?}");
}

/// Emits `count` messages back to back, without waiting for anything.
fn burst(s: &SioClient, session_id: &str, who: usize, count: usize) {
    for n in 0..count {
        s.emit(
            "user_message",
            json!({ "sessionId": session_id, "content": line(who, n), "clientMsgId": format!("c{who}-{n}") }),
        );
    }
}

async fn one_socket_burst(app: &TestApp, transport: Transport) {
    let sender = app.socket_with(transport, ConnectOpts::default()).await;
    let session_id = app.open_session(&sender).await;
    let watcher = app.socket_with(transport, ConnectOpts::default()).await;
    watcher
        .ack("init_session", json!({ "sessionId": session_id }))
        .await;

    burst(&sender, &session_id, 0, BURST);

    let got = collect(&watcher, BURST).await;
    assert_sender_order(&got, 1, BURST);
    // the sender's own copies too (it is in the room)
    assert_sender_order(&collect(&sender, BURST).await, 1, BURST);
    // and what is stored: seq 1..=BURST in the sent order
    let stored = app.history(&session_id).await;
    assert_eq!(stored.len(), BURST);
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(m["content"], line(0, i), "stored #{i}");
        assert_eq!(m["seq"], i as i64 + 1);
    }
    assert!(sender.drain("error").is_empty(), "no send was refused");
}

async fn burst_over_websocket(backend: Backend) {
    let app = desk(backend, 1).await;
    one_socket_burst(&app, Transport::WebSocket).await;
}
both!(
    a_burst_from_one_socket_keeps_its_order,
    burst_over_websocket
);

async fn burst_over_polling(backend: Backend) {
    let app = desk(backend, 1).await;
    one_socket_burst(&app, Transport::Polling).await;
}
both!(
    a_burst_over_long_polling_keeps_its_order,
    burst_over_polling
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_its_order_with_four_writer_pipelines() {
    let app = desk(Backend::Postgres, 4).await;
    one_socket_burst(&app, Transport::WebSocket).await;
}

/// The answers (acks) come back in the order of the sends, with `seq` ascending.
async fn acks_in_order(backend: Backend) {
    let app = desk(backend, 1).await;
    let sender = app.socket().await;
    let session_id = app.open_session(&sender).await;
    let mut pending = Vec::new();
    for n in 0..60 {
        let payload = json!({ "sessionId": session_id, "content": line(0, n) });
        pending.push(sender.try_ack("user_message", payload, Duration::from_secs(20)));
    }
    let acks = futures::future::join_all(pending).await;
    for (n, ack) in acks.into_iter().enumerate() {
        let ack = ack.unwrap_or_else(|| panic!("no ack for message {n}"));
        assert_eq!(ack["ok"], true, "{ack}");
        assert_eq!(ack["data"]["content"], line(0, n));
        assert_eq!(ack["data"]["seq"], n as i64 + 1);
    }
}
both!(every_send_is_answered_with_its_own_seq, acks_in_order);

/// 20 sockets burst into one session at once: messages interleave, each sender's own
/// order holds.
async fn twenty_senders(backend: Backend) {
    const SENDERS: usize = 20;
    const EACH: usize = 30;
    let app = desk(backend, 1).await;
    let first = app.socket().await;
    let session_id = app.open_session(&first).await;
    let watcher = app.socket().await;
    watcher
        .ack("init_session", json!({ "sessionId": session_id }))
        .await;
    let mut senders = vec![first];
    for _ in 1..SENDERS {
        let s = app.socket().await;
        s.ack("init_session", json!({ "sessionId": session_id }))
            .await;
        senders.push(s);
    }
    for (who, s) in senders.iter().enumerate() {
        burst(s, &session_id, who, EACH);
    }
    let got = collect(&watcher, SENDERS * EACH).await;
    assert_sender_order(&got, SENDERS, EACH);
    let stored = app.history(&session_id).await;
    assert_eq!(stored.len(), SENDERS * EACH);
    assert_sender_order(&stored, SENDERS, EACH);
}
both!(
    twenty_sockets_bursting_each_keep_their_order,
    twenty_senders
);

/// A `read` sent right after a message (without waiting for its ack) is applied after it:
/// it may name the message's `seq`.
async fn read_after_message(backend: Backend) {
    let app = desk(backend, 1).await;
    let visitor = app.socket().await;
    let session_id = app.open_session(&visitor).await;
    let staff = app.staff_socket().await;
    assert!(staff.drain("error").is_empty());
    staff
        .ack("init_session", json!({ "sessionId": session_id }))
        .await;
    for round in 1..=10i64 {
        for n in 0..10 {
            staff.emit(
                "admin_message",
                json!({ "sessionId": session_id, "content": format!("answer {round}.{n}") }),
            );
        }
        let read = staff
            .ack(
                "read",
                json!({ "sessionId": session_id, "seq": round * 10 }),
            )
            .await;
        assert_eq!(read["ok"], true, "{read}");
        assert_eq!(
            read["data"]["seq"],
            round * 10,
            "the read was applied before the message it follows"
        );
    }
}
both!(
    a_read_right_after_a_message_sees_that_message,
    read_after_message
);

/// One slow operation of a connection holds back only that connection.
async fn others_are_not_held_back(backend: Backend) {
    let app = desk(backend, 1).await;
    let busy = app.socket().await;
    let busy_session = app.open_session(&busy).await;
    // a queue of history reads on one socket
    for _ in 0..50 {
        busy.emit(
            "get_history",
            json!({ "sessionId": busy_session, "limit": 100 }),
        );
    }
    // another connection is answered meanwhile
    let other = app.socket().await;
    let session_id = app.open_session(&other).await;
    let ack = other
        .ack(
            "user_message",
            json!({ "sessionId": session_id, "content": "hello" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
}
both!(
    a_busy_connection_does_not_hold_back_others,
    others_are_not_held_back
);

/// With several nodes: a visitor's burst on node A reaches an agent on node B (through
/// Redis) in the sent order, and a second visitor socket on B as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_keeps_its_order_across_two_nodes() {
    let (a, b) = common::two_nodes(|c| c.socket_events_burst = 2 * BURST as u32).await;
    let sender = a.socket().await;
    let session_id = a.open_session(&sender).await;
    let token = b.admin_token().await;
    let agent = b.socket_as("/admin", &token).await;
    let joined = agent
        .ack("join_session", json!({ "sessionId": session_id }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");
    let watcher = b.socket().await;
    watcher
        .ack("init_session", json!({ "sessionId": session_id }))
        .await;

    burst(&sender, &session_id, 0, BURST);

    assert_sender_order(&collect(&agent, BURST).await, 1, BURST);
    assert_sender_order(&collect(&watcher, BURST).await, 1, BURST);
    let stored = b.history(&session_id).await;
    let contents: Vec<&str> = stored
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    let want: Vec<String> = (0..BURST).map(|n| line(0, n)).collect();
    assert_eq!(contents, want, "stored order");
}

/// An agent's burst of `admin_message` on "/admin" keeps its order too, as the visitor sees
/// it and as it is stored.
async fn agent_burst(backend: Backend) {
    let app = desk(backend, 1).await;
    let visitor = app.socket().await;
    let session_id = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    let joined = agent
        .ack("join_session", json!({ "sessionId": session_id }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");
    for n in 0..BURST {
        agent.emit(
            "admin_message",
            json!({ "sessionId": session_id, "content": line(0, n), "clientMsgId": format!("a-{n}") }),
        );
    }
    assert_sender_order(&collect(&visitor, BURST).await, 1, BURST);
    let stored = app.history(&session_id).await;
    for (i, m) in stored.iter().enumerate() {
        assert_eq!(m["content"], line(0, i), "stored #{i}");
        assert_eq!(m["sender"], "admin");
    }
    assert_eq!(stored.len(), BURST);
    assert!(agent.drain("error").is_empty(), "no send was refused");
}
both!(an_agent_burst_keeps_its_order, agent_burst);

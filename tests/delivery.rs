//! Delivery under pressure: a client that cannot keep up is disconnected, never silently
//! skipped, so that it resumes and misses nothing; one that stops reading is closed; the
//! agents' per-session updates are merged instead of one per message.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::{Backend, SioClient, TestApp};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// An agent on "/admin" that joins sessions and keeps every `(sessionId, seq)` it has seen,
/// live or by catching up after a reconnect (as the console does: join again, then page back
/// with `get_history` to the last `seq` it had).
struct Agent {
    socket: SioClient,
    seen: HashMap<String, BTreeSet<i64>>,
    reconnects: usize,
}

impl Agent {
    async fn connect(app: &TestApp, token: &str) -> Agent {
        Agent {
            socket: app.socket_as("/admin", token).await,
            seen: HashMap::new(),
            reconnects: 0,
        }
    }

    /// Joins a session and fills the holes below the newest messages from its history;
    /// false if the connection closed meanwhile.
    async fn join(&mut self, sid: &str) -> bool {
        let Some(ack) = self
            .request("join_session", json!({ "sessionId": sid }))
            .await
        else {
            return false;
        };
        assert_eq!(ack["ok"], true, "{ack}");
        self.note_all(sid, &ack["data"]["messages"]);
        while let Some(before) = self.lowest_gap_top(sid) {
            let Some(page) = self
                .request(
                    "get_history",
                    json!({ "sessionId": sid, "beforeSeq": before, "limit": 100 }),
                )
                .await
            else {
                return false;
            };
            assert_eq!(page["ok"], true, "{page}");
            let msgs = &page["data"]["messages"];
            if msgs.as_array().is_none_or(|m| m.is_empty()) {
                break;
            }
            self.note_all(sid, msgs);
        }
        true
    }

    async fn request(&self, event: &str, data: Value) -> Option<Value> {
        self.socket
            .try_ack(event, data, Duration::from_secs(10))
            .await
    }

    /// The lowest `seq` above a hole in what this agent has (where to page back from).
    fn lowest_gap_top(&self, sid: &str) -> Option<i64> {
        let seen = self.seen.get(sid)?;
        (1..)
            .zip(seen)
            .find(|(want, seq)| want != *seq)
            .map(|(_, seq)| *seq)
    }

    fn note_all(&mut self, sid: &str, messages: &Value) {
        for m in messages.as_array().into_iter().flatten() {
            if let Some(seq) = m["seq"].as_i64() {
                self.seen.entry(sid.to_string()).or_default().insert(seq);
            }
        }
    }

    /// Per session, the `seq`s up to the highest seen anywhere that this agent has not seen.
    fn missing(&self, sessions: &[String]) -> Vec<(String, Vec<i64>)> {
        let each = self
            .seen
            .values()
            .filter_map(|s| s.last())
            .max()
            .copied()
            .unwrap_or(0);
        sessions
            .iter()
            .filter_map(|sid| {
                let seen = self.seen.get(sid);
                let gone: Vec<i64> = (1..=each)
                    .filter(|q| !seen.is_some_and(|s| s.contains(q)))
                    .collect();
                (!gone.is_empty()).then(|| (sid[..8].to_string(), gone))
            })
            .collect()
    }

    fn total(&self) -> usize {
        self.seen.values().map(BTreeSet::len).sum()
    }

    /// Joins every session, reconnecting (and joining again) each time the server closes
    /// the connection.
    async fn join_all(&mut self, app: &TestApp, token: &str, sessions: &[String]) {
        'again: loop {
            for sid in sessions {
                if !self.join(sid).await {
                    self.reconnect(app, token).await;
                    continue 'again;
                }
            }
            return;
        }
    }

    async fn reconnect(&mut self, app: &TestApp, token: &str) {
        self.reconnects += 1;
        assert!(self.reconnects < 50, "the agent never caught up");
        self.socket = app.socket_as("/admin", token).await;
    }

    /// Takes live messages until it has `want` in all; each time the server closes the
    /// connection, it reconnects and catches up as the console does.
    async fn collect(&mut self, app: &TestApp, token: &str, sessions: &[String], want: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while self.total() < want {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the agent has {} of {want} messages and the server never told it it missed any; \
                 missing (session, seqs): {:?}",
                self.total(),
                self.missing(sessions)
            );
            match self
                .socket
                .next_within("message", Duration::from_millis(200))
                .await
            {
                Some(m) => {
                    let sid = m["sessionId"].as_str().unwrap_or_default().to_string();
                    self.note_all(&sid, &json!([m]));
                }
                None if self.socket.is_closed() => {
                    self.reconnect(app, token).await;
                    self.join_all(app, token, sessions).await;
                }
                None => {}
            }
        }
    }
}

/// An agent joined to 100 sessions while every visitor bursts: with a small outgoing buffer
/// it cannot take every packet; it is disconnected, catches up, and has every message.
async fn a_slow_agent_misses_nothing(backend: Backend) {
    const SESSIONS: usize = 100;
    const EACH: usize = 20;
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.socket_buffer_packets = 16;
    })
    .await;
    let token = app.admin_token().await;
    let mut visitors = Vec::new();
    let mut sessions = Vec::new();
    for _ in 0..SESSIONS {
        let v = app.socket().await;
        sessions.push(app.open_session(&v).await);
        visitors.push(v);
    }
    let mut agent = Agent::connect(&app, &token).await;
    agent.join_all(&app, &token, &sessions).await;
    for round in 0..EACH {
        for (v, sid) in visitors.iter().zip(&sessions) {
            v.emit(
                "user_message",
                json!({ "sessionId": sid, "content": format!("m{round}") }),
            );
        }
    }
    // What was stored: a visitor's `get_history` after its burst is answered only once every
    // send before it is (stored, or refused with `overloaded` when the database falls behind,
    // which the sender is told); a visitor the server disconnected is read over REST.
    let mut stored: HashMap<String, BTreeSet<i64>> = HashMap::new();
    let reads = visitors.iter().zip(&sessions).map(|(v, sid)| async move {
        let page = v
            .try_ack(
                "get_history",
                json!({ "sessionId": sid, "limit": 100 }),
                Duration::from_secs(20),
            )
            .await
            .filter(|p| p["ok"] == true);
        (sid, page)
    });
    for (sid, page) in futures::future::join_all(reads).await {
        let messages = match page {
            Some(p) => p["data"]["messages"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            None => app.history(sid).await,
        };
        let seqs: BTreeSet<i64> = messages.iter().filter_map(|m| m["seq"].as_i64()).collect();
        assert!(
            seqs.len() <= EACH,
            "{sid}: {} stored of {EACH} sent",
            seqs.len()
        );
        stored.insert(sid.clone(), seqs);
    }
    let want: usize = stored.values().map(BTreeSet::len).sum();
    assert!(want > SESSIONS * EACH / 2, "only {want} stored");
    agent.collect(&app, &token, &sessions, want).await;
    for sid in &sessions {
        let missed: Vec<&i64> = stored[sid].difference(&agent.seen[sid]).collect();
        assert!(
            missed.is_empty(),
            "{sid}: stored, never seen by the agent: {missed:?}"
        );
    }
    eprintln!(
        "{want} of {} messages stored; the agent was disconnected {} times and caught up",
        SESSIONS * EACH,
        agent.reconnects
    );
}
both!(
    an_agent_that_cannot_keep_up_is_disconnected_and_misses_nothing,
    a_slow_agent_misses_nothing
);

/// A client that stops reading is closed once its buffer is full, instead of staying in its
/// rooms while everything sent to it is dropped.
async fn a_non_reader_is_closed(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.socket_buffer_packets = 16;
    })
    .await;
    let talker = app.socket().await;
    let sid = app.open_session(&talker).await;

    // a raw socket.io client over WebSocket that joins the session, then reads nothing
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        app.port
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let open = ws.next().await.expect("open").expect("open frame");
    assert!(open.to_text().unwrap_or("").starts_with('0'), "{open:?}");
    ws.send(Message::text("40")).await.expect("connect");
    loop {
        let m = ws.next().await.expect("frame").expect("frame");
        if m.to_text().unwrap_or("").starts_with("40") {
            break;
        }
    }
    ws.send(Message::text(format!(
        r#"420["init_session",{{"sessionId":"{sid}"}}]"#
    )))
    .await
    .expect("init");

    // 16 MB for it while it reads nothing (more than the kernel's socket buffers hold)
    let content = "x".repeat(8_000);
    for n in 0..2_000 {
        let ack = talker
            .try_ack(
                "user_message",
                json!({ "sessionId": sid, "content": content }),
                Duration::from_secs(20),
            )
            .await
            .unwrap_or_else(|| panic!("message {n} not answered"));
        assert_eq!(ack["ok"], true, "{ack}");
    }
    // the server closed it: reading now drains what was in flight, then the stream ends
    let closed = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Close(_)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "a client that read nothing was left connected"
    );
    // the reader still works for everyone else
    let ack = talker
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "still here" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
}
both!(
    a_client_that_stops_reading_is_closed,
    a_non_reader_is_closed
);

/// Many messages of one session in a short time reach an agent as a few merged
/// `session_updated`, the last carrying the latest state.
async fn updates_are_merged(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.agent_update_ms = 250;
    })
    .await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let mut pending = Vec::new();
    for n in 0..200 {
        pending.push(visitor.try_ack(
            "user_message",
            json!({ "sessionId": sid, "content": format!("m{n}") }),
            Duration::from_secs(20),
        ));
    }
    for ack in futures::future::join_all(pending).await {
        assert_eq!(ack.expect("answered")["ok"], true);
    }
    // the last update says 200 messages, and far fewer than 200 updates came
    let mut updates = Vec::new();
    loop {
        let u = agent.next("session_updated").await;
        let done = u["sessionId"] == sid.as_str() && u["lastSeq"] == 200;
        updates.push(u);
        if done {
            break;
        }
    }
    let about_it = updates
        .iter()
        .filter(|u| u["sessionId"] == sid.as_str())
        .count();
    assert!(
        about_it < 50,
        "{about_it} session_updated for 200 messages: not merged"
    );
    let last = updates.last().expect("an update");
    assert_eq!(last["unread"], 200, "{last}");
    assert_eq!(last["lastMessage"]["content"], "m199", "{last}");
}
both!(per_session_agent_updates_are_merged, updates_are_merged);

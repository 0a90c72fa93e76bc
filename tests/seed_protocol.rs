//! The seed-compatible protocol (PROTOCOL.md part 1) against a real server, on SQLite and
//! PostgreSQL: the seed flow, rooms, echo, ordering, resume, transports, REST shapes.

mod common;

use std::time::Duration;

use common::{Backend, ConnectOpts, Transport};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(300);

fn is_rfc3339_millis(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 24
        && b[10] == b'T'
        && b[19] == b'.'
        && s.ends_with('Z')
        && chrono::DateTime::parse_from_rfc3339(s).is_ok()
}

async fn seed_flow_works_on(backend: Backend, transport: Transport) {
    let app = common::spawn_app(backend).await;
    let visitor = app.socket_with(transport, ConnectOpts::default()).await;
    let ack = visitor
        .ack("init_session", json!({ "sessionId": null }))
        .await;
    let sid = ack["sessionId"].as_str().expect("sessionId").to_string();
    assert!(uuid::Uuid::parse_str(&sid).is_ok());
    assert_eq!(ack["resumed"], json!(false));

    visitor.emit(
        "user_message",
        json!({ "sessionId": sid, "content": "Hello, I need help!" }),
    );
    let m = visitor.next("message").await;
    assert_eq!(m["sender"], "user");
    assert_eq!(m["content"], "Hello, I need help!");
    assert_eq!(m["isAI"], false);
    assert_eq!(m["seq"], 1);
    assert_eq!(m["sessionId"], sid.as_str());
    assert!(m["id"].is_string() && m["chatSessionId"].is_string());
    assert!(
        is_rfc3339_millis(m["createdAt"].as_str().unwrap_or_default()),
        "{m}"
    );

    let token = app.admin_token().await;
    let admin_opts = ConnectOpts {
        auth: Some(json!({ "token": token })),
        ..Default::default()
    };
    let admin = app.socket_with(transport, admin_opts).await;
    let joined = admin.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(joined["sessionId"], sid.as_str());
    assert_eq!(joined["resumed"], true);
    admin.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "How can I assist you today?" }),
    );
    for s in [&visitor, &admin] {
        let m = s.next("message").await;
        assert_eq!(m["sender"], "admin");
        assert_eq!(m["seq"], 2);
        assert_eq!(m["content"], "How can I assist you today?");
    }
    let history = app.history(&sid).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["content"], "Hello, I need help!");
    assert_eq!(history[1]["sender"], "admin");
}

async fn seed_flow_over_websocket(backend: Backend) {
    seed_flow_works_on(backend, Transport::WebSocket).await
}
async fn seed_flow_over_polling(backend: Backend) {
    seed_flow_works_on(backend, Transport::Polling).await
}
both!(seed_flow_websocket, seed_flow_over_websocket);
both!(seed_flow_polling, seed_flow_over_polling);

async fn broadcast_reaches_only_its_room(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let a = app.socket().await;
    let b = app.socket().await;
    let sa = app.open_session(&a).await;
    let sb = app.open_session(&b).await;
    assert_ne!(sa, sb);
    a.emit(
        "user_message",
        json!({ "sessionId": sa, "content": "for A" }),
    );
    assert_eq!(a.next("message").await["content"], "for A");
    b.emit(
        "user_message",
        json!({ "sessionId": sb, "content": "for B" }),
    );
    assert_eq!(b.next("message").await["content"], "for B");
    assert!(
        a.next_within("message", QUIET).await.is_none(),
        "A got B's message"
    );
    assert!(
        b.next_within("message", QUIET).await.is_none(),
        "B got A's message"
    );
}
both!(broadcast_room_only, broadcast_reaches_only_its_room);

async fn sender_echo_can_be_switched_off(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.echo_to_sender = false).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let agent = app.socket().await;
    agent.ack("init_session", json!({ "sessionId": sid })).await;
    let ack = visitor
        .ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(agent.next("message").await["content"], "hi");
    assert!(
        visitor.next_within("message", QUIET).await.is_none(),
        "sender was echoed"
    );
}
both!(echo_off, sender_echo_can_be_switched_off);

async fn seq_is_gap_free_and_ordered_under_20_concurrent_senders(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await;
    let watcher = app.socket().await;
    let sid = app.open_session(&watcher).await;
    let mut senders = Vec::new();
    for _ in 0..20 {
        let s = app.socket().await;
        s.ack("init_session", json!({ "sessionId": sid })).await;
        senders.push(s);
    }
    let per = 10;
    let mut tasks = Vec::new();
    for (i, s) in senders.into_iter().enumerate() {
        let sid = sid.clone();
        tasks.push(tokio::spawn(async move {
            for j in 0..per {
                let ack = s
                    .ack(
                        "user_message",
                        json!({ "sessionId": sid, "content": format!("{i}-{j}") }),
                    )
                    .await;
                assert_eq!(ack["ok"], true, "{ack}");
            }
            s
        }));
    }
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(t.await.expect("sender task"));
    }
    let total = 20 * per;
    let mut seqs = Vec::new();
    for _ in 0..total {
        seqs.push(watcher.next("message").await["seq"].as_i64().unwrap_or(-1));
    }
    let expected: Vec<i64> = (1..=total as i64).collect();
    assert_eq!(
        seqs, expected,
        "watcher saw messages out of order or with gaps"
    );
    let stored: Vec<i64> = app
        .history(&sid)
        .await
        .iter()
        .map(|m| m["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(stored, expected);
}
both!(
    concurrent_senders,
    seq_is_gap_free_and_ordered_under_20_concurrent_senders
);

async fn resume_by_session_id_and_last_seq(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let first = app.socket().await;
    let sid = app.open_session(&first).await;
    for i in 1..=5 {
        first
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("m{i}") }),
            )
            .await;
    }
    drop(first);
    let again = app.socket().await;
    let ack = again
        .ack("init_session", json!({ "sessionId": sid, "lastSeq": 2 }))
        .await;
    assert_eq!(ack["sessionId"], sid.as_str());
    assert_eq!(ack["resumed"], true);
    assert_eq!(ack["lastSeq"], 5);
    assert_eq!(ack["hasMore"], false);
    let seqs: Vec<i64> = ack["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| m["seq"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(seqs, vec![3, 4, 5]);
    // and it is in the room again: the next message arrives live
    let other = app.staff_socket().await;
    other.ack("init_session", json!({ "sessionId": sid })).await;
    other.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "back?" }),
    );
    assert_eq!(again.next("message").await["seq"], 6);
}
both!(resume, resume_by_session_id_and_last_seq);

async fn stale_or_malformed_session_ids_start_new_sessions(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let s = app.socket().await;
    let stale = uuid::Uuid::new_v4().to_string();
    for payload in [
        json!({ "sessionId": stale }),
        json!({ "sessionId": "nope" }),
        json!({ "sessionId": 42 }),
        json!({}),
        json!(null),
        json!("text"),
    ] {
        let ack = s.ack("init_session", payload.clone()).await;
        let got = ack["sessionId"].as_str().unwrap_or_default();
        assert!(uuid::Uuid::parse_str(got).is_ok(), "{payload} -> {ack}");
        assert_ne!(got, stale);
        assert_eq!(ack["resumed"], false, "{payload}");
        assert_eq!(ack["status"], "open");
        assert_eq!(ack["code"].as_str().map(str::len), Some(6));
    }
    // init_session with no argument at all still answers
    let ack = s
        .try_ack("init_session", Value::Null, Duration::from_secs(5))
        .await
        .expect("ack");
    assert!(ack["sessionId"].is_string());
}
both!(stale_ids, stale_or_malformed_session_ids_start_new_sessions);

async fn bad_input_gets_stable_codes_and_stores_nothing(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let s = app.staff_socket().await; // staff may send both events
    let sid = app.open_session(&s).await;
    let long = "x".repeat(10_001);
    let cases = [
        (
            json!({ "sessionId": sid, "content": 123 }),
            "invalid_payload",
        ),
        (
            json!({ "sessionId": sid, "content": "" }),
            "invalid_payload",
        ),
        (
            json!({ "sessionId": sid, "content": "   " }),
            "invalid_payload",
        ),
        (json!({ "sessionId": sid }), "invalid_payload"),
        (json!({ "content": "hi" }), "invalid_payload"),
        (
            json!({ "sessionId": 7, "content": "hi" }),
            "invalid_payload",
        ),
        (
            json!({ "sessionId": "not-a-uuid", "content": "hi" }),
            "invalid_payload",
        ),
        (json!("just a string"), "invalid_payload"),
        (json!([1, 2]), "invalid_payload"),
        (
            json!({ "sessionId": uuid::Uuid::new_v4().to_string(), "content": "hi" }),
            "session_not_found",
        ),
        (
            json!({ "sessionId": sid, "content": long }),
            "content_too_long",
        ),
        (
            json!({ "sessionId": sid, "content": "hi", "clientMsgId": {"a": 1} }),
            "invalid_payload",
        ),
    ];
    for (payload, code) in &cases {
        for event in ["user_message", "admin_message"] {
            let ack = s.ack(event, payload.clone()).await;
            assert_eq!(ack["ok"], false, "{event} {payload}");
            assert_eq!(ack["error"]["code"], *code, "{event} {payload} -> {ack}");
            assert!(ack["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()));
        }
    }
    // Without an ack the failure arrives as an `error` event.
    s.emit("user_message", json!({ "sessionId": sid, "content": 5 }));
    let err = s.next("error").await;
    assert_eq!(err["code"], "invalid_payload");
    assert_eq!(err["event"], "user_message");
    s.emit_args(vec![json!("user_message")]);
    assert_eq!(s.next("error").await["code"], "invalid_payload");
    // Exactly 10,000 characters is accepted; the server still serves.
    let ok = s
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "y".repeat(10_000) }),
        )
        .await;
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["data"]["seq"], 1);
    assert!(s.drain("message").len() <= 1);
    assert_eq!(app.history(&sid).await.len(), 1, "bad input was stored");
}
both!(bad_input, bad_input_gets_stable_codes_and_stores_nothing);

async fn rest_shapes_match_the_seed(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.insecure_open_admin = true).await;
    assert_eq!(app.get_json("/health").await, json!({ "status": "ok" }));
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    s.ack(
        "user_message",
        json!({ "sessionId": sid, "content": "Hello!" }),
    )
    .await;
    let chats = app.get_json("/api/chats").await;
    let chat = &chats[0];
    for key in [
        "id",
        "sessionId",
        "ip",
        "userAgent",
        "createdAt",
        "messages",
    ] {
        assert!(chat.get(key).is_some(), "missing {key} in {chat}");
    }
    assert_eq!(chat["sessionId"], sid.as_str());
    assert_eq!(chat["ip"], "127.0.0.1");
    let msg = &chat["messages"][0];
    let keys: Vec<&str> = [
        "id",
        "sender",
        "content",
        "createdAt",
        "isAI",
        "chatSessionId",
    ]
    .to_vec();
    for key in keys {
        assert!(msg.get(key).is_some(), "missing {key} in {msg}");
    }
    assert_eq!(msg["chatSessionId"], chat["id"]);
    assert_eq!(
        app.get_json(&format!("/api/chats/{}", uuid::Uuid::new_v4()))
            .await,
        json!([])
    );
    assert_eq!(app.get_json("/api/chats/not-a-session").await, json!([]));
    let one = app.get_json(&format!("/api/chats/{sid}")).await;
    assert_eq!(one[0]["content"], "Hello!");
}
both!(rest_shapes, rest_shapes_match_the_seed);

async fn chat_list_is_paginated_newest_first(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.chats_page_limit = 3;
        c.insecure_open_admin = true;
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        // One socket each: a socket asking again while its session is empty gets it back.
        let s = app.socket().await;
        ids.push(app.open_session(&s).await);
        tokio::time::sleep(Duration::from_millis(5)).await; // distinct creation instants
    }
    let resp = app.get("/api/chats").await;
    let next = resp
        .headers()
        .get("x-next-before")
        .and_then(|v| v.to_str().ok())
        .map(String::from)
        .expect("cursor");
    let page1: Value = resp.json().await.expect("json");
    let got: Vec<&str> = page1
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["sessionId"].as_str())
        .collect();
    assert_eq!(got, vec![ids[4].as_str(), ids[3].as_str(), ids[2].as_str()]);
    let page2 = app
        .get_json(&format!("/api/chats?before={}", next.replace('+', "%2B")))
        .await;
    let got2: Vec<&str> = page2
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["sessionId"].as_str())
        .collect();
    assert_eq!(got2, vec![ids[1].as_str(), ids[0].as_str()]);
    let small = app.get_json("/api/chats?limit=1").await;
    assert_eq!(small.as_array().map(Vec::len), Some(1));
    let r = app.get("/api/chats?before=yesterday").await;
    assert_eq!(r.status(), 400);
}
both!(chat_list_pagination, chat_list_is_paginated_newest_first);

async fn rest_query_parameters_are_checked_and_empty_ones_mean_absent(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.insecure_open_admin = true).await;
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    for i in 1..=3 {
        s.ack(
            "user_message",
            json!({ "sessionId": sid, "content": format!("m{i}") }),
        )
        .await;
    }
    let seqs = |v: &Value| -> Vec<i64> {
        v.as_array()
            .expect("array")
            .iter()
            .filter_map(|m| m["seq"].as_i64())
            .collect()
    };

    // A URL template filled with nothing: empty values are absent parameters.
    let chats = app
        .get_json("/api/chats?status=&limit=&before=&assignee=")
        .await;
    assert_eq!(chats.as_array().map(Vec::len), Some(1), "{chats}");
    assert_eq!(chats[0]["sessionId"], sid.as_str());
    let all = app
        .get_json(&format!("/api/chats/{sid}?afterSeq=&limit="))
        .await;
    assert_eq!(seqs(&all), vec![1, 2, 3]);
    let later = app
        .get_json(&format!("/api/chats/{sid}?afterSeq=1&limit="))
        .await;
    assert_eq!(seqs(&later), vec![2, 3]);

    // Values that do not fit: 400 invalid_payload, JSON like every other error.
    let unknown = uuid::Uuid::new_v4();
    for path in [
        "/api/chats?limit=abc".to_string(),
        "/api/chats?limit=-1".to_string(),
        "/api/chats?limit=1.5".to_string(),
        format!("/api/chats/{sid}?afterSeq=x"),
        format!("/api/chats/{sid}?limit=-1"),
        format!("/api/chats/{unknown}?limit=abc"),
    ] {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 400, "GET {path}");
        let body: Value = r.json().await.expect("JSON error body");
        assert_eq!(
            body["error"]["code"], "invalid_payload",
            "GET {path}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "GET {path}: {body}"
        );
    }

    // The customer's list takes the same parameters.
    app.admin_token().await;
    let customer = app.register("c@desk.test", "customer-password").await;
    let mine = |q: &str| {
        app.http
            .get(format!("{}/api/chats/mine{q}", app.url))
            .bearer_auth(&customer)
            .send()
    };
    let r = mine("?limit=&before=").await.expect("GET");
    assert_eq!(r.status(), 200);
    let r = mine("?limit=ten").await.expect("GET");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_payload", "{body}");
}
both!(
    rest_query_parameters,
    rest_query_parameters_are_checked_and_empty_ones_mean_absent
);

/// Sessions created by one INSERT of the session creator share their instant: paging with
/// the cursors the server hands out (`X-Next-Before`, `nextBefore`, `nextAfter` for the
/// queue) still returns every session exactly once. (A bare instant as the cursor lost every
/// session of the page boundary's instant.)
async fn sessions_sharing_an_instant_page_without_gaps(backend: Backend) {
    use sea_orm::sea_query::Expr;
    use sea_orm::EntityTrait;
    let app = common::spawn_app_with(backend, |c| c.chats_page_limit = 3).await;
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..7 {
        // One socket each: a socket asking again while its session is empty gets it back.
        let s = app.socket().await;
        ids.insert(app.open_session(&s).await);
    }
    let db = chatdesk::db::connect(&chatdesk::Config::for_tests(&app.db_url))
        .await
        .expect("db");
    let instant = chrono::DateTime::parse_from_rfc3339("2026-11-25T10:00:00.123Z")
        .expect("instant")
        .with_timezone(&chrono::Utc);
    use entity::chat_session::{Column, Entity};
    let update = Entity::update_many()
        .col_expr(Column::CreatedAt, Expr::value(instant))
        .col_expr(Column::WaitingSince, Expr::value(instant))
        .col_expr(Column::Status, Expr::value("waiting"));
    update.exec(&db).await.expect("one instant for all");
    let token = app.admin_token().await;

    // REST, following X-Next-Before.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..10 {
        let path = match &next {
            Some(c) => format!("/api/chats?before={c}"),
            None => "/api/chats".to_string(),
        };
        let resp = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET /api/chats");
        assert_eq!(resp.status(), 200);
        next = resp
            .headers()
            .get("x-next-before")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let page: Value = resp.json().await.expect("json");
        for c in page.as_array().expect("array") {
            seen.push(c["sessionId"].as_str().expect("sessionId").to_string());
        }
        if next.is_none() {
            break;
        }
    }
    let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 7, "REST pages: {seen:?}");
    assert_eq!(unique, ids, "REST pages");

    // list_sessions, newest first (nextBefore) and in queue order (nextAfter).
    let agent = app.socket_as("/admin", &token).await;
    for (query, key, cursor_name) in [
        (json!({ "limit": 3 }), "nextBefore", "before"),
        (
            json!({ "limit": 3, "status": "waiting" }),
            "nextAfter",
            "after",
        ),
    ] {
        let mut seen = Vec::new();
        let mut q = query.clone();
        for _ in 0..10 {
            let ack = agent.ack("list_sessions", q.clone()).await;
            assert_eq!(ack["ok"], true, "{ack}");
            for c in ack["data"]["sessions"].as_array().expect("sessions") {
                seen.push(c["sessionId"].as_str().expect("sessionId").to_string());
            }
            match ack["data"][key].as_str() {
                Some(c) => {
                    assert_eq!(ack["data"]["hasMore"], true);
                    q[cursor_name] = json!(c);
                }
                None => {
                    assert_eq!(ack["data"]["hasMore"], false, "{ack}");
                    break;
                }
            }
        }
        let unique: std::collections::BTreeSet<String> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), 7, "{key} pages: {seen:?}");
        assert_eq!(unique, ids, "{key} pages");
    }
}
both!(
    chat_list_shared_instant,
    sessions_sharing_an_instant_page_without_gaps
);

/// The client went through an internal proxy (10.0.0.1) before the one chatdesk trusts: with
/// one trusted hop the client is what that nearest proxy saw, with two the address before it.
async fn ip_comes_from_forwarded_for_only_behind_a_trusted_proxy(backend: Backend) {
    for (trust, hops, expected) in [
        (false, 1, "127.0.0.1"),
        (true, 1, "10.0.0.1"),
        (true, 2, "203.0.113.9"),
    ] {
        let app = common::spawn_app_with(backend, |c| {
            c.trust_proxy = trust;
            c.trust_proxy_hops = hops;
            c.insecure_open_admin = true;
        })
        .await;
        let opts = ConnectOpts {
            headers: vec![
                ("x-forwarded-for".into(), "203.0.113.9, 10.0.0.1".into()),
                ("user-agent".into(), "SeedWidget/1.0".into()),
            ],
            ..Default::default()
        };
        let s = app.socket_with(Transport::WebSocket, opts).await;
        app.open_session(&s).await;
        let chats = app.get_json("/api/chats").await;
        assert_eq!(chats[0]["ip"], expected, "trust_proxy={trust}, hops={hops}");
        assert_eq!(chats[0]["userAgent"], "SeedWidget/1.0");
    }
}
both!(
    forwarded_for,
    ip_comes_from_forwarded_for_only_behind_a_trusted_proxy
);

async fn data_survives_a_restart(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    s.ack(
        "user_message",
        json!({ "sessionId": sid, "content": "before restart" }),
    )
    .await;
    drop(s);
    let app = app.restart(|_| {}).await;
    let s = app.socket().await;
    let ack = s.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(ack["resumed"], true);
    let m = s
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "after" }),
        )
        .await;
    assert_eq!(m["data"]["seq"], 2);
    let h = app.history(&sid).await;
    assert_eq!(h[0]["content"], "before restart");
}
both!(restart, data_survives_a_restart);

async fn graceful_shutdown_loses_nothing_acknowledged(backend: Backend) {
    let mut app = common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await;
    let mut clients = Vec::new();
    for _ in 0..5 {
        let s = app.socket().await;
        let sid = app.open_session(&s).await;
        clients.push((s, sid));
    }
    let mut tasks = Vec::new();
    for (s, sid) in clients {
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..400 {
                match s
                    .try_ack(
                        "user_message",
                        json!({ "sessionId": sid, "content": format!("n{i}") }),
                        Duration::from_secs(5),
                    )
                    .await
                {
                    Some(a) if a["ok"] == true => {
                        acked.push(a["data"]["seq"].as_i64().unwrap_or(-1))
                    }
                    _ => break,
                }
            }
            (sid, acked)
        }));
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.stop().await;
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("client task"));
    }
    let app = app.restart(|_| {}).await;
    let mut total_acked = 0;
    for (sid, acked) in results {
        total_acked += acked.len();
        let stored: Vec<i64> = app
            .history(&sid)
            .await
            .iter()
            .map(|m| m["seq"].as_i64().unwrap_or(-1))
            .collect();
        let expected: Vec<i64> = (1..=stored.len() as i64).collect();
        assert_eq!(stored, expected, "stored seq has gaps or duplicates");
        for seq in acked {
            assert!(stored.contains(&seq), "acknowledged seq {seq} lost");
        }
    }
    assert!(total_acked > 0, "nothing was acknowledged before shutdown");
}
both!(
    graceful_shutdown,
    graceful_shutdown_loses_nothing_acknowledged
);

async fn events_sent_right_after_connect_are_handled(backend: Backend) {
    // Handlers are installed before the server confirms the connection; a client that
    // emits the moment it is connected must never lose that event.
    let app = common::spawn_app(backend).await;
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let url = app.url.clone();
        tasks.push(tokio::spawn(async move {
            let s = common::SioClient::connect(&url, Transport::WebSocket, ConnectOpts::default())
                .await
                .expect("connect");
            s.try_ack("init_session", json!({}), Duration::from_secs(5))
                .await
                .is_some()
        }));
    }
    for t in tasks {
        assert!(
            t.await.expect("task"),
            "an init_session sent right after connect got no ack"
        );
    }
}
both!(early_events, events_sent_right_after_connect_are_handled);

async fn sends_never_fail_while_other_writes_commit(backend: Backend) {
    // Other writes commit while messages are being stored; on SQLite a deferred
    // transaction that reads before it writes fails with SQLITE_BUSY_SNAPSHOT.
    let app = common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let s = app.socket().await;
        s.ack("init_session", json!({ "sessionId": sid })).await;
        let (stop, sid) = (stop.clone(), sid.clone());
        readers.push(tokio::spawn(async move {
            // Other visitors arriving: every init_session without an id commits a new session.
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && n < 10_000 {
                n += 1;
                let _ = s
                    .try_ack("init_session", json!({}), std::time::Duration::from_secs(5))
                    .await;
            }
            let _ = sid;
        }));
    }
    let mut failures = Vec::new();
    let mut posts = Vec::new();
    for i in 0..80 {
        let (http, url, token, sid) = (
            app.http.clone(),
            app.url.clone(),
            token.clone(),
            sid.clone(),
        );
        posts.push(tokio::spawn(async move {
            let r = http
                .post(format!("{url}/api/chats/{sid}/messages"))
                .bearer_auth(&token)
                .json(&json!({ "content": format!("m{i}"), "clientMsgId": format!("c{i}") }))
                .send()
                .await
                .expect("POST");
            (i, r.status())
        }));
        if i % 8 == 7 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    for p in posts {
        let (i, status) = p.await.expect("post task");
        if status != 201 {
            failures.push((i, status));
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }
    assert!(failures.is_empty(), "sends failed: {failures:?}");
    assert_eq!(app.history(&sid).await.len(), 80);
}
both!(
    concurrent_writes,
    sends_never_fail_while_other_writes_commit
);

/// Sessions created together (one group INSERT) each get their own row, announced once.
async fn sessions_opened_at_once_are_distinct_and_each_announced(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    let n = 40;
    let mut visitors = Vec::new();
    for _ in 0..n {
        visitors.push(app.socket().await);
    }
    let mut tasks = Vec::new();
    for (i, v) in visitors.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let ack = v.ack("init_session", json!({})).await;
            let sid = ack["sessionId"].as_str().unwrap_or_default().to_string();
            let code = ack["code"].as_str().unwrap_or_default().to_string();
            // The room is this session's own: a message reaches its sender.
            let sent = v
                .ack(
                    "user_message",
                    json!({ "sessionId": sid, "content": format!("visitor {i}") }),
                )
                .await;
            assert_eq!(sent["ok"], true, "{sent}");
            (sid, code, i, v)
        }));
    }
    let mut sids = std::collections::BTreeSet::new();
    let mut codes = std::collections::BTreeSet::new();
    let mut keep = Vec::new();
    for t in tasks {
        let (sid, code, i, v) = t.await.expect("visitor task");
        assert!(!sid.is_empty() && code.len() == 6, "{sid} {code}");
        let history = app.history(&sid).await;
        assert_eq!(history.len(), 1, "{sid}: {history:?}");
        assert_eq!(history[0]["content"], format!("visitor {i}"));
        sids.insert(sid);
        codes.insert(code);
        keep.push(v);
    }
    assert_eq!(sids.len(), n, "two visitors got the same session");
    assert_eq!(codes.len(), n, "two sessions got the same code");
    let mut announced = std::collections::BTreeSet::new();
    for _ in 0..n {
        let c = agent.next("session_created").await;
        assert!(
            announced.insert(c["sessionId"].as_str().unwrap_or_default().to_string()),
            "announced twice: {c}"
        );
    }
    assert_eq!(announced, sids);
    let listed: Value = app
        .http
        .get(format!("{}/api/chats?limit=100", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET /api/chats")
        .json()
        .await
        .expect("json");
    let listed: std::collections::BTreeSet<String> = listed
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["sessionId"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(sids.is_subset(&listed), "sessions missing from /api/chats");
}
both!(
    sessions_at_once,
    sessions_opened_at_once_are_distinct_and_each_announced
);

/// A member that stops reading fills its buffers and then loses packets; everyone else in the
/// room still gets each message exactly once (a broadcast that some sockets could not take is
/// not sent again to the others).
async fn a_stalled_member_costs_the_others_nothing(backend: Backend) {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    let app = common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await;
    let sender = app.socket().await;
    let sid = app.open_session(&sender).await;
    let watcher = app.socket().await;
    watcher
        .ack("init_session", json!({ "sessionId": sid }))
        .await;

    // The stalled member: a raw WebSocket with a small receive buffer that joins the session
    // and then never reads again.
    let tcp = tokio::net::TcpSocket::new_v4().expect("socket");
    tcp.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let stream = tcp
        .connect(([127, 0, 0, 1], app.port).into())
        .await
        .expect("connect");
    let url = format!(
        "ws://127.0.0.1:{}/socket.io/?EIO=4&transport=websocket",
        app.port
    );
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream)
        .await
        .expect("ws handshake");
    // Reads until a text frame that starts with `prefix` (other events may come first).
    let until = async |ws: &mut tokio_tungstenite::WebSocketStream<_>, prefix: &str| loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.starts_with(prefix) => return,
            Some(Ok(_)) => continue,
            other => panic!("stalled member, waiting for {prefix}: {other:?}"),
        }
    };
    until(&mut ws, "0").await; // engine.io open
    ws.send(Message::text("40")).await.expect("connect");
    until(&mut ws, "40").await;
    ws.send(Message::text(format!(
        r#"420["init_session",{{"sessionId":"{sid}"}}]"#
    )))
    .await
    .expect("init_session");
    until(&mut ws, "430").await;

    let filler = "x".repeat(9_000);
    let n = 600; // about 5.4 MB: more than the stalled member's buffers hold
    for i in 0..n {
        let ack = sender
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("{i} {filler}") }),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    for expected in 1..=n {
        let m = watcher.next("message").await;
        assert_eq!(m["seq"], expected, "watcher: duplicate or gap");
    }
    assert!(
        watcher.next_within("message", QUIET).await.is_none(),
        "watcher got a message twice"
    );
    drop(ws);
}
both!(stalled_member, a_stalled_member_costs_the_others_nothing);

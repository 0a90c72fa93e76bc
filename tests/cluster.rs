//! Several nodes, one desk: two servers on one PostgreSQL database and one Redis. Clients on
//! both nodes chat in one session; every message reaches every member of the room exactly
//! once, and `seq` stays gap-free while both nodes write to the session at once.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};

use common::{free_port, redis_url, OwnRedis};

/// Two nodes with default settings.
async fn two_nodes() -> (TestApp, TestApp) {
    common::two_nodes(|_| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_on_one_node_and_an_agent_on_another_chat_normally() {
    let (a, b) = two_nodes().await;
    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    let token = b.admin_token().await;
    let agent = b.socket_as("/admin", &token).await;
    let joined = agent.ack("join_session", json!({ "sessionId": sid })).await;
    assert_eq!(joined["ok"], true, "{joined}");
    // a second visitor tab on node B
    let tab = b.socket().await;
    tab.ack("init_session", json!({ "sessionId": sid })).await;

    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello from A" }),
        )
        .await;
    for s in [&visitor, &agent, &tab] {
        assert_eq!(s.next("message").await["content"], "hello from A");
    }
    agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "hi from B" }),
        )
        .await;
    for s in [&visitor, &agent, &tab] {
        assert_eq!(s.next("message").await["seq"], 2);
    }
    // typing crosses nodes, to the others only
    agent
        .ack("typing", json!({ "sessionId": sid, "isTyping": true }))
        .await;
    assert_eq!(visitor.next("typing").await["sender"], "admin");
    // session_updated reaches agents on the other node
    let claim = agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claim["ok"], true, "{claim}");
    assert_eq!(visitor.next("session_status").await["status"], "assigned");

    // both nodes write to the session at once: gap-free, each delivered exactly once
    let mut tasks = Vec::new();
    for (node, n) in [(&a, 0), (&b, 1)] {
        for k in 0..3 {
            let s = node.socket().await;
            s.ack("init_session", json!({ "sessionId": sid })).await;
            let sid = sid.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let ack = s
                        .ack(
                            "user_message",
                            json!({ "sessionId": sid, "content": format!("n{n}-{k}-{i}") }),
                        )
                        .await;
                    assert_eq!(ack["ok"], true, "{ack}");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let expected: Vec<i64> = (3..=122).collect();
    for s in [&visitor, &tab] {
        let mut seqs: Vec<i64> = Vec::new();
        for _ in 0..120 {
            seqs.push(s.next("message").await["seq"].as_i64().unwrap_or(-1));
        }
        seqs.sort_unstable();
        assert_eq!(
            seqs, expected,
            "a message was lost or duplicated across nodes"
        );
        assert!(
            s.next_within("message", std::time::Duration::from_millis(300))
                .await
                .is_none(),
            "duplicate delivery"
        );
    }
    let stored: Vec<i64> = a
        .history(&sid)
        .await
        .iter()
        .map(|m| m["seq"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(stored, (1..=122).collect::<Vec<i64>>());
    // both nodes are ready (database and Redis answer)
    for node in [&a, &b] {
        let r: Value = node.get_json("/ready").await;
        assert_eq!(r["checks"]["redis"], "ok", "{r}");
        assert_eq!(r["checks"]["database"], "ok");
    }
}

/// Two real server processes on one PostgreSQL database and one Redis.
fn two_processes(
    db_url: &str,
    dir: &std::path::Path,
    extra: &[(&'static str, &str)],
) -> (
    common::ChildServer,
    common::ChildServer,
    Vec<(&'static str, String)>,
) {
    let mut env = vec![
        ("DATABASE_URL", db_url.to_string()),
        ("REDIS_URL", redis_url()),
        (
            "REDIS_PREFIX",
            format!("chatdesk-test-{}", uuid::Uuid::new_v4().simple()),
        ),
        (
            "JWT_SECRET",
            "cluster-process-secret-0123456789abcdef".to_string(),
        ),
        ("RATE_LIMITS", "off".to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let a = common::ChildServer::start(dir, &env);
    let b = common::ChildServer::start(dir, &env);
    (a, b, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_is_killed_clients_resume_on_the_other_and_lose_nothing() {
    use std::time::Duration;
    let (db_url, _dir) = common::fresh_database(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut a, b, _env) = two_processes(&db_url, dir.path(), &[]);
    let node_a = TestApp::remote(&a.url);
    let node_b = TestApp::remote(&b.url);

    // a visitor on A, a watcher tab on B, senders on both
    let visitor = node_a.socket().await;
    let sid = node_a.open_session(&visitor).await;
    let watcher = node_b.socket().await;
    watcher
        .ack("init_session", json!({ "sessionId": sid }))
        .await;
    let mut acked: Vec<i64> = Vec::new();
    for i in 0..30 {
        let (node, who) = if i % 2 == 0 {
            (&visitor, "a")
        } else {
            (&watcher, "b")
        };
        let ack = node
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("{who}{i}") }),
            )
            .await;
        acked.push(ack["data"]["seq"].as_i64().expect("seq"));
    }
    // the visitor saw everything so far, whichever node stored it
    let mut seen: Vec<i64> = Vec::new();
    for _ in 0..30 {
        seen.push(visitor.next("message").await["seq"].as_i64().unwrap_or(-1));
    }
    let last_seen = *seen.iter().max().unwrap_or(&0);

    // node A dies; B keeps storing
    a.kill();
    assert!(
        visitor.closed(Duration::from_secs(10)).await,
        "the visitor noticed A is gone"
    );
    for i in 30..40 {
        let ack = watcher
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("b{i}") }),
            )
            .await;
        acked.push(ack["data"]["seq"].as_i64().expect("seq"));
    }
    // the visitor reconnects to B with lastSeq and misses nothing
    let again = node_b.socket().await;
    let ack = again
        .ack(
            "init_session",
            json!({ "sessionId": sid, "lastSeq": last_seen }),
        )
        .await;
    assert_eq!(ack["resumed"], true);
    for m in ack["messages"].as_array().expect("messages") {
        seen.push(m["seq"].as_i64().unwrap_or(-1));
    }
    seen.sort_unstable();
    seen.dedup();
    for seq in &acked {
        assert!(
            seen.contains(seq),
            "acknowledged seq {seq} lost across the failover"
        );
    }
    assert_eq!(seen, (1..=40).collect::<Vec<i64>>());
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_node_keeps_serving_its_own_sockets_and_reports_not_ready() {
    use std::time::Duration;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let app = common::spawn_app_with(Backend::Postgres, move |c| {
        c.redis_url = Some(url);
        c.redis_prefix = format!("chatdesk-test-{}", uuid::Uuid::new_v4().simple());
    })
    .await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let tab = app.socket().await;
    tab.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(app.get_json("/ready").await["checks"]["redis"], "ok");

    redis.stop();
    let r = app.get("/ready").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["checks"]["redis"], "unreachable");
    // local sockets are still served: stored, acknowledged and delivered
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "while redis is down" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(tab.next("message").await["content"], "while redis is down");

    // Redis comes back: ready again
    let _redis = OwnRedis::start(port);
    let mut ready = false;
    for _ in 0..50 {
        if app.get("/ready").await.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "the node did not report ready after Redis returned");
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "after" }),
        )
        .await;
    assert_eq!(ack["ok"], true);
    assert_eq!(tab.next("message").await["content"], "after");
}

/// The value of a counter (summed over its labels matching `labels`) in `/metrics`.
async fn counter(node: &TestApp, name: &str, labels: &str) -> f64 {
    let text = node.get("/metrics").await.text().await.expect("metrics");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until `/ready` on `node` answers `status`.
async fn ready_becomes(node: &TestApp, status: u16, within_secs: u64) -> bool {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(within_secs);
    while tokio::time::Instant::now() < deadline {
        if node.get("/ready").await.status() == status {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_redis_outage_messages_cross_nodes_again_and_clients_are_told_to_resync() {
    use std::time::Duration;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}");
    let (a, b) = common::two_nodes(move |c| c.redis_url = Some(url.clone())).await;
    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    let token = b.admin_token().await;
    let agent = b.socket_as("/admin", &token).await;
    let joined = agent.ack("join_session", json!({ "sessionId": sid })).await;
    assert_eq!(joined["ok"], true, "{joined}");
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "before" }),
        )
        .await;
    assert_eq!(agent.next("message").await["content"], "before");
    let failures_before = counter(&a, "chatdesk_redis_failures_total", "op=\"broadcast\"").await;

    // Redis goes away: both nodes say they are not ready, A's visitor is still served locally
    redis.stop();
    for node in [&a, &b] {
        assert!(
            ready_becomes(node, 503, 10).await,
            "/ready did not answer 503 without Redis"
        );
    }
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "during" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(visitor.next("message").await["content"], "before");
    assert_eq!(visitor.next("message").await["content"], "during");
    let failures = counter(&a, "chatdesk_redis_failures_total", "op=\"broadcast\"").await;
    assert!(
        failures > failures_before,
        "failed broadcasts not counted: {failures_before} -> {failures}"
    );

    // Redis returns: every socket of both nodes is told to resync
    let _redis = OwnRedis::start(port);
    for s in [&agent, &visitor] {
        let r = s
            .next_within("resync", Duration::from_secs(15))
            .await
            .expect("resync after Redis returned");
        assert_eq!(r, json!({ "reason": "redis" }));
    }
    for node in [&a, &b] {
        assert!(
            ready_becomes(node, 200, 10).await,
            "/ready not 200 after Redis returned"
        );
    }
    // the agent catches up on what it missed ...
    let joined = agent.ack("join_session", json!({ "sessionId": sid })).await;
    let contents: Vec<&str> = joined["data"]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["before", "during"], "{joined}");
    // ... and hears A's visitor live again
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "after" }),
        )
        .await;
    assert_eq!(agent.next("message").await["content"], "after");
    // and B's agent reaches A's visitor too
    agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "back" }),
        )
        .await;
    assert_eq!(visitor.next("message").await["content"], "after");
    assert_eq!(visitor.next("message").await["content"], "back");
}

/// Waits for a `presence` event whose agent names are exactly `names` (earlier ones, sent
/// while the nodes were still catching up, are skipped).
async fn presence_becomes(s: &common::sio::SioClient, names: &[&str], within_secs: u64) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(within_secs);
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        let Some(p) = s
            .next_within("presence", std::time::Duration::from_millis(500))
            .await
        else {
            continue;
        };
        let got: Vec<&str> = p["agents"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        if got == names {
            return;
        }
        last = p;
    }
    panic!("presence never listed {names:?}; last: {last}");
}

/// The `visitorOnline` of a session in an agent's `list_sessions`.
async fn visitor_online(agent: &common::sio::SioClient, sid: &str) -> bool {
    let list = agent.ack("list_sessions", json!({})).await;
    list["data"]["sessions"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["sessionId"] == sid))
        .map(|s| s["visitorOnline"] == true)
        .unwrap_or_else(|| panic!("{sid} not listed: {list}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_visitor_status_and_auto_assignment_span_nodes() {
    use std::time::Duration;
    let (a, b) = common::two_nodes(|c| c.auto_assign = true).await;
    let ann = a.staff_token("ann@desk.test", "agent").await;
    let admin = a.admin_token().await;
    let r = b
        .post(
            "/api/agents",
            Some(&admin),
            json!({ "email": "bob@desk.test", "name": "Bob", "role": "agent", "password": "staff-password" }),
        )
        .await;
    assert_eq!(r.status(), 201, "an account made on B works on A too");
    let bob = a.login("bob@desk.test", "staff-password").await;

    // Ann on A, Bob on B: each sees both
    let ann_s = a.socket_as("/admin", &ann).await;
    presence_becomes(&ann_s, &["ann@desk.test"], 10).await;
    let bob_s = b.socket_as("/admin", &bob).await;
    presence_becomes(&bob_s, &["Bob", "ann@desk.test"], 10).await;
    presence_becomes(&ann_s, &["Bob", "ann@desk.test"], 10).await;
    let stats = a
        .http
        .get(format!("{}/api/stats", a.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("stats")
        .json::<Value>()
        .await
        .expect("json");
    assert_eq!(stats["agentsOnline"], 2, "{stats}");

    // a visitor on A is online for Bob on B; a second tab on B keeps them online when the
    // tab on A closes, and only the last tab closing makes them offline, once
    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    assert!(visitor_online(&bob_s, &sid).await);
    let tab = b.socket().await;
    tab.ack("init_session", json!({ "sessionId": sid })).await;
    visitor.drop_connection();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        visitor_online(&bob_s, &sid).await,
        "still online in the tab on B"
    );
    for p in bob_s.drain("visitor_presence") {
        assert_ne!(
            p["online"], false,
            "offline announced while a tab was open: {p}"
        );
    }
    tab.drop_connection();
    let off = bob_s.next("visitor_presence").await;
    assert_eq!(
        (off["sessionId"].as_str(), off["online"].as_bool()),
        (Some(sid.as_str()), Some(false))
    );
    assert!(!visitor_online(&ann_s, &sid).await);

    // Ann leaves; a visitor on A asks for a human: auto-assignment on A gives the session
    // to Bob, who is online on B only
    ann_s.drop_connection();
    presence_becomes(&bob_s, &["Bob"], 10).await;
    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    let ack = visitor
        .ack("request_human", json!({ "sessionId": sid }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let st = visitor.next("session_status").await;
        if st["status"] == "assigned" {
            assert_eq!(st["assignee"]["name"], "Bob", "{st}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never assigned");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_of_a_node_that_dies_go_offline_and_their_sessions_back_to_the_queue() {
    use std::time::Duration;
    let (db_url, _dir) = common::fresh_database(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let (a, mut b, _env) = two_processes(
        &db_url,
        dir.path(),
        &[
            ("AGENT_OFFLINE_GRACE_SECS", "1"),
            ("ADMIN_EMAIL", "admin@desk.test"),
            ("ADMIN_PASSWORD", "admin-password"),
        ],
    );
    let (node_a, node_b) = (TestApp::remote(&a.url), TestApp::remote(&b.url));
    let admin = node_a.admin_token().await;
    let watcher = node_a.socket_as("/admin", &admin).await;
    let bob = node_b.staff_token("bob@desk.test", "agent").await;
    let bob_s = node_b.socket_as("/admin", &bob).await;
    presence_becomes(&watcher, &["Administrator", "bob@desk.test"], 10).await;
    let visitor = node_a.socket().await;
    let sid = node_a.open_session(&visitor).await;
    // A visitor on B only, and one with tabs on both nodes.
    let on_b = node_b.socket().await;
    let sid_b = node_b.open_session(&on_b).await;
    let both_b = node_b.socket().await;
    let sid_both = node_b.open_session(&both_b).await;
    let both_a = node_a.socket().await;
    both_a
        .ack("init_session", json!({ "sessionId": sid_both }))
        .await;
    assert!(visitor_online(&watcher, &sid_b).await);
    let claim = bob_s
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claim["ok"], true, "{claim}");
    assert_eq!(visitor.next("session_status").await["status"], "assigned");

    // B dies without a word: A notices when B's presence expires
    watcher.drain("visitor_presence");
    b.kill();
    drop(bob_s);
    presence_becomes(&watcher, &["Administrator"], 30).await;
    // Its visitor goes offline for the agents, once; the one with a tab on A stays online.
    let off = watcher
        .next_within("visitor_presence", Duration::from_secs(5))
        .await
        .expect("visitor_presence for the visitor of the dead node");
    assert_eq!(
        (off["sessionId"].as_str(), off["online"].as_bool()),
        (Some(sid_b.as_str()), Some(false)),
        "{off}"
    );
    assert!(
        watcher
            .next_within("visitor_presence", Duration::from_millis(500))
            .await
            .is_none(),
        "only the visitor who had no tab left goes offline"
    );
    assert!(!visitor_online(&watcher, &sid_b).await);
    assert!(visitor_online(&watcher, &sid_both).await);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let st = visitor
            .next_within("session_status", Duration::from_secs(30))
            .await
            .expect("the session went back to the queue");
        if st["status"] == "waiting" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still {st}");
    }
    drop(a);
}

/// Two nodes assigning at the same instant never give an agent more than
/// `MAX_CHATS_PER_AGENT` sessions (the loads are counted under a desk-wide lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_assignment_on_two_nodes_at_once_respects_the_agents_limit() {
    use std::time::Duration;
    let (a, b) = common::two_nodes(|c| {
        c.auto_assign = true;
        c.max_chats_per_agent = 1;
        c.rate_limits = "off".into();
    })
    .await;
    let bob = b.staff_token("bob@desk.test", "agent").await;
    // Bob, the only agent, has a socket on each node; both nodes see him online.
    let bob_b = b.socket_as("/admin", &bob).await;
    let bob_a = a.socket_as("/admin", &bob).await;
    presence_becomes(&bob_a, &["bob@desk.test"], 10).await;
    presence_becomes(&bob_b, &["bob@desk.test"], 10).await;
    let admin = a.admin_token().await;

    // While another node holds the desk-wide assignment lock, this node does not assign:
    // it waits, then counts Bob's load as the other node left it.
    let mut opts = sea_orm::ConnectOptions::new(a.db_url.clone());
    opts.max_connections(1).min_connections(1);
    let other = sea_orm::Database::connect(opts).await.expect("db");
    let lock = chatdesk::desk::service::ASSIGN_LOCK_KEY;
    use sea_orm::ConnectionTrait;
    other
        .execute_unprepared(&format!("SELECT pg_advisory_lock({lock})"))
        .await
        .expect("lock");
    let v = a.socket().await;
    let sid = a.open_session(&v).await;
    let ack = v.ack("request_human", json!({ "sessionId": sid })).await;
    assert_eq!(ack["ok"], true, "{ack}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    for st in v.drain("session_status") {
        assert_ne!(
            st["status"], "assigned",
            "assigned while the lock was held: {st}"
        );
    }
    other
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({lock})"))
        .await
        .expect("unlock");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while v.next("session_status").await["status"] != "assigned" {
        assert!(tokio::time::Instant::now() < deadline, "never assigned");
    }
    let r = a
        .http
        .patch(format!("{}/api/chats/{sid}", a.url))
        .bearer_auth(&admin)
        .json(&json!({ "status": "resolved" }))
        .send()
        .await
        .expect("PATCH");
    assert!(r.status().is_success(), "resolve: {}", r.status());

    for round in 0..3 {
        let mut visitors = Vec::new();
        for i in 0..12 {
            let node = if i % 2 == 0 { &a } else { &b };
            let v = node.socket().await;
            let sid = node.open_session(&v).await;
            visitors.push((v, sid));
        }
        // Everyone asks for a human at once, half on each node.
        let asks = visitors.iter().map(|(v, sid)| async move {
            v.ack("request_human", json!({ "sessionId": sid })).await
        });
        for ack in futures::future::join_all(asks).await {
            assert_eq!(ack["ok"], true, "{ack}");
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let chats: Value = a
            .http
            .get(format!("{}/api/chats?limit=100", a.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        let chats = chats.as_array().cloned().unwrap_or_default();
        let assigned = chats.iter().filter(|c| c["status"] == "assigned").count();
        assert_eq!(
            assigned, 1,
            "round {round}: Bob holds {assigned} sessions, his limit is 1"
        );
        // Empty the queue, then Bob resolves his one: the next round starts from zero.
        for wanted in ["waiting", "assigned"] {
            for c in chats.iter().filter(|c| c["status"] == wanted) {
                let sid = c["sessionId"].as_str().unwrap_or_default();
                let r = a
                    .http
                    .patch(format!("{}/api/chats/{sid}", a.url))
                    .bearer_auth(&admin)
                    .json(&json!({ "status": "resolved" }))
                    .send()
                    .await
                    .expect("PATCH");
                assert!(r.status().is_success(), "resolve {sid}: {}", r.status());
            }
        }
        drop(visitors);
    }
}

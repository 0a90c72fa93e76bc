//! Several nodes, one desk: two servers on one PostgreSQL database and one Redis. Clients on
//! both nodes chat in one session; every message reaches every member of the room exactly
//! once, and `seq` stays gap-free while both nodes write to the session at once.

mod common;

use common::{Backend, TestApp};
use serde_json::{json, Value};

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Two nodes sharing a fresh PostgreSQL database and a Redis prefix of their own.
async fn two_nodes() -> (TestApp, TestApp) {
    let prefix = format!("chatdesk-test-{}", uuid::Uuid::new_v4().simple());
    let secret = format!("cluster-secret-{}", uuid::Uuid::new_v4().simple());
    let (p1, s1) = (prefix.clone(), secret.clone());
    let a = common::spawn_app_with(Backend::Postgres, move |c| {
        c.redis_url = Some(redis_url());
        c.redis_prefix = p1;
        c.jwt_secret = Some(s1);
        c.rate_limits = "off".into();
    })
    .await;
    let b = common::start_on(&a.db_url, move |c| {
        c.redis_url = Some(redis_url());
        c.redis_prefix = prefix;
        c.jwt_secret = Some(secret);
        c.rate_limits = "off".into();
    })
    .await;
    (a, b)
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
) -> (
    common::ChildServer,
    common::ChildServer,
    Vec<(&'static str, String)>,
) {
    let env = vec![
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
    let a = common::ChildServer::start(dir, &env);
    let b = common::ChildServer::start(dir, &env);
    (a, b, env)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_node_is_killed_clients_resume_on_the_other_and_lose_nothing() {
    use std::time::Duration;
    let (db_url, _dir) = common::fresh_database(Backend::Postgres).await;
    let dir = tempfile::tempdir().expect("dir");
    let (mut a, b, _env) = two_processes(&db_url, dir.path());
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

/// A private Redis server this test may stop and start.
struct OwnRedis {
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (the test command installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OwnRedis { child: Some(child) }
    }
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_node_keeps_serving_its_own_sockets_and_reports_not_ready() {
    use std::time::Duration;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
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

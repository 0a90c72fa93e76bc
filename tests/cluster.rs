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

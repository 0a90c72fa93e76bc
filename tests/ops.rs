//! Operations endpoints. One test in this binary on purpose: the Prometheus recorder is
//! process-wide, so the counters are checked without other servers moving them.

mod common;

use common::Backend;
use serde_json::{json, Value};

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.split([' ', '{']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_endpoints_report_what_happened() {
    let app = common::spawn_app(Backend::Sqlite).await;
    // ready: database ok, Redis not configured
    let ready = app.get_json("/ready").await;
    assert_eq!(
        ready,
        json!({ "status": "ready", "checks": { "database": "ok", "redis": "not_configured" } })
    );

    let before = app.get("/metrics").await.text().await.expect("metrics");
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    for i in 0..7 {
        s.ack(
            "user_message",
            json!({ "sessionId": sid, "content": format!("m{i}") }),
        )
        .await;
    }
    let bad = s
        .ack("user_message", json!({ "sessionId": sid, "content": 5 }))
        .await;
    assert_eq!(bad["ok"], false);
    let after = app.get("/metrics").await;
    assert_eq!(
        after
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/plain; version=0.0.4")
    );
    let after = after.text().await.expect("metrics");
    let d = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(d("chatdesk_messages_stored_total"), 7.0, "{after}");
    assert_eq!(
        d("chatdesk_messages_delivered_total"),
        7.0,
        "one socket in the room: 7 deliveries"
    );
    assert!(d("chatdesk_connections_total") >= 1.0);
    assert!(
        d("chatdesk_write_batch_size_count") >= 1.0,
        "write batches are recorded"
    );
    assert!(d("chatdesk_store_latency_seconds_count") >= 1.0);
    assert_eq!(metric(&after, "chatdesk_connected_visitors"), 1.0);

    // a rate-limit refusal is counted
    let limited = common::spawn_app_with(Backend::Sqlite, |c| {
        c.socket_events_per_sec = 1;
        c.socket_events_burst = 1;
    })
    .await;
    let t = limited.socket().await;
    let tsid = limited.open_session(&t).await;
    let r = t
        .ack("user_message", json!({ "sessionId": tsid, "content": "x" }))
        .await;
    assert_eq!(r["error"]["code"], "rate_limited");
    let m = limited.get("/metrics").await.text().await.expect("metrics");
    assert!(metric(&m, "chatdesk_rate_limited_total") >= 1.0);

    // stats and websocket info
    let stats = app.get_json("/api/stats").await;
    assert_eq!(stats["sessions"]["open"], 1);
    assert_eq!(stats["connections"]["visitors"], 1);
    assert!(stats["uptimeSeconds"].is_u64());
    let info = app.get_json("/api/websocket/info").await;
    assert_eq!(info["socketio"]["path"], "/socket.io/");
    assert_eq!(
        info["socketio"]["transports"],
        json!(["polling", "websocket"])
    );
    assert_eq!(info["websocket"]["path"], "/ws");
    assert_eq!(info["websocket"]["aliases"], json!(["/"]));
    assert_eq!(info["conversations"]["path"], "/ws/chat");

    // OpenAPI 3, covering every REST endpoint
    let doc: Value = app.get_json("/api/openapi.json").await;
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/health", "get"),
        ("/ready", "get"),
        ("/metrics", "get"),
        ("/api/stats", "get"),
        ("/api/websocket/info", "get"),
        ("/api/openapi.json", "get"),
        ("/api/chats", "get"),
        ("/api/chats/mine", "get"),
        ("/api/chats/{session_id}", "get"),
        ("/api/chats/{session_id}", "patch"),
        ("/api/chats/{session_id}", "delete"),
        ("/api/chats/{session_id}/messages", "post"),
        ("/api/auth/login", "post"),
        ("/api/auth/register", "post"),
        ("/api/auth/setup", "post"),
        ("/api/auth/verify", "post"),
        ("/api/auth/me", "get"),
        ("/api/auth/logout", "post"),
        ("/api/agents", "get"),
        ("/api/agents", "post"),
        ("/api/agents/{id}", "patch"),
        ("/api/agents/{id}", "delete"),
        ("/api/chats/{session_id}/attachments", "post"),
        ("/api/attachments/{id}", "get"),
        ("/api/attachments/{id}/thumbnail", "get"),
        ("/api/kb/articles", "get"),
        ("/api/kb/articles", "post"),
        ("/api/kb/articles/{id}", "get"),
        ("/api/kb/articles/{id}", "patch"),
        ("/api/kb/articles/{id}", "delete"),
        ("/api/kb/search", "get"),
        ("/api/auto-replies", "get"),
        ("/api/auto-replies", "post"),
        ("/api/auto-replies/{id}", "patch"),
        ("/api/auto-replies/{id}", "delete"),
        ("/api/reports", "get"),
    ] {
        let op = &paths.get(path).unwrap_or_else(|| panic!("{path} missing"))[method];
        assert!(
            op["responses"].is_object(),
            "{method} {path} has no responses"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transports_can_be_limited_to_websocket() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| c.transports = "websocket".into()).await;
    let r = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(
        r.status(),
        400,
        "polling must be refused in websocket-only mode"
    );
    let s = app.socket().await;
    assert!(uuid::Uuid::parse_str(&app.open_session(&s).await).is_ok());
    let info = app.get_json("/api/websocket/info").await;
    assert_eq!(info["socketio"]["transports"], json!(["websocket"]));
}

/// Nodes started at the same moment on a new PostgreSQL database all come up: one of them
/// migrates, the others wait for it instead of racing it into a duplicate-key error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_on_a_new_postgres_database_all_come_up() {
    let (db_url, _) = common::fresh_database(Backend::Postgres).await;
    let builds = (0..4).map(|_| chatdesk::App::build(common::test_config(&db_url)));
    let apps = futures::future::join_all(builds).await;
    for (i, app) in apps.into_iter().enumerate() {
        let app = app.unwrap_or_else(|e| panic!("node {i} did not start: {e:#}"));
        let mut node = common::TestApp::remote(&format!("http://127.0.0.1:{}", app.port()));
        let stop = app.shutdown_token();
        let handle = tokio::spawn(app.run_until_stopped());
        assert_eq!(node.get("/health").await.status(), 200, "node {i}");
        stop.cancel();
        let _ = handle.await;
        node.stop().await;
    }
}

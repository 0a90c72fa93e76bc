//! Crash safety: SIGKILL the real server while 1,000 messages are being sent; after a
//! restart every message whose send was acknowledged is stored, exactly once, with gap-free
//! `seq`. (An acknowledgement is only sent after the commit.)

mod common;

use std::time::Duration;

use common::{Backend, ChildServer, SioClient, TestApp, Transport};
use serde_json::json;

async fn acknowledged_messages_survive_a_sigkill(backend: Backend) {
    let (db_url, dir) = common::fresh_database(backend).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let env = vec![
        ("DATABASE_URL", db_url.clone()),
        ("RATE_LIMITS", "off".to_string()),
        (
            "JWT_SECRET",
            "crash-test-secret-0123456789-abcdef".to_string(),
        ),
    ];
    let mut server = ChildServer::start(workdir.path(), &env);
    let url = server.url.clone();

    let clients = 10;
    let per_client = 100; // 1,000 messages in all
    let mut tasks = Vec::new();
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    for c in 0..clients {
        let url = url.clone();
        let started = started_tx.clone();
        tasks.push(tokio::spawn(async move {
            let s = SioClient::connect(&url, Transport::WebSocket, Default::default())
                .await
                .expect("connect");
            let sid = s.ack("init_session", json!({})).await["sessionId"]
                .as_str()
                .expect("sid")
                .to_string();
            let mut acked = Vec::new();
            for i in 0..per_client {
                let content = format!("c{c}-m{i}");
                match s
                    .try_ack(
                        "user_message",
                        json!({ "sessionId": sid, "content": content, "clientMsgId": content }),
                        Duration::from_secs(3),
                    )
                    .await
                {
                    Some(a) if a["ok"] == true => {
                        acked.push((a["data"]["seq"].as_i64().unwrap_or(-1), content));
                        if acked.len() == 20 {
                            let _ = started.send(());
                        }
                    }
                    _ => break, // the server is gone
                }
            }
            (sid, acked)
        }));
    }
    drop(started_tx);
    // kill once every client has had 20 messages acknowledged: mid-stream for all of them
    for _ in 0..clients {
        started_rx.recv().await.expect("client progress");
    }
    server.kill();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("client task"));
    }

    let restarted = ChildServer::start(workdir.path(), &env);
    let app = TestApp::remote(&restarted.url);
    let mut acked_total = 0;
    for (sid, acked) in results {
        let stored = app.history(&sid).await;
        let seqs: Vec<i64> = stored
            .iter()
            .map(|m| m["seq"].as_i64().unwrap_or(-1))
            .collect();
        assert_eq!(
            seqs,
            (1..=stored.len() as i64).collect::<Vec<_>>(),
            "seq has gaps or duplicates after the crash"
        );
        for (seq, content) in &acked {
            let m = stored
                .iter()
                .find(|m| m["seq"] == *seq)
                .unwrap_or_else(|| panic!("acknowledged seq {seq} lost"));
            assert_eq!(m["content"], content.as_str());
        }
        let contents: std::collections::HashSet<&str> = stored
            .iter()
            .filter_map(|m| m["content"].as_str())
            .collect();
        assert_eq!(contents.len(), stored.len(), "a message was stored twice");
        acked_total += acked.len();
    }
    assert!(
        (200..1000).contains(&acked_total),
        "{acked_total} acknowledged: the kill was not mid-stream"
    );
    drop(dir);
}
both!(sigkill, acknowledged_messages_survive_a_sigkill);

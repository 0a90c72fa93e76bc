//! Graceful shutdown of the real binary under load: on SIGTERM the clients are told
//! (`server_shutdown`), every send already on its way is answered (stored and acknowledged,
//! or refused with `overloaded`), and every acknowledged message is stored exactly once.

mod common;

use std::time::Duration;

use common::{Backend, ChildServer, SioClient, Transport};
use serde_json::json;

async fn sigterm_answers_every_send(backend: Backend) {
    const CLIENTS: usize = 10;
    const EACH: usize = 200;
    let (db_url, _dir) = common::fresh_database(backend).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let env = vec![
        ("DATABASE_URL", db_url.clone()),
        ("RATE_LIMITS", "off".to_string()),
        (
            "JWT_SECRET",
            "shutdown-test-secret-0123456789-abcdef".to_string(),
        ),
    ];
    let server = ChildServer::start(workdir.path(), &env);
    let url = server.url.clone();

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let s = SioClient::connect(&url, Transport::WebSocket, Default::default())
            .await
            .expect("connect");
        let sid = s.ack("init_session", json!({})).await["sessionId"]
            .as_str()
            .expect("sid")
            .to_string();
        clients.push((s, sid));
    }
    // every client puts its whole burst on the wire, then the server is told to stop
    let mut sends = Vec::new();
    for (c, (s, sid)) in clients.iter().enumerate() {
        for n in 0..EACH {
            let id = format!("c{c}-m{n}");
            sends.push(async move {
                let answer = s
                    .try_ack(
                        "user_message",
                        json!({ "sessionId": sid, "content": id, "clientMsgId": id }),
                        Duration::from_secs(20),
                    )
                    .await;
                (sid.clone(), id, answer)
            });
        }
    }
    let all = futures::future::join_all(sends);
    let stop = async {
        let first = clients[0]
            .0
            .next_within("message", Duration::from_secs(20))
            .await;
        assert!(first.is_some(), "no message was delivered before the stop");
        let pid = server.child.id().to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    let (answers, ()) = tokio::join!(all, stop);

    let mut stored_ok: std::collections::HashMap<String, Vec<String>> = Default::default();
    let mut refused = 0;
    for (sid, id, answer) in answers {
        let answer = answer.unwrap_or_else(|| panic!("{id} was never answered"));
        if answer["ok"] == true {
            stored_ok.entry(sid).or_default().push(id);
        } else {
            assert_eq!(answer["error"]["code"], "overloaded", "{id}: {answer}");
            refused += 1;
        }
    }
    for (s, _) in &clients {
        assert!(
            s.next_within("server_shutdown", Duration::from_secs(5))
                .await
                .is_some(),
            "a client was not told the server is stopping"
        );
    }
    eprintln!(
        "{} sends stored, {refused} refused at shutdown",
        stored_ok.values().map(Vec::len).sum::<usize>()
    );

    // restart on the same database: what was acknowledged is there, once, in order
    drop(server);
    let server = ChildServer::start(workdir.path(), &env);
    let http = reqwest::Client::new();
    for (_, sid) in &clients {
        let stored: Vec<serde_json::Value> = http
            .get(format!("{}/api/chats/{sid}", server.url))
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        let contents: Vec<String> = stored
            .iter()
            .filter_map(|m| m["content"].as_str().map(String::from))
            .collect();
        let acked = stored_ok.get(sid).cloned().unwrap_or_default();
        assert_eq!(contents, acked, "session {sid}: stored vs acknowledged");
    }
}
both!(
    sigterm_under_load_answers_every_send,
    sigterm_answers_every_send
);

//! Database outages: PostgreSQL is reached through a TCP proxy that the test cuts (every
//! connection reset, new ones refused) and restores, as a PostgreSQL restart does. Every
//! send during the outage is answered `overloaded` quickly, REST answers 503, nothing is
//! stored twice, and normal service returns by itself.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Backend;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// A TCP proxy to PostgreSQL that can be cut and restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<std::sync::Mutex<CancellationToken>>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(std::sync::Mutex::new(CancellationToken::new()));
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    drop(inbound); // refused: closed at once
                    continue;
                }
                let token = cut2.lock().expect("lock").clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = token.cancelled() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    /// Every open connection is reset and new ones are refused.
    fn stop(&self) {
        self.up.store(false, Ordering::SeqCst);
        let mut cut = self.cut.lock().expect("lock");
        cut.cancel();
        *cut = CancellationToken::new();
    }

    fn start_again(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_outage_is_answered_fast_and_recovered() {
    let (direct, _) = common::fresh_database(Backend::Postgres).await;
    // postgres://user@host:port/db -> the same through the proxy
    let (server, db) = direct.rsplit_once('/').expect("database name");
    let (host, port) = server.rsplit_once(':').expect("port");
    let proxy = Proxy::start(port.parse().expect("port number")).await;
    let proxied = format!("{host}:{}/{db}", proxy.port);
    let app = common::start_on(&proxied, |c| c.rate_limits = "off".into()).await;

    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let ok = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "before", "clientMsgId": "c0" }),
        )
        .await;
    assert_eq!(ok["ok"], true, "{ok}");

    proxy.stop();
    // every send is answered, with `overloaded`, and none waits long
    for n in 1..=10 {
        let started = Instant::now();
        let ack = visitor
            .try_ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("during {n}"), "clientMsgId": format!("c{n}") }),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_else(|| panic!("send {n} during the outage was not answered"));
        assert_eq!(ack["ok"], false, "{ack}");
        assert_eq!(ack["error"]["code"], "overloaded", "{ack}");
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "send {n} waited {took:?} for its answer"
        );
    }
    // REST too
    let r = app.get(&format!("/api/chats/{sid}")).await;
    assert_eq!(r.status(), 503);
    let ready = app.get("/ready").await;
    assert_eq!(ready.status(), 503);

    proxy.start_again();
    // normal service returns by itself; the retried sends are stored once each
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut retried = 1;
    while retried <= 10 {
        assert!(
            Instant::now() < deadline,
            "service did not return after the database came back"
        );
        let ack = visitor
            .try_ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("during {retried}"), "clientMsgId": format!("c{retried}") }),
                Duration::from_secs(10),
            )
            .await
            .unwrap_or_default();
        if ack["ok"] == true {
            retried += 1;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let stored = app.history(&sid).await;
    let contents: Vec<&str> = stored
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    let mut want = vec!["before".to_string()];
    want.extend((1..=10).map(|n| format!("during {n}")));
    assert_eq!(contents, want);
    let seqs: Vec<i64> = stored.iter().filter_map(|m| m["seq"].as_i64()).collect();
    assert_eq!(seqs, (1..=11).collect::<Vec<i64>>());
}

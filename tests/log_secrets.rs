//! Passwords and tokens never appear in logs, at any level: every log line of the server
//! (all targets, TRACE) is captured while the first admin is set up, accounts sign up, log
//! in, connect with tokens in each supported way, and log out.

mod common;

use common::{ConnectOpts, Transport};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = common::ChildServer::start(dir.path(), &[("RUST_LOG", "trace".to_string())]);
    let app = common::TestApp::remote(&server.url);
    let admin_pw = "Adm1n-Secret-Passphrase";
    // The desk's first admin, with the one-time set-up token the server printed (the only
    // secret that belongs in the log, and it stops working once used).
    let setup_token: String = server
        .logs()
        .split("setup_token=")
        .nth(1)
        .expect("a setup token in the log")
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let r = app
        .post(
            "/api/auth/setup",
            None,
            json!({ "token": setup_token, "email": "root@desk.test", "password": admin_pw }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let customer_pw = "Cust0mer-Secret-Passphrase";
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "visitor@desk.test", "password": customer_pw }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let admin = app.login("root@desk.test", admin_pw).await;
    let wrong = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "root@desk.test", "password": "Wrong-Guess-Passphrase" }),
        )
        .await;
    assert_eq!(wrong.status(), 401);
    let agent_pw = "Ag3nt-Secret-Passphrase";
    let r = app
        .post(
            "/api/agents",
            Some(&admin),
            json!({ "email": "a@desk.test", "password": agent_pw, "role": "agent" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let agent = app.login("a@desk.test", agent_pw).await;
    let _ = app
        .post("/api/auth/verify", None, json!({ "token": agent }))
        .await;
    for opts in [
        ConnectOpts {
            auth: Some(json!({ "token": agent })),
            ..Default::default()
        },
        ConnectOpts {
            query: vec![("token".into(), agent.clone())],
            ..Default::default()
        },
        ConnectOpts {
            headers: vec![("authorization".into(), format!("Bearer {agent}"))],
            ..Default::default()
        },
        ConnectOpts {
            ns: "/admin".into(),
            auth: Some(json!({ "token": agent })),
            ..Default::default()
        },
    ] {
        for t in [Transport::WebSocket, Transport::Polling] {
            let s = app.socket_with(t, opts.clone()).await;
            let sid = app.open_session(&s).await;
            s.ack(
                "admin_message",
                json!({ "sessionId": sid, "content": "hello" }),
            )
            .await;
        }
    }
    let forged = format!("{agent}x");
    assert!(app
        .try_socket(ConnectOpts {
            auth: Some(json!({ "token": forged })),
            ..Default::default()
        })
        .await
        .is_err());
    let _ = app.post("/api/auth/logout", Some(&agent), json!({})).await;

    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // let the pipes drain
    let logs = server.out.lock().map(|o| o.clone()).unwrap_or_default();
    assert!(logs.contains("TRACE"), "the server did not log at TRACE");
    assert!(
        logs.contains("login"),
        "the capture did not record the server's logs"
    );
    for secret in [
        admin_pw,
        customer_pw,
        agent_pw,
        "Wrong-Guess-Passphrase",
        admin.as_str(),
        agent.as_str(),
        forged.as_str(),
    ] {
        if let Some(line) = logs.lines().find(|l| l.contains(secret)) {
            panic!(
                "a secret reached the logs: {}",
                line.replace(secret, "<SECRET>")
            );
        }
    }
    // Token signatures alone must not appear either.
    for t in [&admin, &agent] {
        let sig = t.rsplit('.').next().unwrap_or_default();
        assert!(!logs.contains(sig), "a token signature reached the logs");
    }
}

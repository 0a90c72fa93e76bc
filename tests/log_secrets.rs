//! Passwords and tokens never appear in logs, at any level: every log line of the server
//! (all targets, TRACE) is captured while accounts sign up, log in, connect with tokens in
//! each supported way, and log out.

mod common;

use std::sync::{Arc, Mutex};

use common::{ConnectOpts, Transport};
use serde_json::json;

/// The real binary, started with `RUST_LOG=trace`, its output captured.
struct Server {
    child: std::process::Child,
    url: String,
    out: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(env!("CARGO_BIN_EXE_chatdesk"))
            .current_dir(dir.path())
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "trace")
            .env_remove("JWT_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chatdesk");
        let out = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let out = out.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                    }
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            });
        }
        let url = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("server printed its address");
        Server {
            child,
            url,
            out,
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_and_tokens_never_reach_the_logs() {
    let server = Server::start();
    let app = common::TestApp::remote(&server.url);
    let admin_pw = "Adm1n-Secret-Passphrase";
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "root@desk.test", "password": admin_pw }),
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

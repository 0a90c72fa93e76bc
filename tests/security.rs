//! Security and reliability (issue 22, round two): who may create a desk's first admin,
//! limits that a client can neither dodge nor turn against someone else, input PostgreSQL
//! cannot store, and files that only their owner reads.

mod common;

use common::{Backend, ChildServer, TestApp};
use serde_json::{json, Value};

// --- The first admin ------------------------------------------------------------------------

fn without_admin(c: &mut chatdesk::Config) {
    c.admin_email = None;
    c.admin_password = None;
}

async fn role_of(app: &TestApp, token: &str) -> Value {
    let me: Value = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    me["user"]["role"].clone()
}

async fn public_registration_creates_customers_only(backend: Backend) {
    let app = common::spawn_app_with(backend, without_admin).await;
    let sign_ups = (0..4).map(|i| {
        app.post(
            "/api/auth/register",
            None,
            json!({ "email": format!("early{i}@example.com"), "password": "password123" }),
        )
    });
    for r in futures::future::join_all(sign_ups).await {
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["user"]["role"], "customer", "{v}");
        let token = v["token"].as_str().expect("token");
        let agents = app
            .http
            .get(format!("{}/api/agents", app.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("agents");
        assert_eq!(agents.status(), 403);
    }
}
both!(
    registration_is_for_customers,
    public_registration_creates_customers_only
);

async fn admin_email_creates_the_owner_after_public_sign_ups(backend: Backend) {
    let app = common::spawn_app_with(backend, without_admin).await;
    app.register("first@example.com", "password123").await;
    let app = app
        .restart(|c| {
            c.admin_email = Some("owner@desk.test".into());
            c.admin_password = Some("owner-password".into());
        })
        .await;
    let token = app.login("owner@desk.test", "owner-password").await;
    assert_eq!(role_of(&app, &token).await, "admin");
}
both!(
    owner_from_admin_email,
    admin_email_creates_the_owner_after_public_sign_ups
);

/// The set-up token a server printed in its log (`setup_token=...`).
fn setup_token_in(logs: &str) -> Option<String> {
    let rest = logs.split("setup_token=").nth(1)?;
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

async fn the_setup_token_creates_the_first_admin_once(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db_url, _db_dir) = common::fresh_database(backend).await;
    let mut server = ChildServer::start(dir.path(), &[("DATABASE_URL", db_url.clone())]);
    let app = TestApp::remote(&server.url);
    let logs = server.logs();
    let token = setup_token_in(&logs).unwrap_or_else(|| panic!("no setup token in: {logs}"));
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("no admin")),
        "no warning that the desk has no admin: {logs}"
    );

    let setup = |body: Value| app.post("/api/auth/setup", None, body);
    let wrong = setup(
        json!({ "token": "not-the-token", "email": "boss@desk.test", "password": "boss-password" }),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let weak =
        setup(json!({ "token": token, "email": "boss@desk.test", "password": "short" })).await;
    assert_eq!(weak.status(), 400, "bad input does not spend the token");
    let r = setup(json!({ "token": token, "email": "boss@desk.test", "password": "boss-password", "name": "Boss" })).await;
    assert_eq!(r.status(), 201);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["user"]["role"], "admin");
    assert_eq!(v["user"]["name"], "Boss");
    let again =
        setup(json!({ "token": token, "email": "thief@desk.test", "password": "thief-password" }))
            .await;
    assert_eq!(again.status(), 401, "the token works once");
    let boss = app.login("boss@desk.test", "boss-password").await;
    assert_eq!(role_of(&app, &boss).await, "admin");

    // Started again with ADMIN_EMAIL while an admin exists: nothing is created, loudly, and no
    // new set-up token is offered.
    server.kill();
    let server = ChildServer::start(
        dir.path(),
        &[
            ("DATABASE_URL", db_url),
            ("ADMIN_EMAIL", "other@desk.test".into()),
            ("ADMIN_PASSWORD", "other-password".into()),
        ],
    );
    let app = TestApp::remote(&server.url);
    let logs = server.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("ADMIN_EMAIL")),
        "no warning that ADMIN_EMAIL was skipped: {logs}"
    );
    assert_eq!(setup_token_in(&logs), None);
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "other@desk.test", "password": "other-password" }),
        )
        .await;
    assert_eq!(r.status(), 401);
}
both!(setup_token, the_setup_token_creates_the_first_admin_once);

// --- Who the client is, and login limits ----------------------------------------------------

/// An engine.io handshake (a new connection) as sent through a proxy.
async fn handshake_via_proxy(app: &TestApp, forwarded_for: &str) -> u16 {
    app.http
        .get(format!("{}/socket.io/?EIO=4&transport=polling", app.url))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("handshake")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_does_not_dodge_the_connection_limit() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.trust_proxy = true;
        c.connections_per_min = 2;
    })
    .await;
    // The client writes what it likes on the left; the proxy appends the address it saw.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(handshake_via_proxy(&app, &format!("10.9.9.{i}, 203.0.113.7")).await);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_hops_pick_the_entry_the_outermost_proxy_saw() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.trust_proxy = true;
        c.trust_proxy_hops = 2;
        c.connections_per_min = 2;
    })
    .await;
    // Two proxies: a CDN appended the client, the load balancer appended the CDN.
    let mut distinct = Vec::new();
    for i in 0..4 {
        let xff = format!("forged, 198.51.100.{i}, 10.0.0.1");
        distinct.push(handshake_via_proxy(&app, &xff).await);
    }
    assert_eq!(distinct, [200; 4], "four clients, one connection each");
    let mut same = Vec::new();
    for i in 0..4 {
        let xff = format!("forged-{i}, 198.51.100.77, 10.0.0.1");
        same.push(handshake_via_proxy(&app, &xff).await);
    }
    assert_eq!(same, [200, 200, 429, 429], "one client, whatever it forges");
}

async fn login(http: &reqwest::Client, app: &TestApp, password: &str) -> u16 {
    http.post(format!("{}/api/auth/login", app.url))
        .json(&json!({ "email": common::ADMIN_EMAIL, "password": password }))
        .send()
        .await
        .expect("login")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_from_one_address_do_not_lock_the_admin_out_elsewhere() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| c.login_attempts_per_min = 6).await;
    // Another machine: a second loopback address as the source.
    let attacker = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .expect("client");
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(login(&attacker, &app, "guess-guess").await);
    }
    assert!(
        answers.contains(&429),
        "the attacker is limited: {answers:?}"
    );
    assert!(!answers.contains(&200));
    // The admin, from their own address: a typo is a 401, the right password gets in.
    assert_eq!(login(&app.http, &app, "typo-typo").await, 401);
    assert_eq!(login(&app.http, &app, common::ADMIN_PASSWORD).await, 200);
    // The attacker's address stays limited, right password or not.
    assert_eq!(login(&attacker, &app, common::ADMIN_PASSWORD).await, 429);
}

// --- NUL characters -------------------------------------------------------------------------

const NUL_TEXT: &str = "before\u{0}after";

async fn a_nul_character_in_content_is_invalid_payload(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": NUL_TEXT }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");

    let staff = app.staff_socket().await;
    let ack = staff.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(ack["sessionId"], sid.as_str(), "{ack}");
    let ack = staff
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": NUL_TEXT }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");

    let admin = app.admin_token().await;
    let r = app
        .post(
            &format!("/api/chats/{sid}/messages"),
            Some(&admin),
            json!({ "content": NUL_TEXT }),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "invalid_payload");

    // ... and in a clientMsgId, on every path
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "ok", "clientMsgId": NUL_TEXT }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");
    let r = app
        .post(
            &format!("/api/chats/{sid}/messages"),
            Some(&admin),
            json!({ "content": "ok", "clientMsgId": NUL_TEXT }),
        )
        .await;
    assert_eq!(r.status(), 400);

    // Nothing was stored, and the writer still stores what follows.
    let ack = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "fine" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let stored = app.history(&sid).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}
both!(
    nul_in_content,
    a_nul_character_in_content_is_invalid_payload
);

async fn a_nul_character_in_a_name_or_login_is_invalid_payload(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let bodies = [
        (
            "/api/auth/register",
            None,
            json!({ "email": "n1@example.com", "password": "password123", "name": NUL_TEXT }),
        ),
        (
            "/api/auth/register",
            None,
            json!({ "email": "n\u{0}2@example.com", "password": "password123" }),
        ),
        (
            "/api/auth/register",
            None,
            json!({ "username": "n\u{0}3", "password": "password123" }),
        ),
        (
            "/api/auth/login",
            None,
            json!({ "email": "admin\u{0}@desk.test", "password": "password123" }),
        ),
        (
            "/api/agents",
            Some(admin.as_str()),
            json!({ "email": "a1@desk.test", "password": "password123", "name": NUL_TEXT }),
        ),
    ];
    for (path, token, body) in bodies {
        let r = app.post(path, token, body.clone()).await;
        assert_eq!(r.status(), 400, "{path} {body}");
        let v: Value = r.json().await.expect("json");
        assert_eq!(v["error"]["code"], "invalid_payload", "{path} {body}");
    }
    let r = app
        .post(
            "/api/agents",
            Some(&admin),
            json!({ "email": "a2@desk.test", "password": "password123", "name": "Agent" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .http
        .patch(format!("{}/api/agents/{id}", app.url))
        .bearer_auth(&admin)
        .json(&json!({ "name": NUL_TEXT }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
}
both!(
    nul_in_names,
    a_nul_character_in_a_name_or_login_is_invalid_payload
);

// --- Private files --------------------------------------------------------------------------

#[cfg(unix)]
fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_and_secret_files_chatdesk_creates_are_private() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| c.jwt_secret = None).await;
    let s = app.socket().await;
    app.open_session(&s).await; // something written: the WAL exists too
    let db = std::path::PathBuf::from(
        app.db_url
            .trim_start_matches("sqlite://")
            .split('?')
            .next()
            .expect("path"),
    );
    let secret = db.with_extension("db.jwt-secret");
    let wal = db.with_extension("db-wal");
    for file in [&db, &secret, &wal] {
        assert_eq!(mode_of(file), 0o600, "{}", file.display());
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_files_readable_by_others_are_reported() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = dir.path().join("chatdesk.db.jwt-secret");
    std::fs::write(&secret, "s".repeat(48)).expect("write secret");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let db = dir.path().join("chatdesk.db");
    std::fs::write(&db, b"").expect("write db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let server = ChildServer::start(dir.path(), &[]);
    let logs = server.logs();
    let warned = |about: &dyn Fn(&str) -> bool| {
        logs.lines()
            .any(|l| l.contains("WARN") && l.contains("others") && about(l))
    };
    assert!(
        warned(&|l| l.contains("chatdesk.db.jwt-secret")),
        "no warning about the secret file: {logs}"
    );
    assert!(
        warned(&|l| l.contains("chatdesk.db") && !l.contains("jwt-secret")),
        "no warning about the database file: {logs}"
    );
    // Reported, not changed: the operator may have reasons.
    assert_eq!(mode_of(&secret), 0o644);
}

//! Accounts, authentication and hardening (issue: secure by default), on both databases.
//! Every rejection asserts its error code and that nothing was stored or broadcast.

mod common;

use std::time::Duration;

use common::{Backend, ConnectOpts, Transport};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(300);

fn forge(secret: &str, claims: Value, alg: jsonwebtoken::Algorithm) -> String {
    encode(
        &Header::new(alg),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("encode")
}

/// A token with `alg: none` (unsigned), as an attacker would write it by hand.
fn alg_none(claims: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(claims)
    )
}

async fn claims_of(app: &common::TestApp, token: &str) -> Value {
    let me = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let payload = token.split('.').nth(1).expect("payload");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("b64");
    serde_json::from_slice(&bytes).expect("claims")
}

/// A staff action with `token` must be refused everywhere, with nothing stored or broadcast.
async fn assert_refused_everywhere(app: &common::TestApp, token: &str, label: &str) {
    // REST
    let r = app
        .http
        .get(format!("{}/api/chats", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401, "{label}: REST status");
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized", "{label}");
    // socket.io, every namespace, every way of giving the token
    for ns in ["/", "/admin"] {
        let ways = [
            ConnectOpts {
                ns: ns.into(),
                auth: Some(json!({ "token": token })),
                ..Default::default()
            },
            ConnectOpts {
                ns: ns.into(),
                query: vec![("token".into(), token.into())],
                ..Default::default()
            },
            ConnectOpts {
                ns: ns.into(),
                headers: vec![("authorization".into(), format!("Bearer {token}"))],
                ..Default::default()
            },
        ];
        for opts in ways {
            match app.try_socket(opts).await {
                Err(common::sio::ConnectError::Refused(data)) => {
                    let msg = data["message"].as_str().unwrap_or_default();
                    assert!(msg.contains("unauthorized"), "{label} {ns}: {data}");
                }
                Err(e) => panic!("{label} {ns}: expected connect_error, got {e:?}"),
                Ok(_) => panic!("{label} {ns}: connection with a bad token was accepted"),
            }
        }
    }
}

async fn bad_tokens_are_refused_never_downgraded(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let good = claims_of(&app, &admin).await;
    let secret = app.jwt_secret();
    let now = chrono::Utc::now().timestamp();

    let bad_signature = forge(
        "another-secret-another-secret-0123456789",
        good.clone(),
        jsonwebtoken::Algorithm::HS256,
    );
    assert_refused_everywhere(&app, &bad_signature, "bad signature").await;

    assert_refused_everywhere(&app, &alg_none(&good), "alg none").await;

    let hs512 = forge(&secret, good.clone(), jsonwebtoken::Algorithm::HS512);
    assert_refused_everywhere(&app, &hs512, "other algorithm").await;

    let mut expired = good.clone();
    expired["iat"] = json!(now - 7200);
    expired["exp"] = json!(now - 3600);
    assert_refused_everywhere(
        &app,
        &forge(&secret, expired, jsonwebtoken::Algorithm::HS256),
        "expired",
    )
    .await;

    assert_refused_everywhere(&app, "not-a-jwt", "garbage").await;

    // revoked by logout
    let r = app.post("/api/auth/logout", Some(&admin), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_refused_everywhere(&app, &admin, "revoked").await;
    // a fresh login still works
    let again = app.login("admin@desk.test", "admin-password").await;
    assert_eq!(
        app.http
            .get(format!("{}/api/chats", app.url))
            .bearer_auth(&again)
            .send()
            .await
            .expect("GET")
            .status(),
        200
    );
}
both!(bad_tokens, bad_tokens_are_refused_never_downgraded);

async fn unusable_tokens_are_refused_not_treated_as_none(backend: Backend) {
    let app = common::spawn_app(backend).await;
    for ns in ["/", "/admin"] {
        let ways = [
            (
                "auth.token a number",
                json!({ "token": 12345 }),
                vec![],
                vec![],
            ),
            (
                "auth.token an object",
                json!({ "token": { "jwt": "x" } }),
                vec![],
                vec![],
            ),
            ("auth.token true", json!({ "token": true }), vec![], vec![]),
            ("auth.token empty", json!({ "token": "" }), vec![], vec![]),
            ("auth.token blank", json!({ "token": "  " }), vec![], vec![]),
            (
                "?token= empty",
                json!({}),
                vec![("token".to_string(), String::new())],
                vec![],
            ),
            (
                "Bearer without a token",
                json!({}),
                vec![],
                vec![("authorization".to_string(), "Bearer ".to_string())],
            ),
        ];
        for (label, auth, query, headers) in ways {
            let opts = ConnectOpts {
                ns: ns.into(),
                auth: Some(auth),
                query,
                headers,
            };
            match app.try_socket(opts).await {
                Err(common::sio::ConnectError::Refused(data)) => {
                    let msg = data["message"].as_str().unwrap_or_default();
                    assert!(msg.starts_with("unauthorized"), "{label} {ns}: {data}");
                }
                Err(e) => panic!("{label} {ns}: expected connect_error, got {e:?}"),
                Ok(_) => panic!("{label} {ns}: accepted as if no token were given"),
            }
        }
    }
    // No token at all, or a null one, is still an anonymous visitor on "/".
    for auth in [None, Some(json!({})), Some(json!({ "token": null }))] {
        let opts = ConnectOpts {
            auth: auth.clone(),
            ..Default::default()
        };
        assert!(app.try_socket(opts).await.is_ok(), "no token: {auth:?}");
    }
}
both!(
    unusable_tokens,
    unusable_tokens_are_refused_not_treated_as_none
);

async fn disabled_and_deleted_accounts_lose_access(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.staff_token("agent1@desk.test", "agent").await;
    let agents: Value = app
        .http
        .get(format!("{}/api/agents", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let id = agents
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["email"] == "agent1@desk.test")
        .expect("agent")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let socket = app.socket_as("/admin", &agent).await;
    let r = app
        .http
        .patch(format!("{}/api/agents/{id}", app.url))
        .bearer_auth(&admin)
        .json(&json!({ "disabled": true }))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200);
    assert_refused_everywhere(&app, &agent, "disabled").await;
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "agent1@desk.test", "password": "staff-password" }),
        )
        .await;
    assert_eq!(r.status(), 401);
    drop(socket);

    let other = app.staff_token("agent2@desk.test", "agent").await;
    let agents: Value = app
        .http
        .get(format!("{}/api/agents", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let id2 = agents
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["email"] == "agent2@desk.test")
        .expect("agent")["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r = app
        .http
        .delete(format!("{}/api/agents/{id2}", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    assert_refused_everywhere(&app, &other, "deleted").await;
}
both!(disabled_accounts, disabled_and_deleted_accounts_lose_access);

async fn staff_actions_need_a_staff_token(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let _admin = app.admin_token().await;
    let customer = app.register("carol@example.com", "carol-password").await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    // no token: admin_message refused, nothing stored or broadcast
    let ack = visitor
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "I am the admin" }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "unauthorized");
    visitor.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "no ack" }),
    );
    let err = visitor.next("error").await;
    assert_eq!(err["code"], "unauthorized");
    assert_eq!(err["event"], "admin_message");
    // customer token: no staff rights either
    let cust = app.socket_as("/", &customer).await;
    cust.ack("init_session", json!({ "sessionId": sid })).await;
    let ack = cust
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "me too" }),
        )
        .await;
    assert_eq!(ack["error"]["code"], "unauthorized");
    // (the customer's init_session made the session theirs, and closed the anonymous
    // visitor's socket: the customer's socket is the room's visitor now)
    assert!(
        cust.next_within("message", QUIET).await.is_none(),
        "a refused message was broadcast"
    );
    assert!(
        app.history_as(&sid, &customer).await.is_empty(),
        "a refused message was stored"
    );

    // "/admin" refuses no token and customer tokens
    match app.try_socket(ConnectOpts::ns("/admin")).await {
        Err(common::sio::ConnectError::Refused(d)) => assert!(
            d["message"].as_str().unwrap_or("").contains("unauthorized"),
            "{d}"
        ),
        other => panic!("no-token /admin: {:?}", other.err()),
    }
    match app
        .try_socket(ConnectOpts {
            ns: "/admin".into(),
            auth: Some(json!({ "token": customer })),
            ..Default::default()
        })
        .await
    {
        Err(common::sio::ConnectError::Refused(d)) => assert!(
            d["message"].as_str().unwrap_or("").contains("forbidden"),
            "{d}"
        ),
        other => panic!("customer /admin: {:?}", other.err()),
    }
    // REST: 401 without token, 403 with a customer token, JSON error bodies
    let r = app.get("/api/chats").await;
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"]["code"],
        "unauthorized"
    );
    let r = app
        .http
        .get(format!("{}/api/chats", app.url))
        .bearer_auth(&customer)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.json::<Value>().await.expect("json")["error"]["code"],
        "forbidden"
    );

    // agent token on an admin action
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let r = app
        .http
        .get(format!("{}/api/agents", app.url))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    let r = app
        .post(
            "/api/agents",
            Some(&agent),
            json!({ "email": "x@desk.test", "password": "password123" }),
        )
        .await;
    assert_eq!(r.status(), 403);
    // ...but an agent may do agent things
    let a = app.socket_as("/", &agent).await;
    a.ack("init_session", json!({ "sessionId": sid })).await;
    let ok = a
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "Hello from support" }),
        )
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(cust.next("message").await["sender"], "admin");
    let r = app
        .http
        .get(format!("{}/api/chats", app.url))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
}
both!(staff_only, staff_actions_need_a_staff_token);

async fn legacy_open_mode_lets_tokenless_consoles_work(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.insecure_open_admin = true).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let console = app.socket().await;
    console
        .ack("init_session", json!({ "sessionId": sid }))
        .await;
    let ok = console
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "legacy reply" }),
        )
        .await;
    assert_eq!(ok["ok"], true);
    assert_eq!(app.get("/api/chats").await.status(), 200);
    assert!(app.try_socket(ConnectOpts::ns("/admin")).await.is_ok());
    // an invalid token is still refused in open mode
    assert!(app
        .try_socket(ConnectOpts {
            auth: Some(json!({"token": "bogus"})),
            ..Default::default()
        })
        .await
        .is_err());
    // admin-only endpoints stay closed
    assert_eq!(app.get("/api/agents").await.status(), 401);
}
both!(
    legacy_open_mode,
    legacy_open_mode_lets_tokenless_consoles_work
);

async fn accounts_register_login_verify_me(backend: Backend) {
    let app = common::spawn_app(backend).await;
    // Every public registration is a customer, the first one included.
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "Boss@Desk.test", "password": "boss-password", "name": "Boss" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let first: Value = r.json().await.expect("json");
    assert_eq!(first["user"]["role"], "customer");
    assert_eq!(first["user"]["email"], "boss@desk.test");
    // seed field names (user_email / user_password / user_fullname) and username sign-up
    let r = app.post("/api/auth/register", None, json!({ "user_email": "test@example.com", "user_password": "password123", "user_fullname": "Test User" })).await;
    assert_eq!(r.status(), 201);
    let c: Value = r.json().await.expect("json");
    assert_eq!(c["user"]["role"], "customer");
    assert_eq!(c["user"]["name"], "Test User");
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "username": "testuser", "password": "password123", "email": "tu@example.com" }),
        )
        .await;
    assert_eq!(r.status(), 201);
    // duplicates (case-insensitive) conflict; bad input is invalid_payload
    let r = app
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "TEST@example.com", "password": "password123" }),
        )
        .await;
    assert_eq!(r.status(), 409);
    for bad in [
        json!({ "email": "x@example.com", "password": "short" }),
        json!({ "password": "password123" }),
        json!({ "email": "nope", "password": "password123" }),
        json!({ "email": 5, "password": "password123" }),
    ] {
        let r = app.post("/api/auth/register", None, bad.clone()).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(
            r.json::<Value>().await.expect("json")["error"]["code"],
            "invalid_payload"
        );
    }
    let r = app
        .http
        .post(format!("{}/api/auth/login", app.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 400);
    // login by email (any case) or username
    let t1 = app.login("BOSS@desk.test", "boss-password").await;
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "username": "TestUser", "password": "password123" }),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["user"]["role"], "customer");
    for key in ["id", "email", "name", "role"] {
        assert!(body["user"].get(key).is_some(), "{key}");
    }
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "boss@desk.test", "password": "wrong-password" }),
        )
        .await;
    assert_eq!(r.status(), 401);
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "nobody@desk.test", "password": "wrong-password" }),
        )
        .await;
    assert_eq!(r.status(), 401);
    // verify (body or header) and me
    let v: Value = app
        .post("/api/auth/verify", None, json!({ "token": t1 }))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["valid"], true);
    assert_eq!(v["user"]["role"], "customer");
    let v: Value = app
        .post("/api/auth/verify", Some(&t1), json!({}))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["valid"], true);
    let v: Value = app
        .post(
            "/api/auth/verify",
            None,
            json!({ "token": "forged.token.here" }),
        )
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v["valid"], false);
    let me: Value = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(&t1)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["email"], "boss@desk.test");
    assert_eq!(app.get("/api/auth/me").await.status(), 401);
}
both!(accounts, accounts_register_login_verify_me);

async fn customers_sessions_follow_their_account(backend: Backend) {
    let app = common::spawn_app(backend).await;
    app.admin_token().await;
    let token = app.register("dana@example.com", "dana-password").await;
    // device 1
    let d1 = app.socket_as("/", &token).await;
    let a1 = d1.ack("init_session", json!({})).await;
    assert_eq!(a1["resumed"], false);
    let sid = a1["sessionId"].as_str().expect("sid").to_string();
    d1.ack(
        "user_message",
        json!({ "sessionId": sid, "content": "from my laptop" }),
    )
    .await;
    // device 2: no sessionId, same account -> the same (unresolved) session
    let d2 = app.socket_as("/", &token).await;
    let a2 = d2.ack("init_session", json!({ "lastSeq": 0 })).await;
    assert_eq!(a2["sessionId"], sid.as_str());
    assert_eq!(a2["resumed"], true);
    assert_eq!(a2["messages"][0]["content"], "from my laptop");
    // listed by /api/chats/mine, without IP or user agent
    let mine: Value = app
        .http
        .get(format!("{}/api/chats/mine", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(mine[0]["sessionId"], sid.as_str());
    assert!(mine[0]["ip"].is_null() && mine[0]["userAgent"].is_null());
    // another customer, or an anonymous visitor, holding the id cannot reach it
    let other = app.register("eve@example.com", "eve-password").await;
    let e = app.socket_as("/", &other).await;
    let ae = e.ack("init_session", json!({ "sessionId": sid })).await;
    assert_ne!(ae["sessionId"], sid.as_str());
    assert_eq!(ae["resumed"], false);
    let r = e
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "let me in" }),
        )
        .await;
    assert_eq!(r["error"]["code"], "forbidden");
    let anon = app.socket().await;
    let aa = anon.ack("init_session", json!({ "sessionId": sid })).await;
    assert_ne!(aa["sessionId"], sid.as_str());
    let r = anon
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "let me in" }),
        )
        .await;
    assert_eq!(r["error"]["code"], "forbidden");
    assert!(d1.next_within("message", QUIET).await.is_some()); // its own message echo
    assert!(
        d1.next_within("message", QUIET).await.is_none(),
        "a refused message was broadcast"
    );
    assert_eq!(app.history_as(&sid, &token).await.len(), 1);
    // ... and what is stored is not readable by id alone either
    let r = app.get(&format!("/api/chats/{sid}")).await;
    assert_eq!(r.status(), 403);
    let mine_eve: Value = app
        .http
        .get(format!("{}/api/chats/mine", app.url))
        .bearer_auth(&other)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(mine_eve
        .as_array()
        .expect("array")
        .iter()
        .all(|c| c["sessionId"] != sid.as_str()));
}
both!(customer_sessions, customers_sessions_follow_their_account);

async fn visitors_cannot_use_other_handles(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let a = app.socket().await;
    let sid = app.open_session(&a).await;
    let ack = a
        .ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
        .await;
    let internal = ack["data"]["chatSessionId"]
        .as_str()
        .expect("chatSessionId")
        .to_string();
    let code = a.ack("init_session", json!({ "sessionId": sid })).await["code"]
        .as_str()
        .expect("code")
        .to_string();
    let b = app.socket().await;
    for handle in [internal.as_str(), code.as_str()] {
        let ack = b.ack("init_session", json!({ "sessionId": handle })).await;
        assert_ne!(
            ack["sessionId"],
            sid.as_str(),
            "{handle} reached the session"
        );
        let r = b
            .ack(
                "user_message",
                json!({ "sessionId": handle, "content": "x" }),
            )
            .await;
        assert_eq!(r["ok"], false, "{handle}");
    }
    // REST history never carries ip or user agent
    for m in app.history(&sid).await {
        assert!(m.get("ip").is_none() && m.get("userAgent").is_none());
    }
    assert_eq!(app.history(&sid).await.len(), 1);
}
both!(other_handles, visitors_cannot_use_other_handles);

async fn socket_event_flood_is_refused_and_recovers(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.socket_events_per_sec = 5;
        c.socket_events_burst = 5;
    })
    .await;
    let s = app.socket().await;
    let sid = app.open_session(&s).await; // 1 event spent
    let mut limited = None;
    for i in 0..10 {
        let ack = s
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("m{i}") }),
            )
            .await;
        if ack["ok"] == false {
            limited = Some(ack);
            break;
        }
    }
    let limited = limited.expect("the budget ran out");
    assert_eq!(limited["error"]["code"], "rate_limited");
    let wait = limited["error"]["retryAfterMs"]
        .as_u64()
        .expect("retryAfterMs");
    assert!(wait > 0 && wait <= 1000, "{wait}");
    let stored = app.history(&sid).await.len();
    // without an ack: an `error` event with the code
    s.emit("user_message", json!({ "sessionId": sid, "content": "x" }));
    let err = s.next("error").await;
    assert_eq!(err["code"], "rate_limited");
    assert!(err["retryAfterMs"].as_u64().is_some());
    assert_eq!(
        app.history(&sid).await.len(),
        stored,
        "a refused message was stored"
    );
    // recovery after the window
    tokio::time::sleep(Duration::from_millis(wait + 250)).await;
    let ok = s
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "after the window" }),
        )
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
}
both!(event_rate_limit, socket_event_flood_is_refused_and_recovers);

async fn a_flood_does_not_starve_other_sessions(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let flooder = app.socket().await;
    let fsid = app.open_session(&flooder).await;
    let alice = app.socket().await;
    let asid = app.open_session(&alice).await;
    let agent = app.staff_socket().await;
    agent
        .ack("init_session", json!({ "sessionId": asid }))
        .await;
    // 1,000 events within a second from one socket, while another session chats
    let fsid2 = fsid.clone();
    let flood = tokio::spawn(async move {
        let fsid = fsid2;
        for i in 0..1000 {
            flooder.emit(
                "user_message",
                json!({ "sessionId": fsid, "content": format!("flood {i}") }),
            );
            if i % 100 == 99 {
                tokio::time::sleep(Duration::from_millis(90)).await;
            }
        }
        flooder
    });
    for i in 0..20 {
        let ack = alice
            .ack(
                "user_message",
                json!({ "sessionId": asid, "content": format!("alice {i}") }),
            )
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let flooder = flood.await.expect("flood task");
    let seqs: Vec<i64> = {
        let mut v = Vec::new();
        for _ in 0..20 {
            v.push(agent.next("message").await["seq"].as_i64().unwrap_or(-1));
        }
        v
    };
    assert_eq!(
        seqs,
        (1..=20).collect::<Vec<i64>>(),
        "the other session's messages arrived out of order or not at all"
    );
    // the flooder was told, not silently dropped
    let mut refused = 0;
    while let Some(e) = flooder
        .next_within("error", Duration::from_millis(500))
        .await
    {
        assert_eq!(e["code"], "rate_limited");
        refused += 1;
        if refused > 500 {
            break;
        }
    }
    assert!(refused > 500, "only {refused} refusals reported");
    let stored = app.history(&fsid).await.len();
    assert!(stored < 200, "{stored} flood messages stored");
}
both!(flood, a_flood_does_not_starve_other_sessions);

async fn login_attempts_are_limited_per_account(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.login_attempts_per_min = 6).await;
    app.admin_token().await;
    let mut last = None;
    for _ in 0..4 {
        let r = app
            .post(
                "/api/auth/login",
                None,
                json!({ "email": "admin@desk.test", "password": "guess-guess" }),
            )
            .await;
        if r.status() == 429 {
            last = Some(r);
            break;
        }
        assert_eq!(r.status(), 401);
    }
    let r = last.expect("login attempts were limited");
    let retry: u64 = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(body["error"]["retryAfterMs"].as_u64().is_some());
    // even the right password is refused while limited
    let r = app
        .post(
            "/api/auth/login",
            None,
            json!({ "email": "admin@desk.test", "password": "admin-password" }),
        )
        .await;
    assert_eq!(r.status(), 429);
}
both!(login_limit, login_attempts_are_limited_per_account);

async fn connection_rate_is_limited_per_ip(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.connections_per_min = 3).await;
    let mut refused = false;
    let mut kept = Vec::new();
    for _ in 0..5 {
        match app.try_socket(ConnectOpts::default()).await {
            Ok(s) => kept.push(s),
            Err(common::sio::ConnectError::Transport(e)) => {
                assert!(e.contains("429"), "{e}");
                refused = true;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(refused, "no connection was refused");
    assert_eq!(kept.len(), 3);
    // the existing connections keep working
    let sid = app.open_session(&kept[0]).await;
    assert!(uuid::Uuid::parse_str(&sid).is_ok());
    let r = app.get("/socket.io/?EIO=4&transport=polling").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
}
both!(connection_limit, connection_rate_is_limited_per_ip);

async fn rate_limits_can_be_switched_off(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.socket_events_per_sec = 1;
        c.socket_events_burst = 1;
    })
    .await;
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    for i in 0..30 {
        let ack = s
            .ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("m{i}") }),
            )
            .await;
        assert_eq!(ack["ok"], true);
    }
}
both!(limits_off, rate_limits_can_be_switched_off);

async fn oversized_payloads_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.max_payload_bytes = 64 * 1024).await;
    let s = app.socket().await;
    let sid = app.open_session(&s).await;
    let bystander = app.socket().await;
    let bsid = app.open_session(&bystander).await;
    // a WebSocket message above the limit closes that connection only
    let huge = "z".repeat(200 * 1024);
    s.emit("user_message", json!({ "sessionId": sid, "content": huge }));
    assert!(
        s.closed(Duration::from_secs(5)).await,
        "oversized frame did not close the connection"
    );
    // over polling: the POST is refused
    let p = app
        .socket_with(Transport::Polling, ConnectOpts::default())
        .await;
    p.emit(
        "user_message",
        json!({ "sessionId": sid, "content": "z".repeat(200 * 1024) }),
    );
    assert!(
        p.closed(Duration::from_secs(5)).await,
        "oversized polling packet was accepted"
    );
    // HTTP bodies too
    let r = app
        .http
        .post(format!("{}/api/auth/login", app.url))
        .header("content-type", "application/json")
        .body(format!("{{\"email\":\"{}\"}}", "a".repeat(100 * 1024)))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status(), 413);
    assert!(app.history(&sid).await.is_empty());
    // everyone else is still served
    let ok = bystander
        .ack(
            "user_message",
            json!({ "sessionId": bsid, "content": "still here" }),
        )
        .await;
    assert_eq!(ok["ok"], true);
}
both!(
    oversized,
    oversized_payloads_are_refused_and_nothing_is_stored
);

async fn foreign_origins_are_refused_when_an_allow_list_is_set(backend: Backend) {
    let app =
        common::spawn_app_with(backend, |c| c.cors_origins = "https://shop.example".into()).await;
    let with_origin = |o: &str| ConnectOpts {
        headers: vec![("origin".into(), o.into())],
        ..Default::default()
    };
    match app.try_socket(with_origin("https://evil.example")).await {
        Err(common::sio::ConnectError::Transport(e)) => assert!(e.contains("403"), "{e}"),
        other => panic!("foreign origin websocket: {:?}", other.err()),
    }
    match SioClientPolling::connect(&app, "https://evil.example").await {
        Err(e) => assert!(e.contains("403"), "{e}"),
        Ok(_) => panic!("foreign origin polling accepted"),
    }
    let r = app
        .http
        .get(format!("{}/api/chats/{}", app.url, uuid::Uuid::new_v4()))
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    assert!(app
        .try_socket(with_origin("https://shop.example"))
        .await
        .is_ok());
    assert!(
        app.try_socket(ConnectOpts::default()).await.is_ok(),
        "no Origin (server-side client) must be allowed"
    );
    let r = app
        .http
        .get(format!("{}/health", app.url))
        .header("origin", "https://shop.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://shop.example")
    );
}
both!(
    origins,
    foreign_origins_are_refused_when_an_allow_list_is_set
);

async fn foreign_origins_preflights_are_refused_too(backend: Backend) {
    let app =
        common::spawn_app_with(backend, |c| c.cors_origins = "https://shop.example".into()).await;
    let preflight = |path: &str, origin: &str| {
        app.http
            .request(reqwest::Method::OPTIONS, format!("{}{path}", app.url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    for path in [
        "/api/chats",
        "/api/auth/login",
        "/socket.io/?EIO=4&transport=polling",
    ] {
        let r = preflight(path, "https://evil.example")
            .await
            .expect("OPTIONS");
        assert_eq!(r.status(), 403, "foreign preflight {path}");
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "foreign preflight {path} got CORS headers"
        );
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "forbidden", "{path}: {body}");

        let r = preflight(path, "https://shop.example")
            .await
            .expect("OPTIONS");
        assert!(
            r.status().is_success(),
            "allowed preflight {path}: {}",
            r.status()
        );
        assert_eq!(
            r.headers()
                .get("access-control-allow-origin")
                .and_then(|v| v.to_str().ok()),
            Some("https://shop.example"),
            "allowed preflight {path}"
        );
    }
}
both!(
    origin_preflights,
    foreign_origins_preflights_are_refused_too
);

struct SioClientPolling;
impl SioClientPolling {
    async fn connect(app: &common::TestApp, origin: &str) -> Result<common::SioClient, String> {
        let opts = ConnectOpts {
            headers: vec![("origin".into(), origin.into())],
            ..Default::default()
        };
        common::SioClient::connect(&app.url, Transport::Polling, opts)
            .await
            .map_err(|e| format!("{e:?}"))
    }
}

fn hmac_hex(secret: &str, id: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

async fn visitor_identity_is_verified_with_hmac(backend: Backend) {
    let secret = "widget-hmac-secret";
    let app =
        common::spawn_app_with(backend, |c| c.visitor_hmac_secret = Some(secret.into())).await;
    let s = app.socket().await;
    let bad = s
        .ack(
            "init_session",
            json!({ "identifier": "user-42", "identifierHash": hmac_hex("wrong", "user-42") }),
        )
        .await;
    assert_eq!(bad["ok"], false);
    assert_eq!(bad["error"]["code"], "unauthorized");
    assert!(
        app.get_json_staff_chats().await.is_empty(),
        "a refused init_session created a session"
    );
    let good = s
        .ack(
            "init_session",
            json!({ "identifier": "user-42", "identifierHash": hmac_hex(secret, "user-42") }),
        )
        .await;
    let sid = good["sessionId"].as_str().expect("sid").to_string();
    s.ack(
        "user_message",
        json!({ "sessionId": sid, "content": "verified hello" }),
    )
    .await;
    // another device, same identity: same session
    let other = app.socket().await;
    let again = other
        .ack(
            "init_session",
            json!({ "identifier": "user-42", "identifierHash": hmac_hex(secret, "user-42") }),
        )
        .await;
    assert_eq!(again["sessionId"], sid.as_str());
    assert_eq!(again["resumed"], true);
    // an unverified visitor holding the id cannot reach it
    let anon = app.socket().await;
    let a = anon.ack("init_session", json!({ "sessionId": sid })).await;
    assert_ne!(a["sessionId"], sid.as_str());
}
both!(visitor_hmac, visitor_identity_is_verified_with_hmac);

trait StaffChats {
    async fn get_json_staff_chats(&self) -> Vec<Value>;
}
impl StaffChats for common::TestApp {
    async fn get_json_staff_chats(&self) -> Vec<Value> {
        let t = self.admin_token().await;
        self.http
            .get(format!("{}/api/chats", self.url))
            .bearer_auth(t)
            .send()
            .await
            .expect("GET")
            .json::<Value>()
            .await
            .expect("json")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

async fn first_admin_from_env_and_generated_secret_file(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.admin_email = Some("root@desk.test".into());
        c.admin_password = Some("root-password".into());
    })
    .await;
    let token = app.login("root@desk.test", "root-password").await;
    let me: Value = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("json");
    assert_eq!(me["user"]["role"], "admin");
    // restarting with the variables still set creates nothing new
    let app = app
        .restart(|c| {
            c.admin_email = Some("root@desk.test".into());
            c.admin_password = Some("another-password".into());
        })
        .await;
    assert_eq!(
        app.post(
            "/api/auth/login",
            None,
            json!({ "email": "root@desk.test", "password": "another-password" })
        )
        .await
        .status(),
        401
    );
}
both!(
    admin_bootstrap,
    first_admin_from_env_and_generated_secret_file
);

#[tokio::test]
async fn without_jwt_secret_a_secret_file_is_kept_beside_the_sqlite_database() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| c.jwt_secret = None).await;
    let token = app.admin_token().await;
    let path = app
        .db_url
        .trim_start_matches("sqlite://")
        .split('?')
        .next()
        .expect("path")
        .to_string();
    let secret_file = format!("{path}.jwt-secret");
    let secret = std::fs::read_to_string(&secret_file).expect("secret file exists");
    assert!(secret.trim().len() >= 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "secret file readable by others");
    }
    let app = app.restart(|c| c.jwt_secret = None).await;
    let r = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me");
    assert_eq!(r.status(), 200, "a token did not survive the restart");
}

#[tokio::test]
async fn a_short_jwt_secret_refuses_to_start() {
    let (url, _dir) = common::fresh_database(Backend::Sqlite).await;
    let mut c = chatdesk::Config::for_tests(&url);
    c.jwt_secret = Some("only-20-bytes-long!!".into());
    let err = chatdesk::App::build(c).await.err().expect("must refuse");
    assert!(err.to_string().contains("JWT_SECRET"), "{err}");
}

#[tokio::test]
async fn agent_cli_creates_and_manages_staff() {
    let (url, _dir) = common::fresh_database(Backend::Sqlite).await;
    let bin = env!("CARGO_BIN_EXE_chatdesk");
    let run = |args: &[&str]| {
        std::process::Command::new(bin)
            .args(args)
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "warn")
            .env("NEW_PW", "cli-password-1")
            .output()
            .expect("run chatdesk")
    };
    let out = run(&[
        "agent",
        "create",
        "--email",
        "ops@desk.test",
        "--name",
        "Ops",
        "--role",
        "admin",
        "--password-env",
        "NEW_PW",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["agent", "list"]);
    let list = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        list.contains("ops@desk.test") && list.contains("admin") && list.contains("active"),
        "{list}"
    );
    // password from stdin
    let mut child = std::process::Command::new(bin)
        .args([
            "agent",
            "create",
            "--email",
            "agent@desk.test",
            "--name",
            "Agent",
        ])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"stdin-password\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("stdin-password"));
    let out = run(&["agent", "disable", "agent@desk.test"]);
    assert!(out.status.success());
    let out = run(&["agent", "list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("disabled"));
    // the accounts work against a server on the same database
    let mut config = chatdesk::Config::for_tests(&url);
    config.rate_limits = "off".into();
    let app = chatdesk::App::build(config).await.expect("build");
    let port = app.port();
    let stop = app.shutdown_token();
    let h = tokio::spawn(app.run_until_stopped());
    let http = reqwest::Client::new();
    let login = |email: &'static str, pw: &'static str| {
        let http = http.clone();
        async move {
            http.post(format!("http://127.0.0.1:{port}/api/auth/login"))
                .json(&json!({"email": email, "password": pw}))
                .send()
                .await
                .expect("login")
                .status()
        }
    };
    assert_eq!(login("ops@desk.test", "cli-password-1").await, 200);
    assert_eq!(
        login("agent@desk.test", "stdin-password").await,
        401,
        "disabled account logged in"
    );
    let out = run(&[
        "agent",
        "reset-password",
        "ops@desk.test",
        "--password-env",
        "NEW_PW",
    ]);
    assert!(out.status.success());
    let out = run(&[
        "agent",
        "create",
        "--email",
        "weak@desk.test",
        "--name",
        "W",
        "--password-env",
        "MISSING_VAR",
    ]);
    assert!(!out.status.success());
    stop.cancel();
    let _ = h.await;
}

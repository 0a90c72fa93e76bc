//! Webhooks against a local receiver (an axum server in the test): signed deliveries of every
//! event exactly as stored, retries after 500s and timeouts with growing gaps, manual
//! redelivery, admin-only REST, no loss across a SIGKILL (the real binary), no double
//! delivery from two nodes, a receiver that never answers does not hold the chat, and the
//! secret never in the logs. Each scenario runs on SQLite and PostgreSQL unless it needs
//! several nodes.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::{Backend, ChildServer, SioClient, TestApp, Transport};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    at: Instant,
    event: String,
    delivery: String,
    signature: String,
    body: String,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("the body is JSON")
    }
}

/// How the receiver answers the n-th request (0-based).
type Behaviour = Arc<dyn Fn(usize) -> Answer + Send + Sync>;

#[derive(Clone, Copy)]
enum Answer {
    Status(u16),
    /// Hold the request this long, then 200.
    Hold(Duration),
}

#[derive(Clone)]
struct Receiver {
    got: Arc<Mutex<Vec<Got>>>,
    behaviour: Behaviour,
}

/// A local webhook receiver on `port` (0: any).
async fn receiver(port: u16, behaviour: Behaviour) -> (String, Arc<Mutex<Vec<Got>>>) {
    let got: Arc<Mutex<Vec<Got>>> = Arc::default();
    let state = Receiver {
        got: got.clone(),
        behaviour,
    };
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the receiver");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), got)
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let n = {
        let mut got = r.got.lock().expect("lock");
        got.push(Got {
            at: Instant::now(),
            event: h("x-chatdesk-event"),
            delivery: h("x-chatdesk-delivery"),
            signature: h("x-chatdesk-signature"),
            body,
        });
        got.len() - 1
    };
    match (r.behaviour)(n) {
        Answer::Status(s) => StatusCode::from_u16(s).unwrap_or(StatusCode::OK),
        Answer::Hold(d) => {
            tokio::time::sleep(d).await;
            StatusCode::OK
        }
    }
}

fn always(status: u16) -> Behaviour {
    Arc::new(move |_| Answer::Status(status))
}

/// The README's verification recipe: `t` and `v1` from the header, HMAC-SHA256 of
/// "<t>.<body>" with the secret, compared in constant time.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(expected) = hex::decode(v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&expected).is_ok()
}

/// Settings of every webhook test: the receiver is on loopback, retries are quick.
fn quick(c: &mut chatdesk::Config) {
    c.webhook_allow_private = true;
    c.webhook_poll_ms = 100;
    c.webhook_backoff_base_ms = 200;
    c.webhook_backoff_max_ms = 2000;
    c.webhook_timeout_ms = 2000;
    c.rate_limits = "off".into();
}

/// Waits (polling, up to 30 s) until `f` holds; panics with `what` otherwise.
async fn until<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = app.http.request(method, format!("{}{path}", app.url));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let v = r.json::<Value>().await.unwrap_or(Value::Null);
    (status, v)
}

/// Registers a webhook to `url` for `events` as `token`; returns (id, secret).
async fn register(app: &TestApp, token: &str, url: &str, events: &[&str]) -> (String, String) {
    let (st, v) = call(
        app,
        reqwest::Method::POST,
        "/api/webhooks",
        Some(token),
        Some(json!({ "url": url, "events": events })),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    (
        v["id"].as_str().expect("id").to_string(),
        v["secret"].as_str().expect("secret").to_string(),
    )
}

async fn log(app: &TestApp, token: &str, id: &str) -> Vec<Value> {
    let (st, v) = call(
        app,
        reqwest::Method::GET,
        &format!("/api/webhooks/{id}/deliveries?limit=200"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{v}");
    v["deliveries"].as_array().cloned().unwrap_or_default()
}

const ALL: [&str; 5] = [
    "session.created",
    "message.created",
    "session.status_changed",
    "session.assigned",
    "rating.created",
];

async fn every_event_is_delivered_signed_and_exactly_as_stored(backend: Backend) {
    let app = common::spawn_app_with(backend, quick).await;
    let admin = app.admin_token().await;
    let (url, got) = receiver(0, always(200)).await;
    let (hook, secret) = register(&app, &admin, &url, &ALL).await;

    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let ack = v
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello <b>desk</b>", "clientMsgId": "m1" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    let (_, me) = call(
        &app,
        reqwest::Method::GET,
        "/api/auth/me",
        Some(&admin),
        None,
    )
    .await;
    let admin_id = me["user"]["id"].as_str().expect("admin id").to_string();
    let (st, s) = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/chats/{sid}"),
        Some(&admin),
        Some(json!({ "assigneeId": admin_id })),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    let (st, s) = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/chats/{sid}/messages"),
        Some(&admin),
        Some(json!({ "content": "a reply", "clientMsgId": "r1" })),
    )
    .await;
    assert!(st == 200 || st == 201, "{st} {s}");
    let (st, s) = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/chats/{sid}"),
        Some(&admin),
        Some(json!({ "status": "resolved" })),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    let rated = v
        .ack(
            "rate_session",
            json!({ "sessionId": sid, "rating": 4, "comment": "quick" }),
        )
        .await;
    assert_eq!(rated["ok"], true, "{rated}");

    // session.created, 2 x message.created, assigned + status_changed (open -> assigned),
    // status_changed (assigned -> resolved), rating.created.
    until("seven deliveries", || got.lock().expect("lock").len() >= 7).await;
    let got = got.lock().expect("lock").clone();
    for g in &got {
        assert!(
            verify(&secret, &g.signature, &g.body),
            "signature does not verify: {}",
            g.signature
        );
        let b = g.json();
        assert_eq!(b["event"], g.event.as_str());
        assert!(b["id"].is_string() && b["createdAt"].is_string(), "{b}");
        assert!(g.delivery.parse::<i64>().is_ok(), "{}", g.delivery);
    }
    let events: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
    assert_eq!(events[0], "session.created", "{events:?}");
    assert_eq!(got[0].json()["data"]["sessionId"], sid.as_str());
    // The messages exactly as the REST API serves them.
    let stored = app.history_as(&sid, &admin).await;
    let delivered: Vec<Value> = got
        .iter()
        .filter(|g| g.event == "message.created")
        .map(|g| g.json()["data"].clone())
        .collect();
    assert_eq!(
        delivered, stored,
        "message.created data differs from GET /api/chats/:id"
    );
    let changes: Vec<(String, Value, Value)> = got
        .iter()
        .filter(|g| g.event.starts_with("session.") && g.event != "session.created")
        .map(|g| {
            let d = g.json()["data"].clone();
            (g.event.clone(), d["status"].clone(), d.clone())
        })
        .collect();
    assert!(
        changes.iter().any(|(e, st, d)| e == "session.assigned"
            && st == "assigned"
            && d["assigneeId"] == admin_id.as_str()
            && d["previousAssigneeId"].is_null()),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .any(|(e, st, d)| e == "session.status_changed"
                && st == "resolved"
                && d["previousStatus"] == "assigned"),
        "{changes:?}"
    );
    // The rating exactly as staff list it.
    let (_, ratings) = call(
        &app,
        reqwest::Method::GET,
        "/api/ratings",
        Some(&admin),
        None,
    )
    .await;
    let rating: Vec<Value> = got
        .iter()
        .filter(|g| g.event == "rating.created")
        .map(|g| g.json()["data"].clone())
        .collect();
    assert_eq!(rating.len(), 1, "{rating:?}");
    assert_eq!(
        rating[0], ratings[0],
        "rating.created data differs from GET /api/ratings"
    );
    assert_eq!(
        (
            rating[0]["rating"].clone(),
            rating[0]["sessionId"].clone(),
            rating[0]["agentId"].clone()
        ),
        (json!(4), json!(sid), json!(admin_id))
    );
    // The log says delivered for each, with the receiver's status.
    let entries = log(&app, &admin, &hook).await;
    assert_eq!(entries.len(), got.len());
    for e in &entries {
        assert_eq!(e["status"], "delivered", "{e}");
        assert_eq!(e["attempts"], 1, "{e}");
        assert_eq!(e["lastStatusCode"], 200, "{e}");
        assert!(e["deliveredAt"].is_string(), "{e}");
    }
}
both!(
    every_event,
    every_event_is_delivered_signed_and_exactly_as_stored
);

async fn failures_are_retried_with_growing_waits_then_delivered(backend: Backend) {
    let app = common::spawn_app_with(backend, quick).await;
    let admin = app.admin_token().await;
    // 500, 500, then a request held past the timeout, then 200.
    let behaviour: Behaviour = Arc::new(|n| match n {
        0 | 1 => Answer::Status(500),
        2 => Answer::Hold(Duration::from_secs(4)),
        _ => Answer::Status(200),
    });
    let (url, got) = receiver(0, behaviour).await;
    let (hook, _) = register(&app, &admin, &url, &["session.created"]).await;
    let v = app.socket().await;
    app.open_session(&v).await;

    until("four attempts", || got.lock().expect("lock").len() >= 4).await;
    let mut last = Vec::new();
    for _ in 0..100 {
        last = log(&app, &admin, &hook).await;
        if last.first().is_some_and(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let d = &last[0];
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 4, "{d}");
    assert_eq!(d["lastStatusCode"], 200, "{d}");
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 4, "one delivery, four attempts");
    assert!(got
        .iter()
        .all(|g| g.delivery == got[0].delivery && g.body == got[0].body));
    // Waits: base 200 ms doubled per failure, each drawn in [half, all] of it: at least
    // 100 ms, then 200 ms, then (after the 2 s timeout) 400 ms.
    let gaps: Vec<Duration> = got.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[1] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(2400), "{gaps:?}");
}
both!(
    retries,
    failures_are_retried_with_growing_waits_then_delivered
);

/// A `message.created` row keeps the message's id and its body is rendered when sent: a
/// message erased while its delivery waits for a retry is not sent (the delivery fails with
/// the reason, once), and the endpoint's next delivery goes out.
async fn a_message_erased_before_its_delivery_is_not_sent(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        quick(c);
        c.webhook_backoff_base_ms = 3000; // time to erase before the retry
        c.webhook_backoff_max_ms = 6000;
    })
    .await;
    let admin = app.admin_token().await;
    let behaviour: Behaviour = Arc::new(|n| match n {
        0 => Answer::Status(500),
        _ => Answer::Status(200),
    });
    let (url, got) = receiver(0, behaviour).await;
    let (hook, _) = register(&app, &admin, &url, &["message.created"]).await;
    let a = app.socket().await;
    let sa = app.open_session(&a).await;
    let sent = a
        .ack(
            "user_message",
            json!({ "sessionId": sa, "content": "my card number is 4111", "clientMsgId": "a1" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    until("the first attempt", || {
        !got.lock().expect("lock").is_empty()
    })
    .await;
    let (st, cleared) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/chats/{sa}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200, "{cleared}");
    let b = app.socket().await;
    let sb = app.open_session(&b).await;
    let sent = b
        .ack(
            "user_message",
            json!({ "sessionId": sb, "content": "next one", "clientMsgId": "b1" }),
        )
        .await;
    assert_eq!(sent["ok"], true, "{sent}");
    until("the next delivery", || got.lock().expect("lock").len() >= 2).await;
    let got = got.lock().expect("lock").clone();
    assert_eq!(got.len(), 2, "the erased message was sent again");
    assert_eq!(got[0].json()["data"]["content"], "my card number is 4111");
    assert_eq!(got[1].json()["data"]["content"], "next one");
    assert_eq!(got[1].json()["data"]["sessionId"], sb.as_str());
    let deliveries = log(&app, &admin, &hook).await;
    let first = deliveries
        .iter()
        .find(|d| d["id"].as_str() == Some(got[0].delivery.as_str()))
        .cloned()
        .unwrap_or_default();
    assert_eq!(first["status"], "failed", "{first}");
    assert_eq!(first["attempts"], 2, "{first}");
    assert!(
        first["lastError"]
            .as_str()
            .is_some_and(|e| e.contains("erased")),
        "{first}"
    );
}
both!(
    erased_before_delivery,
    a_message_erased_before_its_delivery_is_not_sent
);

/// An endpoint with a `batchSize` gets `{"events": [...]}`: up to that many events per POST,
/// in order, signed over the whole body, `X-Chatdesk-Event: batch` and the delivery ids in
/// `X-Chatdesk-Delivery`; a failed POST is retried as a whole (every delivery it carried
/// counts the attempt) and nothing is sent twice once delivered.
async fn a_batched_endpoint_gets_events_in_order_several_per_post(backend: Backend) {
    let app = common::spawn_app_with(backend, quick).await;
    let admin = app.admin_token().await;
    // The first POST is held while the messages queue up behind it; the second fails.
    let behaviour: Behaviour = Arc::new(|n| match n {
        0 => Answer::Hold(Duration::from_millis(1500)),
        1 => Answer::Status(500),
        _ => Answer::Status(200),
    });
    let (url, got) = receiver(0, behaviour).await;
    for bad in [json!(0), json!(501), json!("ten")] {
        let (st, v) = call(
            &app,
            reqwest::Method::POST,
            "/api/webhooks",
            Some(&admin),
            Some(json!({ "url": url, "events": ["message.created"], "batchSize": bad })),
        )
        .await;
        assert_eq!(st, 400, "batchSize {bad}: {v}");
    }
    let (st, made) = call(
        &app,
        reqwest::Method::POST,
        "/api/webhooks",
        Some(&admin),
        Some(json!({ "url": url, "events": ["message.created"], "batchSize": 10 })),
    )
    .await;
    assert_eq!(st, 201, "{made}");
    assert_eq!(made["batchSize"], 10, "{made}");
    let hook = made["id"].as_str().expect("id").to_string();
    let secret = made["secret"].as_str().expect("secret").to_string();

    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let total = 35;
    for i in 0..total {
        let ack = v
            .ack("user_message", json!({ "sessionId": sid, "content": format!("m{i}"), "clientMsgId": format!("k{i}") }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let delivered_count = |got: &[Got]| -> usize {
        got.iter()
            .skip(2) // the held one counts; the failed one is sent again
            .chain(got.iter().take(1))
            .map(|g| g.json()["events"].as_array().map_or(0, Vec::len))
            .sum()
    };
    until("every message delivered", || {
        let got = got.lock().expect("lock");
        got.len() >= 3 && delivered_count(&got) >= total
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received = got.clone();
    let got = got.lock().expect("lock").clone();
    for g in &got {
        assert_eq!(g.event, "batch");
        assert!(verify(&secret, &g.signature, &g.body), "bad signature");
        let events = g.json()["events"].as_array().cloned().expect("events");
        assert!(
            !events.is_empty() && events.len() <= 10,
            "{} events in one POST",
            events.len()
        );
        let ids: Vec<&str> = g.delivery.split(',').collect();
        assert_eq!(ids.len(), events.len(), "one delivery id per event");
        assert!(events.iter().all(|e| e["event"] == "message.created"));
    }
    assert!(
        got.iter()
            .any(|g| g.json()["events"].as_array().map_or(0, Vec::len) > 1),
        "no POST carried more than one event"
    );
    // The failed POST is sent again from its first delivery on: its ids lead the next one.
    let failed: Vec<&str> = got[1].delivery.split(',').collect();
    let again: Vec<&str> = got[2].delivery.split(',').collect();
    assert!(again.starts_with(&failed), "{failed:?} then {again:?}");
    // Every message once, in order, exactly as stored.
    let sent: Vec<Value> = got
        .iter()
        .enumerate()
        .filter(|(n, _)| *n != 1)
        .flat_map(|(_, g)| g.json()["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["data"].clone())
        .collect();
    let stored = app.history_as(&sid, &admin).await;
    assert_eq!(sent, stored, "each message once, in order, as stored");
    // The log: all delivered; those the failed POST carried were attempted twice.
    let entries = log(&app, &admin, &hook).await;
    assert_eq!(entries.len(), total);
    for e in &entries {
        assert_eq!(e["status"], "delivered", "{e}");
        let id = e["id"].as_str().unwrap_or_default();
        let want = if failed.contains(&id) { 2 } else { 1 };
        assert_eq!(e["attempts"], want, "{e}");
    }
    // Back to one event per POST: the body is the event again.
    let (st, patched) = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/webhooks/{hook}"),
        Some(&admin),
        Some(json!({ "batchSize": 1 })),
    )
    .await;
    assert_eq!(st, 200, "{patched}");
    assert_eq!(patched["batchSize"], 1);
    let ack = v
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "single", "clientMsgId": "single" }),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    until("the single delivery", || {
        received.lock().expect("lock").len() > got.len()
    })
    .await;
    let single = received.lock().expect("lock")[got.len()].clone();
    assert_eq!(single.event, "message.created");
    assert!(verify(&secret, &single.signature, &single.body));
    assert_eq!(single.json()["data"]["content"], "single");
    assert!(
        single.delivery.parse::<i64>().is_ok(),
        "{}",
        single.delivery
    );
}
both!(
    batched,
    a_batched_endpoint_gets_events_in_order_several_per_post
);

async fn only_admins_manage_webhooks_and_the_secret_is_shown_once(backend: Backend) {
    let app = common::spawn_app_with(backend, quick).await;
    let admin = app.admin_token().await;
    let agent = app.quick_staff_token("agent@desk.test", "agent").await;
    let customer = app.register("c@desk.test", "customer-password").await;
    let (url, got) = receiver(0, always(200)).await;
    let body = json!({ "url": url, "events": ["session.created"] });
    for (token, expected) in [
        (None, 401),
        (Some(agent.as_str()), 403),
        (Some(customer.as_str()), 403),
    ] {
        let (st, _) = call(
            &app,
            reqwest::Method::POST,
            "/api/webhooks",
            token,
            Some(body.clone()),
        )
        .await;
        assert_eq!(st, expected, "POST as {token:?}");
        let (st, _) = call(&app, reqwest::Method::GET, "/api/webhooks", token, None).await;
        assert_eq!(st, expected, "GET as {token:?}");
    }
    // Bad URLs and events are refused.
    for bad in [
        json!({ "url": "ftp://example.com/x", "events": ["session.created"] }),
        json!({ "url": url, "events": ["no.such.event"] }),
        json!({ "url": url, "events": [] }),
    ] {
        let (st, _) = call(
            &app,
            reqwest::Method::POST,
            "/api/webhooks",
            Some(&admin),
            Some(bad),
        )
        .await;
        assert_eq!(st, 400);
    }
    let (hook, secret) = register(&app, &admin, &url, &["session.created"]).await;
    assert!(secret.starts_with("whsec_"));
    let (_, list) = call(
        &app,
        reqwest::Method::GET,
        "/api/webhooks",
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert!(
        !list.to_string().contains(&secret),
        "the list shows the secret"
    );
    for (token, expected) in [(None, 401), (Some(agent.as_str()), 403)] {
        let path = format!("/api/webhooks/{hook}/deliveries");
        let (st, _) = call(&app, reqwest::Method::GET, &path, token, None).await;
        assert_eq!(st, expected);
        let (st, _) = call(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/webhooks/{hook}"),
            token,
            Some(json!({ "active": false })),
        )
        .await;
        assert_eq!(st, expected);
    }

    // Manual redelivery: the same delivery id and body again.
    let v = app.socket().await;
    app.open_session(&v).await;
    until("first delivery", || got.lock().expect("lock").len() == 1).await;
    let mut entries = log(&app, &admin, &hook).await;
    for _ in 0..50 {
        if entries[0]["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        entries = log(&app, &admin, &hook).await;
    }
    let id = entries[0]["id"].as_str().expect("delivery id").to_string();
    let path = format!("/api/webhooks/{hook}/deliveries/{id}/retry");
    let (st, _) = call(&app, reqwest::Method::POST, &path, Some(&agent), None).await;
    assert_eq!(st, 403);
    let (st, d) = call(&app, reqwest::Method::POST, &path, Some(&admin), None).await;
    assert_eq!(st, 202, "{d}");
    until("redelivery", || got.lock().expect("lock").len() == 2).await;
    let got = got.lock().expect("lock").clone();
    assert_eq!(got[1].delivery, id);
    assert_eq!(got[1].body, got[0].body);

    // Paused: no new deliveries are written for it; deleted: gone with its log.
    let (st, e) = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/webhooks/{hook}"),
        Some(&admin),
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!((st, e["active"].clone()), (200, json!(false)));
    let v2 = app.socket().await;
    app.open_session(&v2).await;
    let (st, _) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/webhooks/{hook}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 204);
    let (st, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/webhooks/{hook}/deliveries"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 404);
}
both!(
    admin_only,
    only_admins_manage_webhooks_and_the_secret_is_shown_once
);

async fn a_receiver_that_never_answers_does_not_hold_the_chat(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        quick(c);
        c.webhook_timeout_ms = 120_000;
    })
    .await;
    let admin = app.admin_token().await;
    let (url, got) = receiver(0, Arc::new(|_| Answer::Hold(Duration::from_secs(600)))).await;
    register(&app, &admin, &url, &ALL).await;
    let agent = app.socket_as("/admin", &admin).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let _ = agent.ack("join_session", json!({ "sessionId": sid })).await;
    until("the receiver is held", || {
        !got.lock().expect("lock").is_empty()
    })
    .await;
    for i in 0..50 {
        let ack = v
            .ack("user_message", json!({ "sessionId": sid, "content": format!("m{i}"), "clientMsgId": format!("k{i}") }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    let stored = app.history_as(&sid, &admin).await;
    assert_eq!(
        stored.len(),
        50,
        "every message stored while the receiver holds its request"
    );
    let mut heard = 0;
    while heard < 50 {
        let m = agent
            .next_within("message", Duration::from_secs(10))
            .await
            .expect("the agent hears every message");
        if m["sessionId"] == sid.as_str() {
            heard += 1;
        }
    }
    // Still only the first request: the endpoint's queue waits behind it, in order.
    assert_eq!(got.lock().expect("lock").len(), 1);
}
both!(
    slow_receiver,
    a_receiver_that_never_answers_does_not_hold_the_chat
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_never_deliver_the_same_delivery_twice() {
    let (a, b) = common::two_nodes(quick).await;
    let admin = a.admin_token().await;
    let (url, got) = receiver(0, always(200)).await;
    let (hook, _) = register(&a, &admin, &url, &["message.created"]).await;
    // Messages on both nodes, so that both workers have work.
    let mut total = 0;
    for (node, n) in [(&a, 4), (&b, 4)] {
        for _ in 0..n {
            let v = node.socket().await;
            let sid = node.open_session(&v).await;
            for i in 0..25 {
                let ack = v
                    .ack("user_message", json!({ "sessionId": sid, "content": format!("m{i}"), "clientMsgId": format!("k{i}") }))
                    .await;
                assert_eq!(ack["ok"], true, "{ack}");
                total += 1;
            }
        }
    }
    until("every message delivered", || {
        got.lock().expect("lock").len() >= total
    })
    .await;
    // Both nodes keep looking for a while: nothing more may come.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = got.lock().expect("lock").clone();
    let mut ids: Vec<i64> = got
        .iter()
        .map(|g| g.delivery.parse().expect("id"))
        .collect();
    assert_eq!(ids.len(), total, "a delivery arrived twice");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), total, "a delivery arrived twice");
    // Per-endpoint order: the receiver got them in delivery id order.
    let order: Vec<i64> = got
        .iter()
        .map(|g| g.delivery.parse().expect("id"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "out of order: {order:?}"
    );
    let entries = log(&a, &admin, &hook).await;
    assert!(entries
        .iter()
        .all(|e| e["status"] == "delivered" && e["attempts"] == 1));
}

async fn nothing_is_lost_when_the_server_is_killed_before_delivering(backend: Backend) {
    let (db_url, dir) = common::fresh_database(backend).await;
    let workdir = tempfile::tempdir().expect("workdir");
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let env = vec![
        ("DATABASE_URL", db_url.clone()),
        ("RATE_LIMITS", "off".to_string()),
        (
            "JWT_SECRET",
            "webhook-crash-secret-0123456789-abcdef".to_string(),
        ),
        ("ADMIN_EMAIL", common::ADMIN_EMAIL.to_string()),
        ("ADMIN_PASSWORD", common::ADMIN_PASSWORD.to_string()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_string()),
        ("WEBHOOK_POLL_MS", "100".to_string()),
        ("WEBHOOK_BACKOFF_BASE_MS", "100".to_string()),
        ("WEBHOOK_BACKOFF_MAX_MS", "500".to_string()),
        ("WEBHOOK_TIMEOUT_MS", "2000".to_string()),
    ];
    let mut server = ChildServer::start(workdir.path(), &env);
    let app = TestApp::remote(&server.url);
    let admin = app.admin_token().await;
    // The receiver is down: every attempt fails, the rows wait in the outbox.
    register(&app, &admin, &url, &["message.created"]).await;
    let v = SioClient::connect(&server.url, Transport::WebSocket, Default::default())
        .await
        .expect("connect");
    let sid = v.ack("init_session", json!({})).await["sessionId"]
        .as_str()
        .expect("sid")
        .to_string();
    for i in 0..30 {
        let ack = v
            .ack("user_message", json!({ "sessionId": sid, "content": format!("m{i}"), "clientMsgId": format!("k{i}") }))
            .await;
        assert_eq!(ack["ok"], true, "{ack}");
    }
    server.kill();
    drop(v);

    let (_, got) = receiver(port, always(200)).await;
    let restarted = ChildServer::start(workdir.path(), &env);
    let app = TestApp::remote(&restarted.url);
    until("every message delivered after the restart", || {
        got.lock().expect("lock").len() >= 30
    })
    .await;
    let admin = app.admin_token().await;
    let stored = app.history_as(&sid, &admin).await;
    let got = got.lock().expect("lock").clone();
    let delivered: Vec<Value> = got.iter().map(|g| g.json()["data"].clone()).collect();
    assert_eq!(delivered, stored, "each message once, in order, as stored");
    drop(dir);
}
both!(
    sigkill,
    nothing_is_lost_when_the_server_is_killed_before_delivering
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_never_reaches_the_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ChildServer::start(
        dir.path(),
        &[
            ("RUST_LOG", "trace".to_string()),
            ("ADMIN_EMAIL", common::ADMIN_EMAIL.to_string()),
            ("ADMIN_PASSWORD", common::ADMIN_PASSWORD.to_string()),
            ("WEBHOOK_ALLOW_PRIVATE", "true".to_string()),
            ("WEBHOOK_POLL_MS", "100".to_string()),
        ],
    );
    let app = TestApp::remote(&server.url);
    let admin = app.admin_token().await;
    let (url, got) = receiver(0, always(200)).await;
    let (hook, secret) = register(&app, &admin, &url, &["session.created"]).await;
    let v = app.socket().await;
    app.open_session(&v).await;
    until("a delivery", || !got.lock().expect("lock").is_empty()).await;
    let (st, _) = call(
        &app,
        reqwest::Method::GET,
        &format!("/api/webhooks/{hook}/deliveries"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let logs = server.logs();
    assert!(
        logs.contains("webhook registered"),
        "the log was not captured"
    );
    let hex = secret.trim_start_matches("whsec_");
    assert!(!logs.contains(hex), "the webhook secret is in the logs");
}

//! What every workflow test uses: a desk server, staff accounts, REST calls, and waits and
//! checks on socket.io events and acks.
//!
//! Timing: nothing here asserts a duration. Absence is proven with a bounded wait (`QUIET`).

use std::collections::BTreeSet;
use std::time::Duration;

use crate::common::{self, Backend, SioClient, TestApp};
use serde_json::{json, Value};

/// Bounded wait used to prove that something does NOT arrive.
pub const QUIET: Duration = Duration::from_millis(300);
/// Longest wait for something that must arrive.
pub const WAIT: Duration = Duration::from_secs(10);

pub const SUMMARY_KEYS: [&str; 19] = [
    "sessionId",
    "code",
    "status",
    "assignee",
    "assigneeId",
    "createdAt",
    "updatedAt",
    "lastMessageAt",
    "waitingSince",
    "assignedAt",
    "firstResponseAt",
    "resolvedAt",
    "ip",
    "userAgent",
    "lastSeq",
    "readSeq",
    "unread",
    "visitorOnline",
    "customerId",
];

/// A server with rate limits off and auto-assignment off unless `tweak` turns it on, whose
/// database pool closes with it (this crate has over a hundred PostgreSQL tests). Its admin
/// ([`common::ADMIN_EMAIL`]) and the accounts [`staff`] makes are stored with a cheap password
/// hash ([`TestApp::store_account`]): with argon2's default cost, the five or so hashes and
/// logins of a test took more CPU than everything else it does.
pub async fn desk(backend: Backend, tweak: impl FnOnce(&mut chatdesk::Config)) -> TestApp {
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.auto_assign = false;
        // stored below instead of hashed at start-up with the default cost
        c.admin_email = None;
        c.admin_password = None;
        tweak(c);
    })
    .await
    .closing_its_pool_on_drop();
    app.store_account(
        common::ADMIN_EMAIL,
        "Administrator",
        "admin",
        common::ADMIN_PASSWORD,
    )
    .await;
    app
}

/// The desk of the queue-to-resolve story: auto-assignment on, one chat per agent, and a 1 s
/// typing timeout where a test waits for it.
pub async fn one_chat_desk(backend: Backend) -> TestApp {
    desk(backend, |c| {
        c.auto_assign = true;
        c.max_chats_per_agent = 1;
        c.typing_timeout_secs = 1;
    })
    .await
}

/// A staff member: token, account id, display name.
pub struct Staff {
    pub token: String,
    pub id: String,
    pub name: String,
}

pub async fn whoami(app: &TestApp, token: &str) -> (String, String) {
    let (st, me) = call(app, reqwest::Method::GET, "/api/auth/me", Some(token), None).await;
    assert_eq!(st, 200, "GET /api/auth/me: {me}");
    (
        me["user"]["id"].as_str().expect("user.id").to_string(),
        me["user"]["name"].as_str().unwrap_or_default().to_string(),
    )
}

pub async fn staff(app: &TestApp, email: &str, role: &str) -> Staff {
    let token = app.quick_staff_token(email, role).await;
    let (id, name) = whoami(app, &token).await;
    Staff { token, id, name }
}

pub async fn admin(app: &TestApp) -> Staff {
    let token = app.admin_token().await;
    let (id, name) = whoami(app, &token).await;
    Staff { token, id, name }
}

/// Any REST call; returns (status, JSON body or null).
pub async fn call(
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
    let r = rb.send().await.expect("HTTP request");
    let status = r.status().as_u16();
    let text = r.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The `data` of a successful wrapped ack.
#[track_caller]
pub fn data(ack: &Value, what: &str) -> Value {
    assert_eq!(ack["ok"], true, "{what}: expected ok:true, got {ack}");
    ack["data"].clone()
}

/// Asserts a wrapped failure with `code` and a non-empty message.
#[track_caller]
pub fn assert_err(ack: &Value, code: &str, what: &str) {
    assert_eq!(
        ack["ok"], false,
        "{what}: expected ok:false/{code}, got {ack}"
    );
    assert_eq!(ack["error"]["code"], code, "{what}: got {ack}");
    assert!(
        ack["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{what}: error without message: {ack}"
    );
}

/// Asserts that `actual` has at least the fields of `expected` (recursively for objects),
/// with equal values; extra fields are allowed.
#[track_caller]
pub fn assert_has(actual: &Value, expected: &Value, what: &str) {
    fn sub(a: &Value, e: &Value) -> bool {
        match (a, e) {
            (Value::Object(a), Value::Object(e)) => e
                .iter()
                .all(|(k, ev)| a.get(k).is_some_and(|av| sub(av, ev))),
            _ => a == e,
        }
    }
    assert!(
        sub(actual, expected),
        "{what}: expected (at least) {expected}, got {actual}"
    );
}

/// Waits for the next `event` matching `pred`; non-matching ones are discarded.
pub async fn next_where(
    s: &SioClient,
    event: &str,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut skipped = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match s.next_within(event, left).await {
            Some(v) if pred(&v) => return v,
            Some(v) => skipped.push(v),
            None => panic!("no `{event}` {what} within {WAIT:?} (skipped: {skipped:?})"),
        }
    }
}

/// Proves that no `event` arrives within `QUIET`.
pub async fn none_of(s: &SioClient, event: &str, what: &str) {
    if let Some(v) = s.next_within(event, QUIET).await {
        panic!("{what}: unexpected `{event}` {v}");
    }
}

/// Proves that none of `sockets` receives `event` within one `QUIET` wait.
pub async fn none_on(sockets: &[(&str, &SioClient)], event: &str, what: &str) {
    tokio::time::sleep(QUIET).await;
    for (name, s) in sockets {
        let got = s.drain(event);
        assert!(got.is_empty(), "{what}: {name} got `{event}` {got:?}");
    }
}

/// Proves that no `event` matching `pred` arrives within `wait` (others are discarded).
pub async fn none_where(
    s: &SioClient,
    event: &str,
    wait: Duration,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match s.next_within(event, left).await {
            Some(v) if pred(&v) => panic!("{what}: unexpected `{event}` {v}"),
            Some(_) => continue,
            None => return,
        }
    }
}

/// The next `session_status` of session `sid` on `s`.
pub async fn status_of(s: &SioClient, sid: &str) -> Value {
    next_where(s, "session_status", &format!("for {sid}"), |v| {
        v["sessionId"] == sid
    })
    .await
}

#[track_caller]
pub fn assert_summary(v: &Value, what: &str) {
    for key in SUMMARY_KEYS {
        assert!(
            v.get(key).is_some(),
            "{what}: SessionSummary without `{key}`: {v}"
        );
    }
    assert!(
        v["readSeq"]["user"].is_i64() && v["readSeq"]["admin"].is_i64(),
        "{what}: readSeq {v}"
    );
    assert_eq!(
        v["unread"].as_i64(),
        Some(v["lastSeq"].as_i64().unwrap_or(-1) - v["readSeq"]["admin"].as_i64().unwrap_or(-1)),
        "{what}: unread must be lastSeq - readSeq.admin: {v}"
    );
}

pub fn seqs(list: &Value) -> Vec<i64> {
    list.as_array()
        .map(|a| a.iter().map(|m| m["seq"].as_i64().unwrap_or(-1)).collect())
        .unwrap_or_default()
}

pub fn session_ids(list_data: &Value) -> Vec<String> {
    list_data["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("list_sessions without sessions: {list_data}"))
        .iter()
        .map(|s| s["sessionId"].as_str().unwrap_or_default().to_string())
        .collect()
}

pub fn presence_ids(p: &Value) -> Vec<String> {
    p["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("presence without agents: {p}"))
        .iter()
        .map(|a| {
            assert_eq!(a["online"], true, "presence entry {a}");
            assert!(a["name"].is_string(), "presence entry without name {a}");
            a["id"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

pub fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// Opens a session and returns the whole `init_session` ack.
pub async fn open(s: &SioClient) -> Value {
    let ack = s.ack("init_session", json!({ "sessionId": null })).await;
    assert!(ack["sessionId"].is_string(), "init_session: {ack}");
    ack
}

pub async fn pause() {
    // distinct creation / waiting instants for ordering checks (not a timing assertion)
    tokio::time::sleep(Duration::from_millis(15)).await;
}

// ---------------------------------------------------------------------------------------
// shared starting points
// ---------------------------------------------------------------------------------------

/// Ann and one visitor on a [`one_chat_desk`]: the visitor asked for a human, Ann came online
/// and was given the session by auto-assignment, and has joined it. The visitor's two
/// `session_status` events (`waiting`, then `assigned`) are consumed.
pub struct Chat {
    pub app: TestApp,
    pub v1: SioClient,
    pub s1: String,
    pub ad: SioClient,
}

pub async fn assigned_chat(backend: Backend) -> Chat {
    let app = one_chat_desk(backend).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;
    data(
        &v1.ack("request_human", json!({ "sessionId": s1 })).await,
        "request_human s1",
    );
    v1.next("session_status").await; // waiting
    let ad = app.socket_as("/admin", &ann.token).await;
    v1.next("session_status").await; // assigned to Ann
    data(
        &ad.ack("join_session", json!({ "sessionId": s1 })).await,
        "join_session s1",
    );
    Chat { app, v1, s1, ad }
}

/// [`assigned_chat`] after one visitor message and one reply: returns their seqs.
pub async fn chat_with_two_messages(backend: Backend) -> (Chat, i64, i64) {
    let chat = assigned_chat(backend).await;
    let (v1, s1, ad) = (&chat.v1, &chat.s1, &chat.ad);
    let u = data(
        &v1.ack(
            "user_message",
            json!({ "sessionId": s1, "content": "I need a human" }),
        )
        .await,
        "user_message",
    );
    let m = data(
        &ad.ack(
            "admin_message",
            json!({ "sessionId": s1, "content": "Hi, Ann here" }),
        )
        .await,
        "admin_message",
    );
    let (u_seq, m_seq) = (
        u["seq"].as_i64().expect("seq"),
        m["seq"].as_i64().expect("seq"),
    );
    (chat, u_seq, m_seq)
}

/// A desk with its admin (`boss`) and agents `a` and `b`, each on "/admin" (`xd`, `ad`, `bd`),
/// and a visitor (`v`) whose session `sid` waits in the queue; its `waiting` status is consumed.
pub struct DeskSession {
    pub app: TestApp,
    pub boss: Staff,
    pub a: Staff,
    pub b: Staff,
    pub ad: SioClient,
    pub bd: SioClient,
    pub xd: SioClient,
    pub v: SioClient,
    pub sid: String,
}

pub async fn waiting_session(backend: Backend) -> DeskSession {
    waiting_session_on(desk(backend, |_| {}).await).await
}

/// [`waiting_session`] on a desk of the caller's.
pub async fn waiting_session_on(app: TestApp) -> DeskSession {
    let boss = admin(&app).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let bd = app.socket_as("/admin", &b.token).await;
    let xd = app.socket_as("/admin", &boss.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    data(
        &v.ack("request_human", json!({ "sessionId": sid })).await,
        "request_human",
    );
    assert_eq!(status_of(&v, &sid).await["status"], "waiting");
    DeskSession {
        app,
        boss,
        a,
        b,
        ad,
        bd,
        xd,
        v,
        sid,
    }
}

/// [`waiting_session`], claimed by `a`; the visitor's `assigned` status is consumed.
pub async fn claimed_by_a(backend: Backend) -> DeskSession {
    claim_by_a(waiting_session(backend).await).await
}

/// `a` claims the session of `d`; the visitor's `assigned` status is consumed.
pub async fn claim_by_a(d: DeskSession) -> DeskSession {
    data(
        &d.ad
            .ack("claim_session", json!({ "sessionId": d.sid }))
            .await,
        "a claims",
    );
    let st = status_of(&d.v, &d.sid).await;
    assert_eq!(st["status"], "assigned");
    assert_eq!(st["assignee"]["id"], d.a.id.as_str());
    d
}

//! Open connections lose the powers their account or token lost: disabling, deleting or
//! changing the role of an account, or logging a token out, disconnects its sockets
//! (socket.io on both namespaces, the plain WebSocket), and a token that expires while its
//! socket is open stops working.

mod common;

use std::time::Duration;

use common::{Backend, TestApp};
use futures::StreamExt;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

async fn agent_id(app: &TestApp, admin: &str, email: &str) -> String {
    let list: Value = app
        .http
        .get(format!("{}/api/agents", app.url))
        .bearer_auth(admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    list.as_array()
        .expect("list")
        .iter()
        .find(|a| a["email"] == email)
        .expect("agent")["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn patch_agent(app: &TestApp, admin: &str, id: &str, body: Value) {
    let r = app
        .http
        .patch(format!("{}/api/agents/{id}", app.url))
        .bearer_auth(admin)
        .json(&body)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200);
}

/// The staff socket on "/admin", and one on "/" with the same token, before the change.
async fn open_sockets(app: &TestApp, token: &str) -> (common::SioClient, common::SioClient) {
    let admin_ns = app.socket_as("/admin", token).await;
    let ack = admin_ns.ack("list_sessions", json!({})).await;
    assert_eq!(ack["ok"], true, "{ack}");
    let root = app.socket_as("/", token).await;
    (admin_ns, root)
}

async fn assert_disconnected(s: &common::SioClient, what: &str) {
    assert!(s.closed(WAIT).await, "{what}: the socket kept its powers");
}

async fn disabling(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.staff_token("a1@desk.test", "agent").await;
    let id = agent_id(&app, &admin, "a1@desk.test").await;
    let (admin_ns, root) = open_sockets(&app, &agent).await;
    let bystander = app.socket_as("/admin", &admin).await;
    patch_agent(&app, &admin, &id, json!({ "disabled": true })).await;
    assert_disconnected(&admin_ns, "disabled, /admin").await;
    assert_disconnected(&root, "disabled, /").await;
    let ack = bystander.ack("list_sessions", json!({})).await;
    assert_eq!(ack["ok"], true, "other accounts keep their sockets: {ack}");
}
both!(disabling_an_account_disconnects_its_sockets, disabling);

async fn demoting(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let boss = app.staff_token("boss@desk.test", "admin").await;
    let id = agent_id(&app, &admin, "boss@desk.test").await;
    let (admin_ns, root) = open_sockets(&app, &boss).await;
    patch_agent(&app, &admin, &id, json!({ "role": "agent" })).await;
    assert_disconnected(&admin_ns, "demoted, /admin").await;
    assert_disconnected(&root, "demoted, /").await;
}
both!(changing_a_role_disconnects_its_sockets, demoting);

async fn deleting(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.staff_token("gone@desk.test", "agent").await;
    let id = agent_id(&app, &admin, "gone@desk.test").await;
    let (admin_ns, root) = open_sockets(&app, &agent).await;
    let r = app
        .http
        .delete(format!("{}/api/agents/{id}", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 204);
    assert_disconnected(&admin_ns, "deleted, /admin").await;
    assert_disconnected(&root, "deleted, /").await;
}
both!(deleting_an_account_disconnects_its_sockets, deleting);

async fn logging_out(backend: Backend) {
    let app = common::spawn_app(backend).await;
    app.admin_token().await;
    let first = app.staff_token("two@desk.test", "agent").await;
    let second = app.login("two@desk.test", "staff-password").await;
    let (admin_ns, root) = open_sockets(&app, &first).await;
    let other_device = app.socket_as("/admin", &second).await;
    let r = app.post("/api/auth/logout", Some(&first), json!({})).await;
    assert_eq!(r.status(), 200);
    assert_disconnected(&admin_ns, "logged out, /admin").await;
    assert_disconnected(&root, "logged out, /").await;
    let ack = other_device.ack("list_sessions", json!({})).await;
    assert_eq!(ack["ok"], true, "another token of the account stays: {ack}");
}
both!(logging_out_disconnects_that_tokens_sockets, logging_out);

type PlainWs =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The close code the server sends within `WAIT`; `Err` when the socket stays open.
async fn close_code(ws: &mut PlainWs) -> Result<Option<u16>, tokio::time::error::Elapsed> {
    tokio::time::timeout(WAIT, async {
        while let Some(frame) = ws.next().await {
            if let Ok(tokio_tungstenite::tungstenite::Message::Close(f)) = frame {
                return f.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
}

/// A customer's plain WebSocket closes with 1008 when its token is logged out.
async fn plain_websocket_logout(backend: Backend) {
    let app = common::spawn_app(backend).await;
    app.admin_token().await;
    let token = app.register("cust@example.com", "customer-password").await;
    let url = format!("ws://127.0.0.1:{}/ws?token={token}", app.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    let r = app.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), 200);
    let code = close_code(&mut ws)
        .await
        .expect("the plain WebSocket was left open");
    assert_eq!(code, Some(1008));
}
both!(
    logging_out_closes_the_plain_websocket,
    plain_websocket_logout
);

/// A token that expires while its socket is open stops working on that socket.
async fn expiring(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let me: Value = app
        .http
        .get(format!("{}/api/auth/me", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert!(me["user"]["id"].is_string(), "{me}");
    // the same claims as the admin's token, expiring in two seconds
    let claims = {
        use base64::Engine;
        let payload = admin.split('.').nth(1).expect("jwt");
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64");
        let mut c: Value = serde_json::from_slice(&bytes).expect("claims");
        c["exp"] = json!(chrono::Utc::now().timestamp() + 2);
        c
    };
    let short = encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(app.jwt_secret().as_bytes()),
    )
    .expect("encode");
    let s = app.socket_as("/admin", &short).await;
    assert_eq!(s.ack("list_sessions", json!({})).await["ok"], true);
    tokio::time::sleep(Duration::from_millis(3_100)).await; // let the token expire
    let ack = s
        .try_ack("list_sessions", json!({}), WAIT)
        .await
        .unwrap_or(Value::Null);
    assert_ne!(ack["ok"], true, "an expired token still worked: {ack}");
    assert_disconnected(&s, "expired").await;
}
both!(
    a_token_that_expires_on_a_live_socket_stops_working,
    expiring
);

/// Two nodes: the account is disabled on one, its socket on the other is disconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_on_one_node_disconnects_sockets_on_another() {
    let (a, b) = common::two_nodes(|_| {}).await;
    let admin = a.admin_token().await;
    let agent = a.staff_token("far@desk.test", "agent").await;
    let id = agent_id(&a, &admin, "far@desk.test").await;
    let (admin_ns, root) = open_sockets(&b, &agent).await;
    patch_agent(&a, &admin, &id, json!({ "disabled": true })).await;
    assert_disconnected(&admin_ns, "disabled on the other node, /admin").await;
    assert_disconnected(&root, "disabled on the other node, /").await;
}

/// Session fixation: an anonymous session whose id a customer presents becomes the
/// customer's; the socket that created it (and handed out the id) loses it at once.
async fn fixation(backend: Backend) {
    let app = common::spawn_app(backend).await;
    app.admin_token().await;
    let attacker = app.socket().await;
    let sid = app.open_session(&attacker).await;
    // staff watching the session on "/" (the reference dashboard) are not its visitors
    let dashboard = app.staff_socket().await;
    let joined = dashboard
        .ack("admin-join-session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(joined["ok"], true, "{joined}");
    let customer = app
        .register("victim@example.com", "customer-password")
        .await;
    let victim = app.socket_as("/", &customer).await;
    let ack = victim
        .ack("init_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(
        ack["sessionId"],
        sid.as_str(),
        "the customer takes the session over"
    );
    assert_disconnected(&attacker, "the session's creator").await;
    // coming back with the id gives the attacker nothing of the customer's
    let again = app.socket().await;
    let ack = again.ack("init_session", json!({ "sessionId": sid })).await;
    assert_ne!(ack["sessionId"], sid.as_str(), "{ack}");
    let send = again
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "still here?" }),
        )
        .await;
    assert_eq!(send["error"]["code"], "forbidden", "{send}");
    // the customer goes on
    let ok = victim
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello" }),
        )
        .await;
    assert_eq!(ok["ok"], true, "{ok}");
    // ... and the dashboard, still connected and in the room, hears it
    assert_eq!(dashboard.next("message").await["content"], "hello");
}
both!(
    a_session_taken_over_by_a_customer_drops_the_other_sockets,
    fixation
);

/// Two nodes: a token logged out on one node closes its plain WebSocket on the other (the
/// revocation goes through Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_on_one_node_closes_the_plain_websocket_on_another() {
    let (a, b) = common::two_nodes(|_| {}).await;
    a.admin_token().await;
    let token = a
        .register("far-cust@example.com", "customer-password")
        .await;
    let url = format!("ws://127.0.0.1:{}/ws?token={token}", b.port);
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connects");
    // the gateway greets the client once it is set up (and registered for revocation)
    let greeted = tokio::time::timeout(WAIT, ws.next()).await;
    assert!(
        matches!(greeted, Ok(Some(Ok(_)))),
        "no greeting: {greeted:?}"
    );
    let r = a.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(r.status(), 200);
    let code = close_code(&mut ws)
        .await
        .expect("the plain WebSocket on the other node was left open");
    assert_eq!(code, Some(1008));
}

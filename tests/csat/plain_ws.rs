//! The same flows over the plain WebSocket (`/ws`): `availability` after `session`,
//! `rating_request` on resolve and on reconnect while unrated, `rate_session` answered
//! `rated` (or `error` with the same codes), `leave_contact` answered `contact_left`.

use reqwest::Method;
use serde_json::json;

use crate::both;
use crate::common::ws::Ws;
use crate::common::{Backend, TestApp};
use crate::helpers::*;

fn ws_url(app: &TestApp, query: &str) -> String {
    format!("ws://127.0.0.1:{}/ws{query}", app.port)
}

async fn anonymous_desk(backend: Backend) -> TestApp {
    desk(backend, |c| c.ws_allow_anonymous = true).await
}

/// A plain-WebSocket visitor's new session: its id.
async fn connect(app: &TestApp) -> (Ws, String) {
    let mut ws = Ws::connect(&ws_url(app, "")).await;
    let hello = ws.next("session").await;
    let sid = hello["sessionId"].as_str().expect("sessionId").to_string();
    (ws, sid)
}

async fn patch(app: &TestApp, token: &str, sid: &str, body: serde_json::Value) {
    let path = format!("/api/chats/{sid}");
    let (st, r) = call(app, Method::PATCH, &path, Some(token), Some(body)).await;
    assert_eq!(st, 200, "PATCH {path}: {r}");
}

async fn a_plain_websocket_visitor_is_asked_and_rates_once(backend: Backend) {
    let app = anonymous_desk(backend).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let (mut ws, sid) = connect(&app).await;
    let avail = ws.next("availability").await;
    assert_eq!(
        (avail["online"].clone(), avail["reason"].clone()),
        (json!(false), json!("no_agents")),
        "{avail}"
    );
    patch(&app, &ann.token, &sid, json!({ "assigneeId": ann.id })).await;
    patch(&app, &ann.token, &sid, json!({ "status": "resolved" })).await;
    let ask = ws.next("rating_request").await;
    assert_eq!(ask["sessionId"], sid.as_str(), "{ask}");

    ws.send(json!({ "type": "rate_session", "rating": 9 }))
        .await;
    let e = ws.next("error").await;
    assert_eq!(
        (e["code"].clone(), e["event"].clone()),
        (json!("invalid_payload"), json!("rate_session"))
    );
    ws.send(json!({ "type": "rate_session", "rating": 5, "comment": "great" }))
        .await;
    let rated = ws.next("rated").await;
    assert_eq!(
        (
            rated["sessionId"].clone(),
            rated["rating"].clone(),
            rated["comment"].clone()
        ),
        (json!(sid), json!(5), json!("great")),
        "{rated}"
    );
    ws.send(json!({ "type": "rate_session", "rating": 4 }))
        .await;
    assert_eq!(ws.next("error").await["code"], "already_rated");

    let (_, sum) = call(
        &app,
        Method::GET,
        &format!("/api/chats/{sid}/summary"),
        Some(&ann.token),
        None,
    )
    .await;
    assert_eq!(sum["rating"]["rating"], 5, "{sum}");
    let (_, list) = call(&app, Method::GET, "/api/ratings", Some(&ann.token), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["agentId"], ann.id.as_str());
}
both!(
    rates_once,
    a_plain_websocket_visitor_is_asked_and_rates_once
);

async fn reconnecting_to_an_unrated_resolution_asks_again(backend: Backend) {
    let app = anonymous_desk(backend).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let (mut ws, sid) = connect(&app).await;
    ws.send(json!({ "type": "rate_session", "rating": 3 }))
        .await;
    assert_eq!(ws.next("error").await["code"], "not_resolved");
    patch(&app, &ann.token, &sid, json!({ "status": "resolved" })).await;
    ws.next("rating_request").await;
    drop(ws);
    let mut again = Ws::connect(&ws_url(&app, &format!("?sessionId={sid}"))).await;
    assert_eq!(again.next("session").await["resumed"], true);
    assert_eq!(
        again.next("rating_request").await["sessionId"],
        sid.as_str()
    );
    // naming another session is refused
    let other = uuid::Uuid::new_v4().to_string();
    again
        .send(json!({ "type": "rate_session", "sessionId": other, "rating": 3 }))
        .await;
    assert_eq!(again.next("error").await["code"], "session_not_found");
    again
        .send(json!({ "type": "rate_session", "sessionId": sid, "rating": 3 }))
        .await;
    assert_eq!(again.next("rated").await["rating"], 3);
    drop(again);
    let mut third = Ws::connect(&ws_url(&app, &format!("?sessionId={sid}"))).await;
    third.next("availability").await; // sent after the history: a request would come before
    assert!(
        third.next_within("rating_request", QUIET).await.is_none(),
        "a rated resolution is not asked again"
    );
}
both!(
    asked_again,
    reconnecting_to_an_unrated_resolution_asks_again
);

async fn a_plain_websocket_visitor_leaves_a_contact(backend: Backend) {
    let app = anonymous_desk(backend).await;
    let boss = admin(&app).await;
    let (mut ws, sid) = connect(&app).await;
    assert_eq!(ws.next("availability").await["reason"], "no_agents");
    ws.send(json!({ "type": "leave_contact", "email": "not-an-address", "message": "hi" }))
        .await;
    let e = ws.next("error").await;
    assert_eq!(
        (e["code"].clone(), e["event"].clone()),
        (json!("invalid_email"), json!("leave_contact"))
    );
    ws.send(json!({ "type": "leave_contact", "email": "cy@example.net", "message": "Call me" }))
        .await;
    let sent = ws.next("sent").await;
    assert_eq!(sent["content"], "Call me", "{sent}");
    let left = ws.next("contact_left").await;
    assert_eq!(
        (
            left["contactEmail"].clone(),
            left["status"].clone(),
            left["position"].clone()
        ),
        (json!("cy@example.net"), json!("waiting"), json!(1)),
        "{left}"
    );
    assert!(
        ws.next_within("user_message", QUIET).await.is_none(),
        "own message echoed"
    );
    let (_, chats) = call(
        &app,
        Method::GET,
        "/api/chats?status=waiting",
        Some(&boss.token),
        None,
    )
    .await;
    assert_eq!(chats[0]["sessionId"], sid.as_str(), "{chats}");
    assert_eq!(chats[0]["contactEmail"], "cy@example.net", "{chats}");
    assert_eq!(chats[0]["messages"][0]["content"], "Call me", "{chats}");
    // back later on the same session: the greeting says the address was left
    drop(ws);
    let mut again = Ws::connect(&ws_url(&app, &format!("?sessionId={sid}"))).await;
    let hello = again.next("session").await;
    assert_eq!(
        (hello["resumed"].clone(), hello["contactLeft"].clone()),
        (json!(true), json!(true)),
        "{hello}"
    );
    let mut fresh = Ws::connect(&ws_url(&app, "")).await;
    let hello = fresh.next("session").await;
    assert_ne!(hello["sessionId"], sid.as_str());
    assert!(hello.get("contactLeft").is_none(), "{hello}");
}
both!(contact, a_plain_websocket_visitor_leaves_a_contact);

async fn a_plain_websocket_visitor_hears_an_agent_come_online(backend: Backend) {
    let app = anonymous_desk(backend).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let (mut ws, _sid) = connect(&app).await;
    assert_eq!(ws.next("availability").await["online"], false);
    let _ad = app.socket_as("/admin", &ann.token).await;
    let now = ws.next("availability").await;
    assert_eq!(
        (now["online"].clone(), now["agentsOnline"].clone()),
        (json!(true), json!(1)),
        "{now}"
    );
}
both!(
    agent_comes,
    a_plain_websocket_visitor_hears_an_agent_come_online
);

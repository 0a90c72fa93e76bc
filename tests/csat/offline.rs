//! Offline messages over socket.io: with no agent online (and no model configured) the
//! visitor is told (`availability` in the `init_session` ack and as an event, and again on
//! each change); `leave_contact` keeps the address and the message and queues the session,
//! which staff see with its `contactEmail`; a bad address is refused and nothing is kept.

use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

fn offline_no_agents() -> Value {
    json!({ "online": false, "agentsOnline": 0, "reason": "no_agents" })
}

async fn with_nobody_online_the_visitor_is_told(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let v = app.socket().await;
    let ack = open(&v).await;
    assert_eq!(ack["availability"], offline_no_agents(), "{ack}");
    assert_eq!(v.next("availability").await, offline_no_agents());
}
both!(nobody_online, with_nobody_online_the_visitor_is_told);

async fn with_an_agent_online_the_visitor_is_online(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let _ad = app.socket_as("/admin", &ann.token).await;
    let v = app.socket().await;
    let ack = open(&v).await;
    assert_eq!(
        ack["availability"],
        json!({ "online": true, "agentsOnline": 1 }),
        "{ack}"
    );
}
both!(agent_online, with_an_agent_online_the_visitor_is_online);

async fn visitors_hear_when_an_agent_comes_and_goes(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let v = app.socket().await;
    open(&v).await;
    assert_eq!(v.next("availability").await["online"], false);
    let ad = app.socket_as("/admin", &ann.token).await;
    let came = next_where(&v, "availability", "online", |a| a["online"] == true).await;
    assert_eq!(came, json!({ "online": true, "agentsOnline": 1 }));
    drop(ad);
    let went = next_where(&v, "availability", "offline", |a| a["online"] == false).await;
    assert_eq!(went, offline_no_agents());
}
both!(comes_and_goes, visitors_hear_when_an_agent_comes_and_goes);

async fn leaving_a_contact_keeps_it_and_queues_the_session(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    // nobody on /admin yet: the admin's console connects after the contact is left
    let v = app.socket().await;
    let sid = open(&v).await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let left = data(
        &v.ack(
            "leave_contact",
            json!({ "sessionId": sid, "email": " ann@example.com ", "message": "Please call me back" }),
        )
        .await,
        "leave_contact",
    );
    assert_eq!(
        left,
        json!({ "sessionId": sid, "contactEmail": "ann@example.com", "status": "waiting", "position": 1 })
    );
    assert_eq!(status_of(&v, &sid).await["status"], "waiting");
    // the message is the visitor's, stored and broadcast like any other
    let m = v.next("message").await;
    assert_eq!(
        (m["sender"].clone(), m["content"].clone()),
        (json!("user"), json!("Please call me back"))
    );
    let history = app.history(&sid).await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["content"], "Please call me back");
    // the visitor back after a reload is told the address was left (not asked again)
    let back = app.socket().await;
    let again = back.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(again["contactLeft"], true, "{again}");
    let fresh = app.socket().await;
    let other = open(&fresh).await;
    assert!(other.get("contactLeft").is_none(), "{other}");

    // staff see the address: in the queue, the REST list and the summary
    let xd = app.socket_as("/admin", &boss.token).await;
    let queue = data(
        &xd.ack("list_sessions", json!({ "status": "waiting" }))
            .await,
        "list_sessions waiting",
    );
    assert_eq!(session_ids(&queue), vec![sid.clone()]);
    assert_eq!(queue["sessions"][0]["contactEmail"], "ann@example.com");
    let (_, chats) = call(
        &app,
        Method::GET,
        "/api/chats?status=waiting",
        Some(&boss.token),
        None,
    )
    .await;
    assert_eq!(chats[0]["contactEmail"], "ann@example.com", "{chats}");
    let (_, sum) = call(
        &app,
        Method::GET,
        &format!("/api/chats/{sid}/summary"),
        Some(&boss.token),
        None,
    )
    .await;
    assert_eq!(sum["contactEmail"], "ann@example.com", "{sum}");
    assert_eq!(sum["status"], "waiting", "{sum}");
}
both!(
    contact_left,
    leaving_a_contact_keeps_it_and_queues_the_session
);

async fn agents_online_hear_of_a_contact_left(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &ann.token).await;
    let v = app.socket().await;
    let sid = open(&v).await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    data(
        &v.ack(
            "leave_contact",
            json!({ "sessionId": sid, "email": "bob@example.org" }),
        )
        .await,
        "leave_contact without a message",
    );
    let up = next_where(&ad, "session_updated", "with the contact", |u| {
        u["sessionId"] == sid.as_str() && u["contactEmail"] == "bob@example.org"
    })
    .await;
    assert_eq!(up["contactEmail"], "bob@example.org");
    assert!(app.history(&sid).await.is_empty(), "no message was left");
}
both!(agents_hear, agents_online_hear_of_a_contact_left);

async fn a_bad_address_is_refused_and_nothing_is_kept(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    let v = app.socket().await;
    let sid = open(&v).await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    for bad in ["", "ann", "ann@example", "ann example@x.com"] {
        assert_err(
            &v.ack(
                "leave_contact",
                json!({ "sessionId": sid, "email": bad, "message": "hello" }),
            )
            .await,
            "invalid_email",
            &format!("email {bad:?}"),
        );
    }
    let other = app.socket().await;
    open(&other).await;
    assert_err(
        &other
            .ack(
                "leave_contact",
                json!({ "sessionId": sid, "email": "eve@example.com" }),
            )
            .await,
        "session_not_found",
        "someone else's session",
    );
    let (_, sum) = call(
        &app,
        Method::GET,
        &format!("/api/chats/{sid}/summary"),
        Some(&boss.token),
        None,
    )
    .await;
    assert!(sum["contactEmail"].is_null(), "{sum}");
    assert_eq!(sum["status"], "open", "{sum}");
    assert!(app.history(&sid).await.is_empty());
}
both!(bad_address, a_bad_address_is_refused_and_nothing_is_kept);

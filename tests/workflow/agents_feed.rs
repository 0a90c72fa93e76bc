//! The agents' feed on "/admin": `session_created` for each new session (agents only), a light
//! `session_updated` (last message, unread count, status) without the message itself for
//! sessions the agent has not joined, and `visitor_presence` when a visitor's first socket comes
//! and its last one goes.

use serde_json::json;

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Agent `a` on "/admin" (`ad`), then a visitor `v` who opened session `sid`.
struct Feed {
    app: TestApp,
    a: Staff,
    ad: SioClient,
    v: SioClient,
    sid: String,
}

async fn agent_then_visitor(backend: Backend) -> Feed {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    Feed { app, a, ad, v, sid }
}

async fn a_new_session_is_announced_to_agents_with_its_visitor_online(backend: Backend) {
    let f = agent_then_visitor(backend).await;
    let Feed { ad, sid, .. } = &f;

    let created = next_where(ad, "session_created", "for the new session", |c| {
        c["sessionId"] == sid.as_str()
    })
    .await;
    assert_summary(&created, "session_created");
    assert_eq!(created["status"], "open");
    assert!(created["assignee"].is_null(), "{created}");
    assert_eq!(created["lastSeq"], 0);
    assert_eq!(created["unread"], 0);
    let p = next_where(ad, "visitor_presence", "online", |p| {
        p["sessionId"] == sid.as_str()
    })
    .await;
    assert_has(&p, &json!({ "sessionId": sid, "online": true }), "");
}
both!(a_new_session_is_announced_to_agents_with_its_visitor_online);

async fn a_message_gives_agents_a_light_update_not_the_message(backend: Backend) {
    let f = agent_then_visitor(backend).await;
    let Feed { ad, v, sid, .. } = &f;

    // a new message: light session_updated to every agent, no `message` (not joined)
    let long = "z".repeat(250);
    data(
        &v.ack("user_message", json!({ "sessionId": sid, "content": long }))
            .await,
        "long message",
    );
    let up = next_where(ad, "session_updated", "with lastMessage", |u| {
        u["sessionId"] == sid.as_str() && u["lastMessage"].is_object()
    })
    .await;
    assert_eq!(up["lastSeq"], 1, "{up}");
    assert_eq!(up["unread"], 1, "{up}");
    assert!(up["lastMessageAt"].is_string(), "{up}");
    assert_eq!(up["lastMessage"]["seq"], 1);
    assert_eq!(up["lastMessage"]["sender"], "user");
    assert_eq!(up["lastMessage"]["isAI"], false);
    assert_eq!(
        up["lastMessage"]["content"],
        "z".repeat(200),
        "first 200 characters"
    );
    none_of(
        ad,
        "message",
        "an agent got a message of a session it did not join",
    )
    .await;
}
both!(a_message_gives_agents_a_light_update_not_the_message);

async fn request_human_gives_agents_a_waiting_update(backend: Backend) {
    let f = agent_then_visitor(backend).await;
    let Feed { ad, v, sid, .. } = &f;

    // request_human: agents get session_updated (status waiting)
    data(
        &v.ack("request_human", json!({ "sessionId": sid })).await,
        "request_human",
    );
    let up = next_where(ad, "session_updated", "waiting", |u| {
        u["sessionId"] == sid.as_str() && u["status"] == "waiting"
    })
    .await;
    assert_summary(&up, "session_updated after request_human");
    assert!(up["waitingSince"].is_string(), "{up}");
}
both!(request_human_gives_agents_a_waiting_update);

async fn unread_follows_the_admin_watermark(backend: Backend) {
    let f = agent_then_visitor(backend).await;
    let Feed { app, a, ad, v, sid } = &f;
    data(
        &v.ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
            .await,
        "first message",
    );

    // staff message: unread follows the admin watermark
    let ad2 = app.socket_as("/admin", &a.token).await;
    data(
        &ad2.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    data(
        &ad2.ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "hello" }),
        )
        .await,
        "reply",
    );
    let up = next_where(ad, "session_updated", "after the reply", |u| {
        u["sessionId"] == sid.as_str() && u["lastMessage"]["seq"] == 2
    })
    .await;
    assert_eq!(up["lastMessage"]["sender"], "admin");
    data(
        &ad2.ack("read", json!({ "sessionId": sid, "seq": 2 })).await,
        "read",
    );
    data(
        &v.ack(
            "user_message",
            json!({ "sessionId": sid, "content": "thanks" }),
        )
        .await,
        "thanks",
    );
    let up = next_where(ad, "session_updated", "after thanks", |u| {
        u["sessionId"] == sid.as_str() && u["lastMessage"]["seq"] == 3
    })
    .await;
    assert_eq!(up["unread"], 1, "unread = lastSeq - readSeq.admin: {up}");
    drop(ad2);
}
both!(unread_follows_the_admin_watermark);

async fn visitor_presence_follows_the_first_and_last_visitor_socket(backend: Backend) {
    let Feed {
        app, ad, v, sid, ..
    } = agent_then_visitor(backend).await;
    next_where(&ad, "visitor_presence", "online", |p| {
        p["sessionId"] == sid.as_str()
    })
    .await;

    // visitor_presence: first visitor socket in, last one out
    let tab = app.socket().await;
    tab.ack("init_session", json!({ "sessionId": sid })).await;
    none_where(
        &ad,
        "visitor_presence",
        QUIET,
        "a second tab is not a new presence",
        |p| p["sessionId"] == sid.as_str(),
    )
    .await;
    drop(tab);
    none_where(
        &ad,
        "visitor_presence",
        QUIET,
        "one of two tabs left",
        |p| p["sessionId"] == sid.as_str(),
    )
    .await;
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(j["session"]["visitorOnline"], true);
    drop(v);
    let p = next_where(&ad, "visitor_presence", "offline", |p| {
        p["sessionId"] == sid.as_str()
    })
    .await;
    assert_has(&p, &json!({ "sessionId": sid, "online": false }), "");
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(j["session"]["visitorOnline"], false);
}
both!(visitor_presence_follows_the_first_and_last_visitor_socket);

async fn session_created_goes_to_agents_only(backend: Backend) {
    let f = agent_then_visitor(backend).await;
    let Feed { app, ad, .. } = &f;

    // another agent connecting later sees sessions created after it connected only
    let v3 = app.socket().await;
    let s3 = app.open_session(&v3).await;
    let c = next_where(ad, "session_created", "second", |c| {
        c["sessionId"] == s3.as_str()
    })
    .await;
    assert_eq!(c["status"], "open");
    none_where(
        &v3,
        "session_created",
        QUIET,
        "a visitor got session_created",
        |_| true,
    )
    .await;
}
both!(session_created_goes_to_agents_only);

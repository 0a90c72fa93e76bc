//! Error paths: unknown sessions answer `session_not_found`, malformed payloads
//! `invalid_payload`, staff events on the visitors' namespace `unauthorized`; without an ack
//! the failure arrives as an `error` event naming the event sent; a refused event changes
//! nothing; "/admin" needs a staff token.

use serde_json::json;

use crate::both;
use crate::common::{self, Backend, ConnectOpts, SioClient, TestApp};
use crate::helpers::*;

/// Agent `a` on "/admin" (`ad`) and a visitor (`v`) with an open session `sid`.
struct OneSession {
    /// Keeps the server running.
    _app: TestApp,
    ad: SioClient,
    v: SioClient,
    sid: String,
}

async fn one_open_session(backend: Backend) -> OneSession {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    OneSession {
        _app: app,
        ad,
        v,
        sid,
    }
}

/// The session is still open and unowned.
async fn nothing_changed(ad: &SioClient, sid: &str) {
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(j["session"]["status"], "open", "{j}");
    assert!(j["session"]["assignee"].is_null(), "{j}");
}

async fn unknown_sessions_are_not_found_on_admin(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Unknown sessions -> session_not_found, on "/admin"...
    for (event, payload) in [
        ("join_session", json!({ "sessionId": unknown })),
        ("claim_session", json!({ "sessionId": unknown })),
        ("release_session", json!({ "sessionId": unknown })),
        (
            "transfer_session",
            json!({ "sessionId": unknown, "agentId": b.id }),
        ),
        ("resolve_session", json!({ "sessionId": unknown })),
        ("reopen_session", json!({ "sessionId": unknown })),
        (
            "admin_message",
            json!({ "sessionId": unknown, "content": "hi" }),
        ),
        ("get_history", json!({ "sessionId": unknown })),
        ("clear_history", json!({ "sessionId": unknown })),
        ("read", json!({ "sessionId": unknown, "seq": 1 })),
        ("typing", json!({ "sessionId": unknown, "isTyping": true })),
    ] {
        let ack = ad.ack(event, payload.clone()).await;
        assert_err(
            &ack,
            "session_not_found",
            &format!("/admin {event} {payload}"),
        );
    }
    let ack = ad.ack("join_session", json!({ "code": "ZZZZZZ" })).await;
    assert_err(&ack, "session_not_found", "join_session by an unknown code");
}
both!(unknown_sessions_are_not_found_on_admin);

async fn unknown_sessions_are_not_found_on_root(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let v = app.socket().await;
    app.open_session(&v).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // ... and on "/".
    for (event, payload) in [
        ("get_history", json!({ "sessionId": unknown })),
        ("typing", json!({ "sessionId": unknown, "isTyping": true })),
        ("read", json!({ "sessionId": unknown, "seq": 1 })),
        ("request_human", json!({ "sessionId": unknown })),
        ("human-escalation", json!({ "sessionId": unknown })),
        ("clear_history", json!({ "sessionId": unknown })),
        (
            "user_message",
            json!({ "sessionId": unknown, "content": "hi" }),
        ),
    ] {
        let ack = v.ack(event, payload.clone()).await;
        assert_err(&ack, "session_not_found", &format!("/ {event} {payload}"));
    }
}
both!(unknown_sessions_are_not_found_on_root);

async fn malformed_payloads_on_admin_are_invalid_and_change_nothing(backend: Backend) {
    let s = one_open_session(backend).await;
    let OneSession { ad, sid, .. } = &s;

    // Malformed payloads -> invalid_payload.
    for (event, payload) in [
        ("claim_session", json!({})),
        ("claim_session", json!({ "sessionId": 5 })),
        ("claim_session", json!({ "sessionId": "not-a-uuid" })),
        ("claim_session", json!("text")),
        ("claim_session", json!([1, 2])),
        ("release_session", json!({})),
        ("resolve_session", json!({ "sessionId": null })),
        ("reopen_session", json!({ "sessionId": [] })),
        ("transfer_session", json!({ "sessionId": sid })),
        (
            "transfer_session",
            json!({ "sessionId": sid, "agentId": 5 }),
        ),
        ("join_session", json!({})),
        ("join_session", json!({ "code": 123456 })),
        ("join_session", json!({ "code": "abc" })),
        ("leave_session", json!({})),
        ("list_sessions", json!({ "limit": "ten" })),
        ("list_sessions", json!({ "status": 5 })),
        ("list_sessions", json!({ "status": "bogus" })),
        ("list_sessions", json!({ "before": "yesterday" })),
        ("list_sessions", json!({ "after": "tomorrow" })),
        ("read", json!({ "sessionId": sid, "seq": "x" })),
        ("read", json!({ "sessionId": sid })),
        ("typing", json!({ "sessionId": sid, "isTyping": "yes" })),
        ("get_history", json!({ "sessionId": sid, "limit": "x" })),
        ("get_history", json!({ "sessionId": sid, "beforeSeq": "x" })),
        ("clear_history", json!({})),
        ("call-offer", json!({ "payload": {} })),
    ] {
        let ack = ad.ack(event, payload.clone()).await;
        assert_err(
            &ack,
            "invalid_payload",
            &format!("/admin {event} {payload}"),
        );
    }
    nothing_changed(ad, sid).await;
}
both!(malformed_payloads_on_admin_are_invalid_and_change_nothing);

async fn malformed_payloads_on_root_are_invalid_and_change_nothing(backend: Backend) {
    let s = one_open_session(backend).await;
    let OneSession { ad, v, sid, .. } = &s;

    for (event, payload) in [
        ("request_human", json!({})),
        ("request_human", json!({ "sessionId": 5 })),
        ("human-escalation", json!("text")),
        ("read", json!({ "sessionId": sid, "seq": "x" })),
        ("typing", json!({ "isTyping": true })),
        ("get_history", json!({ "sessionId": 7 })),
        ("clear_history", json!({ "sessionId": "nope" })),
    ] {
        let ack = v.ack(event, payload.clone()).await;
        assert_err(&ack, "invalid_payload", &format!("/ {event} {payload}"));
    }
    nothing_changed(ad, sid).await;
}
both!(malformed_payloads_on_root_are_invalid_and_change_nothing);

async fn a_failure_without_an_ack_arrives_as_an_error_event(backend: Backend) {
    let s = one_open_session(backend).await;
    let OneSession { ad, v, .. } = &s;
    let unknown = uuid::Uuid::new_v4().to_string();
    // One round trip on "/admin" first (see escalation_alias_failures_name_the_event_sent).
    data(&ad.ack("list_sessions", json!({})).await, "list_sessions");

    // Without an ack, the failure arrives as an `error` event.
    ad.emit("claim_session", json!({ "sessionId": unknown }));
    let e = ad.next("error").await;
    assert_eq!(e["code"], "session_not_found", "{e}");
    assert_eq!(e["event"], "claim_session", "{e}");
    assert!(e["message"].is_string(), "{e}");
    v.emit("request_human", json!({ "sessionId": 5 }));
    let e = v.next("error").await;
    assert_eq!(e["code"], "invalid_payload", "{e}");
    assert_eq!(e["event"], "request_human", "{e}");
}
both!(a_failure_without_an_ack_arrives_as_an_error_event);

async fn the_admin_namespace_needs_a_staff_token(backend: Backend) {
    let app = desk(backend, |_| {}).await;

    // "/admin" needs a staff token.
    match app.try_socket(ConnectOpts::ns("/admin")).await {
        Err(common::sio::ConnectError::Refused(d)) => assert!(
            d["message"].as_str().unwrap_or("").contains("unauthorized"),
            "{d}"
        ),
        Err(e) => panic!("tokenless /admin: expected connect_error, got {e:?}"),
        Ok(_) => panic!("a visitor without a token connected to /admin"),
    }
}
both!(the_admin_namespace_needs_a_staff_token);

async fn escalation_alias_failures_name_the_event_sent(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let v = app.socket().await;
    // One round trip first: socketioxide marks a socket connected only after it has sent the
    // CONNECT packet, and drops an emit (not an ack) made for an event in between.
    app.open_session(&v).await;
    v.emit("human-escalation", json!({ "sessionId": 5 }));
    let e = v.next("error").await;
    assert_eq!(e["code"], "invalid_payload", "{e}");
    assert_eq!(e["event"], "human-escalation", "{e}");
    v.emit("request_human", json!({ "sessionId": 5 }));
    let e = v.next("error").await;
    assert_eq!(e["event"], "request_human", "{e}");
}
both!(escalation_alias_failures_name_the_event_sent);

const STAFF_EVENTS: [&str; 8] = [
    "list_sessions",
    "join_session",
    "leave_session",
    "claim_session",
    "release_session",
    "transfer_session",
    "resolve_session",
    "reopen_session",
];

async fn staff_events_on_the_visitor_namespace_are_refused_not_ignored(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let v = app.socket().await;
    // A staff token on "/" does not make "/" the console's namespace.
    let on_root = app.socket_as("/", &a.token).await;
    let sid = app.open_session(&v).await;
    for s in [&v, &on_root] {
        for event in STAFF_EVENTS {
            let payload = json!({ "sessionId": sid, "agentId": a.id });
            assert_err(
                &s.ack(event, payload.clone()).await,
                "unauthorized",
                &format!("/ {event} with an ack"),
            );
            s.emit(event, payload);
            let e = s.next("error").await;
            assert_eq!(e["code"], "unauthorized", "{e}");
            assert_eq!(e["event"], event, "{e}");
            assert!(
                e["message"].as_str().is_some_and(|m| m.contains("/admin")),
                "{e}"
            );
        }
    }
    // Nothing changed: the session is still open and unowned.
    let ad = app.socket_as("/admin", &a.token).await;
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join on /admin",
    );
    assert_eq!(j["session"]["status"], "open", "{j}");
    assert!(j["session"]["assignee"].is_null(), "{j}");
}
both!(staff_events_on_the_visitor_namespace_are_refused_not_ignored);

async fn unknown_events_stay_ignored(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let v = app.socket().await;
    app.open_session(&v).await;

    // Unknown events stay ignored.
    assert_eq!(
        v.try_ack("no_such_event", json!({}), QUIET).await,
        None,
        "an unknown event was answered"
    );
    none_of(&v, "error", "an unknown event").await;
}
both!(unknown_events_stay_ignored);

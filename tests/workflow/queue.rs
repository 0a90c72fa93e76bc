//! Asking for a human (`request_human` and the seed's alias `human-escalation`): the session
//! waits in the queue, the visitor is told its position, and a refused request changes nothing.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

async fn request_human_queues_the_session_and_tells_its_position(backend: Backend) {
    // No agent is online, so auto-assignment has nobody to give the session to.
    let app = one_chat_desk(backend).await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;

    let d = data(
        &v1.ack("request_human", json!({ "sessionId": s1 })).await,
        "request_human s1",
    );
    assert_eq!(d["status"], "waiting", "{d}");
    assert_eq!(d["position"], 1, "{d}");
    let esc = v1.next("human-escalation-response").await;
    assert!(
        esc["message"].is_string(),
        "human-escalation-response {esc}"
    );
    assert!(
        !esc["timestamp"].is_null(),
        "human-escalation-response {esc}"
    );
    let st = v1.next("session_status").await;
    assert_eq!(st["sessionId"], s1.as_str(), "{st}");
    assert_eq!(st["status"], "waiting", "{st}");
    assert!(st["assignee"].is_null(), "{st}");
    let qp = v1.next("queue_position").await;
    assert_has(&qp, &json!({ "sessionId": s1, "position": 1 }), "");
}
both!(request_human_queues_the_session_and_tells_its_position);

async fn the_seed_alias_human_escalation_queues_behind_earlier_sessions(backend: Backend) {
    let app = one_chat_desk(backend).await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;
    data(
        &v1.ack("request_human", json!({ "sessionId": s1 })).await,
        "request_human s1",
    );

    pause().await;
    // the seed's alias of request_human
    let d = data(
        &v2.ack("human-escalation", json!({ "sessionId": s2 })).await,
        "human-escalation s2",
    );
    assert_eq!(d["status"], "waiting", "{d}");
    assert_eq!(d["position"], 2, "{d}");
    v2.next("human-escalation-response").await;
    let st = v2.next("session_status").await;
    assert_eq!(st["status"], "waiting", "{st}");
    let qp = v2.next("queue_position").await;
    assert_has(&qp, &json!({ "sessionId": s2, "position": 2 }), "");
}
both!(the_seed_alias_human_escalation_queues_behind_earlier_sessions);

async fn request_human_while_assigned_keeps_it_assigned(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { v, sid, .. } = &d;

    let d = data(
        &v.ack("request_human", json!({ "sessionId": sid })).await,
        "request_human assigned",
    );
    assert_eq!(d["status"], "assigned", "{d}");
}
both!(request_human_while_assigned_keeps_it_assigned);

async fn request_human_with_a_too_long_message_changes_nothing(backend: Backend) {
    let app = desk(backend, |c| c.max_content_length = 20).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;

    let ack = v
        .ack(
            "request_human",
            json!({ "sessionId": sid, "message": "x".repeat(21) }),
        )
        .await;
    assert_err(
        &ack,
        "content_too_long",
        "request_human with a long message",
    );
    none_of(&v, "human-escalation-response", "a refused escalation").await;
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(j["session"]["status"], "open", "escalated anyway: {j}");
    assert!(j["session"]["waitingSince"].is_null(), "{j}");
    assert!(app.history(&sid).await.is_empty(), "a message was stored");
}
both!(request_human_with_a_too_long_message_changes_nothing);

async fn request_human_with_a_message_that_fits_escalates_and_stores_it(backend: Backend) {
    let app = desk(backend, |c| c.max_content_length = 20).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;

    let ok = data(
        &v.ack(
            "request_human",
            json!({ "sessionId": sid, "message": "a human please" }),
        )
        .await,
        "request_human",
    );
    assert_eq!(ok["status"], "waiting", "{ok}");
    let stored = app.history(&sid).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["content"], "a human please");
}
both!(request_human_with_a_message_that_fits_escalates_and_stores_it);

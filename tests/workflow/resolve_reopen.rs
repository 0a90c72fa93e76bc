//! Resolve and reopen: resolving tells the visitor, the session's room and the agents; a
//! resolved session cannot be claimed; reopening (by an agent, or by a visitor message) gives it
//! back to its assignee, or makes it `open` when it has none; only a resolved session reopens.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

/// [`claimed_by_a`], then resolved by `a`; the visitor's status is consumed.
async fn resolved_by_a(backend: Backend) -> DeskSession {
    let d = claimed_by_a(backend).await;
    let DeskSession { ad, v, sid, .. } = &d;
    data(
        &ad.ack("resolve_session", json!({ "sessionId": sid })).await,
        "resolve again",
    );
    assert_eq!(status_of(v, sid).await["status"], "resolved");
    d
}

async fn resolving_tells_the_visitor_the_room_and_the_agents(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let r = data(
        &ad.ack("resolve_session", json!({ "sessionId": s1 })).await,
        "resolve_session",
    );
    assert_summary(&r, "resolve ack");
    assert_eq!(r["status"], "resolved");
    assert!(r["resolvedAt"].is_string(), "{r}");
    let st = v1.next("session_status").await;
    assert_eq!(st["sessionId"], s1.as_str(), "{st}");
    assert_eq!(st["status"], "resolved", "{st}");
    let st = status_of(ad, s1).await; // the room on "/admin" too
    assert_eq!(st["status"], "resolved", "{st}");
    let up = next_where(ad, "session_updated", "resolved s1", |v| {
        v["sessionId"] == s1.as_str() && v["status"] == "resolved"
    })
    .await;
    assert_summary(&up, "session_updated");
    // the visitor saw exactly waiting -> assigned -> resolved
    none_of(v1, "session_status", "extra session_status for s1").await;
}
both!(resolving_tells_the_visitor_the_room_and_the_agents);

async fn only_a_resolved_session_can_be_reopened(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { ad, sid, .. } = &d;

    // reopen of a non-resolved session -> conflict
    assert_err(
        &ad.ack("reopen_session", json!({ "sessionId": sid })).await,
        "conflict",
        "reopen of an assigned session",
    );
}
both!(only_a_resolved_session_can_be_reopened);

async fn a_resolved_session_cannot_be_claimed(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { ad, bd, v, sid, .. } = &d;

    let r = data(
        &ad.ack("resolve_session", json!({ "sessionId": sid })).await,
        "resolve",
    );
    assert_eq!(r["status"], "resolved");
    assert_eq!(status_of(v, sid).await["status"], "resolved");
    assert_err(
        &bd.ack("claim_session", json!({ "sessionId": sid })).await,
        "conflict",
        "claim of a resolved session",
    );
}
both!(a_resolved_session_cannot_be_claimed);

async fn reopening_gives_the_session_back_to_its_assignee(backend: Backend) {
    let d = resolved_by_a(backend).await;
    let DeskSession { a, ad, v, sid, .. } = &d;

    let r = data(
        &ad.ack("reopen_session", json!({ "sessionId": sid })).await,
        "reopen",
    );
    assert_eq!(r["status"], "assigned");
    assert_eq!(r["assigneeId"], a.id.as_str());
    let st = status_of(v, sid).await;
    assert_eq!(st["status"], "assigned");
    assert_eq!(st["assignee"]["id"], a.id.as_str());
    assert_err(
        &ad.ack("reopen_session", json!({ "sessionId": sid })).await,
        "conflict",
        "reopen of a reopened session",
    );
}
both!(reopening_gives_the_session_back_to_its_assignee);

async fn a_visitor_message_reopens_a_resolved_session_the_same_way(backend: Backend) {
    let d = resolved_by_a(backend).await;
    let DeskSession { a, v, sid, .. } = &d;

    data(
        &v.ack(
            "user_message",
            json!({ "sessionId": sid, "content": "one more thing" }),
        )
        .await,
        "user_message in resolved",
    );
    let st = status_of(v, sid).await;
    assert_eq!(st["status"], "assigned", "{st}");
    // the assignee has the same shape as in every other status change
    assert_has(&st["assignee"], &json!({ "id": a.id, "name": a.name }), "");
}
both!(a_visitor_message_reopens_a_resolved_session_the_same_way);

async fn reopening_a_session_without_assignee_makes_it_open(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let bd = app.socket_as("/admin", &b.token).await;
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;

    let r = data(
        &bd.ack("resolve_session", json!({ "sessionId": s2 })).await,
        "resolve open session",
    );
    assert_eq!(r["status"], "resolved");
    assert_eq!(status_of(&v2, &s2).await["status"], "resolved");
    let r = data(
        &bd.ack("reopen_session", json!({ "sessionId": s2 })).await,
        "reopen unassigned",
    );
    assert_eq!(r["status"], "open");
    assert!(r["assignee"].is_null(), "{r}");
    let st = status_of(&v2, &s2).await;
    assert_has(
        &st,
        &json!({ "sessionId": s2, "status": "open", "assignee": null }),
        "",
    );
}
both!(reopening_a_session_without_assignee_makes_it_open);

//! Resolve and reopen: resolving tells the visitor, the session's room and the agents; a
//! resolved session cannot be claimed; reopening (by an agent, or by a visitor message) gives it
//! back to its assignee, or makes it `open` when it has none; only a resolved session reopens.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

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

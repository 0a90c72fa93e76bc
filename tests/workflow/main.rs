//! The support-desk workflow (docs/desk.md) against a real server, on SQLite and PostgreSQL,
//! with real socket.io clients: queue and routing, claims, transfers, presence, typing, read
//! receipts, exactly-once delivery across reconnects, call signalling, REST.
//!
//! Timing: nothing here asserts a duration. Absence is proven with a bounded wait (`QUIET`),
//! and the configured timeouts (typing, agent offline grace) are set to 1-2 s where a test
//! waits for them.

// The harness shared with the other test crates: `tests/common/mod.rs`, whose `mod sio;`
// resolves beside it (a `mod.rs` file owns its directory), not under `tests/workflow/`.
#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod agents_feed;
mod auto_assign;
mod calls;
mod chat;
mod claim;
mod delivery;
mod errors;
mod history_clearing;
mod join_history;
mod listing;
mod offline_grace;
mod presence;
mod queue;
mod read_receipts;
mod resolve_reopen;
mod transfer_release;
mod typing;

use common::Backend;
use helpers::*;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// REST: PATCH /api/chats/:id, POST /api/chats/:id/messages
// ---------------------------------------------------------------------------------------

async fn rest_patch_and_post(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let bd = app.socket_as("/admin", &b.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let path = format!("/api/chats/{sid}");
    let patch = |token: Option<&str>, body: Value| {
        let (app, path, token) = (&app, path.clone(), token.map(String::from));
        async move {
            call(
                app,
                reqwest::Method::PATCH,
                &path,
                token.as_deref(),
                Some(body),
            )
            .await
        }
    };

    let (st, s) = patch(Some(&a.token), json!({ "status": "waiting" })).await;
    assert_eq!(st, 200, "{s}");
    assert_summary(&s, "PATCH answer");
    assert_eq!(s["status"], "waiting");
    assert!(s["waitingSince"].is_string(), "{s}");
    assert_has(
        &status_of(&v, &sid).await,
        &json!({ "sessionId": sid, "status": "waiting", "assignee": null }),
        "",
    );
    let up = next_where(&bd, "session_updated", "waiting", |u| {
        u["sessionId"] == sid.as_str() && u["status"] == "waiting"
    })
    .await;
    assert_summary(&up, "session_updated after PATCH");

    // `assigned` needs an assignee
    let (st, body) = patch(Some(&a.token), json!({ "status": "assigned" })).await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_payload");
    for bad in [
        json!({ "status": "bogus" }),
        json!({ "status": 5 }),
        json!({ "assigneeId": 5 }),
        json!({ "assigneeId": uuid::Uuid::new_v4().to_string() }),
    ] {
        let (st, body) = patch(Some(&a.token), bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload", "{bad}");
    }
    none_of(&v, "session_status", "a refused PATCH was announced").await;

    let (st, s) = patch(
        Some(&a.token),
        json!({ "status": "assigned", "assigneeId": a.id }),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "assigned");
    assert_eq!(s["assigneeId"], a.id.as_str());
    assert_has(&s["assignee"], &json!({ "id": a.id, "name": a.name }), "");
    let stv = status_of(&v, &sid).await;
    assert_eq!(stv["status"], "assigned");
    assert_eq!(stv["assignee"]["id"], a.id.as_str());

    let (st, s) = patch(
        Some(&a.token),
        json!({ "status": "waiting", "assigneeId": null }),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "waiting");
    assert!(s["assignee"].is_null(), "{s}");
    assert_eq!(status_of(&v, &sid).await["status"], "waiting");
    let (st, s) = patch(Some(&a.token), json!({ "status": "resolved" })).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "resolved");
    assert!(s["resolvedAt"].is_string(), "{s}");
    assert_eq!(status_of(&v, &sid).await["status"], "resolved");
    let (st, s) = patch(Some(&a.token), json!({ "status": "open" })).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "open");
    assert_eq!(status_of(&v, &sid).await["status"], "open");

    let (st, body) = call(
        &app,
        reqwest::Method::PATCH,
        &format!("/api/chats/{}", uuid::Uuid::new_v4()),
        Some(&a.token),
        Some(json!({ "status": "waiting" })),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
    let (st, _) = patch(None, json!({ "status": "waiting" })).await;
    assert_eq!(st, 401);

    // POST messages: 201, exactly-once by clientMsgId
    let mpath = format!("/api/chats/{sid}/messages");
    let body = json!({ "content": "Sent from the REST API", "clientMsgId": "rest-1" });
    let (st, m) = call(
        &app,
        reqwest::Method::POST,
        &mpath,
        Some(&a.token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 201, "{m}");
    assert_eq!(m["sender"], "admin");
    assert_eq!(m["content"], "Sent from the REST API");
    assert_eq!(m["sessionId"], sid.as_str());
    assert_eq!(m["clientMsgId"], "rest-1");
    let seq = m["seq"].as_i64().expect("seq");
    let live = next_where(&v, "message", "from REST", |x| x["seq"] == seq).await;
    assert_eq!(live["id"], m["id"]);
    let (st, again) = call(
        &app,
        reqwest::Method::POST,
        &mpath,
        Some(&a.token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 200, "retry: {again}");
    assert_eq!(again["id"], m["id"]);
    assert_eq!(again["seq"], m["seq"]);
    none_of(&v, "message", "the REST retry was broadcast").await;
    let stored = app.history(&sid).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (st, m2) = call(
        &app,
        reqwest::Method::POST,
        &mpath,
        Some(&a.token),
        Some(json!({ "content": "no id" })),
    )
    .await;
    assert_eq!(st, 201, "{m2}");
    assert_eq!(m2["seq"], seq + 1);
    assert_eq!(app.history(&sid).await.len(), 2);
    for (bad, code) in [
        (json!({ "content": "" }), 400),
        (json!({}), 400),
        (json!({ "content": 5 }), 400),
    ] {
        let (st, body) = call(
            &app,
            reqwest::Method::POST,
            &mpath,
            Some(&a.token),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(st, code, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload", "{bad}");
    }
    let (st, _) = call(
        &app,
        reqwest::Method::POST,
        &mpath,
        None,
        Some(json!({ "content": "anon" })),
    )
    .await;
    assert_eq!(st, 401);
    let (st, body) = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/chats/{}/messages", uuid::Uuid::new_v4()),
        Some(&a.token),
        Some(json!({ "content": "x" })),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
    assert_eq!(app.history(&sid).await.len(), 2);

    // firstResponseAt was stamped by the first staff message
    let j = data(
        &bd.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert!(j["session"]["firstResponseAt"].is_string(), "{j}");

    // GET /api/chats?status=...
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;
    data(
        &v2.ack("request_human", json!({ "sessionId": s2 })).await,
        "wait",
    );
    let (st, list) = call(
        &app,
        reqwest::Method::GET,
        "/api/chats?status=waiting",
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["sessionId"].as_str())
        .collect();
    assert_eq!(ids, vec![s2.as_str()]);
    let (st, list) = call(
        &app,
        reqwest::Method::GET,
        "/api/chats?status=open",
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["sessionId"].as_str())
        .collect();
    assert_eq!(ids, vec![sid.as_str()]);

    // same rules as the socket events: b may not release or take a's session
    let (st, s) = patch(
        Some(&a.token),
        json!({ "status": "assigned", "assigneeId": a.id }),
    )
    .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(status_of(&v, &sid).await["assignee"]["id"], a.id.as_str());
    let (st, body) = patch(
        Some(&b.token),
        json!({ "status": "waiting", "assigneeId": null }),
    )
    .await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (st, body) = patch(Some(&b.token), json!({ "assigneeId": b.id })).await;
    assert!(
        st == 403 || st == 409,
        "b takes a's session over REST: {st} {body}"
    );
    none_of(&v, "session_status", "a refused PATCH was announced").await;
    let j = data(
        &bd.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(
        j["session"]["assigneeId"],
        a.id.as_str(),
        "a refused PATCH changed the assignee"
    );
}
both!(rest_patch_post_list, rest_patch_and_post);

async fn rest_writes_refuse_a_malformed_session_id(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let ad = admin(&app).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    for (id, status, code) in [
        ("not-a-uuid", 400, "invalid_payload"),
        ("ABC234", 400, "invalid_payload"),
        (unknown.as_str(), 404, "session_not_found"),
    ] {
        for (method, path, body) in [
            (
                reqwest::Method::PATCH,
                format!("/api/chats/{id}"),
                Some(json!({ "status": "resolved" })),
            ),
            (reqwest::Method::DELETE, format!("/api/chats/{id}"), None),
            (
                reqwest::Method::POST,
                format!("/api/chats/{id}/messages"),
                Some(json!({ "content": "hello" })),
            ),
        ] {
            let (st, b) = call(&app, method.clone(), &path, Some(&ad.token), body).await;
            assert_eq!(st, status, "{method} {path}: {b}");
            assert_eq!(b["error"]["code"], code, "{method} {path}: {b}");
        }
    }
    // Reading stays seed-compatible: `[]` for an unknown or malformed id.
    for id in ["not-a-uuid", "ABC234", unknown.as_str()] {
        assert_eq!(app.get_json(&format!("/api/chats/{id}")).await, json!([]));
    }
    // A well-formed id still works.
    let (st, b) = call(
        &app,
        reqwest::Method::POST,
        &format!("/api/chats/{sid}/messages"),
        Some(&ad.token),
        Some(json!({ "content": "hello" })),
    )
    .await;
    assert_eq!(st, 201, "{b}");
}
both!(
    rest_malformed_session_ids,
    rest_writes_refuse_a_malformed_session_id
);

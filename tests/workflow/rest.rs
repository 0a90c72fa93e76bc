//! The desk's REST API: `PATCH /api/chats/:id` (status and assignee, with the socket events'
//! rules), `POST /api/chats/:id/messages` (exactly once by `clientMsgId`), and session ids that
//! are not well formed.

use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Agents `a` and `b` (`b` on "/admin" as `bd`) and a visitor `v` with an open session `sid`.
struct Rest {
    app: TestApp,
    a: Staff,
    b: Staff,
    bd: SioClient,
    v: SioClient,
    sid: String,
}

async fn open_session_and_two_agents(backend: Backend) -> Rest {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let bd = app.socket_as("/admin", &b.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    Rest {
        app,
        a,
        b,
        bd,
        v,
        sid,
    }
}

impl Rest {
    /// `PATCH /api/chats/:sid` as `token`.
    async fn patch(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let path = format!("/api/chats/{}", self.sid);
        call(&self.app, reqwest::Method::PATCH, &path, token, Some(body)).await
    }

    /// `a` patches the session with `body`, and the visitor's `session_status` is consumed.
    async fn patched(&self, body: Value) {
        let (st, s) = self.patch(Some(&self.a.token), body).await;
        assert_eq!(st, 200, "{s}");
        status_of(&self.v, &self.sid).await;
    }

    /// `a` posts `body` as a message.
    async fn post(&self, body: Value) -> (u16, Value) {
        let mpath = format!("/api/chats/{}/messages", self.sid);
        call(
            &self.app,
            reqwest::Method::POST,
            &mpath,
            Some(&self.a.token),
            Some(body),
        )
        .await
    }
}

async fn patch_to_waiting_queues_the_session_and_tells_everyone(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, bd, v, sid, .. } = &r;

    let (st, s) = r
        .patch(Some(&a.token), json!({ "status": "waiting" }))
        .await;
    assert_eq!(st, 200, "{s}");
    assert_summary(&s, "PATCH answer");
    assert_eq!(s["status"], "waiting");
    assert!(s["waitingSince"].is_string(), "{s}");
    assert_has(
        &status_of(v, sid).await,
        &json!({ "sessionId": sid, "status": "waiting", "assignee": null }),
        "",
    );
    let up = next_where(bd, "session_updated", "waiting", |u| {
        u["sessionId"] == sid.as_str() && u["status"] == "waiting"
    })
    .await;
    assert_summary(&up, "session_updated after PATCH");
}
both!(patch_to_waiting_queues_the_session_and_tells_everyone);

async fn patch_refuses_what_it_cannot_apply(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, v, .. } = &r;

    // `assigned` needs an assignee
    let (st, body) = r
        .patch(Some(&a.token), json!({ "status": "assigned" }))
        .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_payload");
    for bad in [
        json!({ "status": "bogus" }),
        json!({ "status": 5 }),
        json!({ "assigneeId": 5 }),
        json!({ "assigneeId": uuid::Uuid::new_v4().to_string() }),
    ] {
        let (st, body) = r.patch(Some(&a.token), bad.clone()).await;
        assert_eq!(st, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload", "{bad}");
    }
    none_of(v, "session_status", "a refused PATCH was announced").await;
}
both!(patch_refuses_what_it_cannot_apply);

async fn patch_assigns_the_session_to_a_named_agent(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, v, sid, .. } = &r;

    let (st, s) = r
        .patch(
            Some(&a.token),
            json!({ "status": "assigned", "assigneeId": a.id }),
        )
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "assigned");
    assert_eq!(s["assigneeId"], a.id.as_str());
    assert_has(&s["assignee"], &json!({ "id": a.id, "name": a.name }), "");
    let stv = status_of(v, sid).await;
    assert_eq!(stv["status"], "assigned");
    assert_eq!(stv["assignee"]["id"], a.id.as_str());
}
both!(patch_assigns_the_session_to_a_named_agent);

async fn patch_unassigns_back_to_waiting(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, v, sid, .. } = &r;
    r.patched(json!({ "status": "assigned", "assigneeId": a.id }))
        .await;

    let (st, s) = r
        .patch(
            Some(&a.token),
            json!({ "status": "waiting", "assigneeId": null }),
        )
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "waiting");
    assert!(s["assignee"].is_null(), "{s}");
    assert_eq!(status_of(v, sid).await["status"], "waiting");
}
both!(patch_unassigns_back_to_waiting);

async fn patch_resolves_the_session(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, v, sid, .. } = &r;
    r.patched(json!({ "status": "waiting" })).await;

    let (st, s) = r
        .patch(Some(&a.token), json!({ "status": "resolved" }))
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "resolved");
    assert!(s["resolvedAt"].is_string(), "{s}");
    assert_eq!(status_of(v, sid).await["status"], "resolved");
}
both!(patch_resolves_the_session);

async fn patch_reopens_a_resolved_session(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { a, v, sid, .. } = &r;
    r.patched(json!({ "status": "resolved" })).await;

    let (st, s) = r.patch(Some(&a.token), json!({ "status": "open" })).await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(s["status"], "open");
    assert_eq!(status_of(v, sid).await["status"], "open");
}
both!(patch_reopens_a_resolved_session);

async fn patch_of_an_unknown_session_is_not_found(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { app, a, .. } = &r;

    let (st, body) = call(
        app,
        reqwest::Method::PATCH,
        &format!("/api/chats/{}", uuid::Uuid::new_v4()),
        Some(&a.token),
        Some(json!({ "status": "waiting" })),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
}
both!(patch_of_an_unknown_session_is_not_found);

async fn patch_needs_a_token(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let (st, _) = r.patch(None, json!({ "status": "waiting" })).await;
    assert_eq!(st, 401);
}
both!(patch_needs_a_token);

async fn post_message_answers_201_and_is_stored_once_per_client_msg_id(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { app, a, v, sid, .. } = &r;

    // POST messages: 201, exactly-once by clientMsgId
    let mpath = format!("/api/chats/{sid}/messages");
    let body = json!({ "content": "Sent from the REST API", "clientMsgId": "rest-1" });
    let (st, m) = call(
        app,
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
    let live = next_where(v, "message", "from REST", |x| x["seq"] == seq).await;
    assert_eq!(live["id"], m["id"]);
    let (st, again) = call(
        app,
        reqwest::Method::POST,
        &mpath,
        Some(&a.token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(st, 200, "retry: {again}");
    assert_eq!(again["id"], m["id"]);
    assert_eq!(again["seq"], m["seq"]);
    none_of(v, "message", "the REST retry was broadcast").await;
    let stored = app.history(sid).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
}
both!(post_message_answers_201_and_is_stored_once_per_client_msg_id);

async fn post_message_without_client_msg_id_is_a_new_message(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { app, a, sid, .. } = &r;
    let mpath = format!("/api/chats/{sid}/messages");
    let (st, m) = r
        .post(json!({ "content": "Sent from the REST API", "clientMsgId": "rest-1" }))
        .await;
    assert_eq!(st, 201, "{m}");
    let seq = m["seq"].as_i64().expect("seq");

    let (st, m2) = call(
        app,
        reqwest::Method::POST,
        &mpath,
        Some(&a.token),
        Some(json!({ "content": "no id" })),
    )
    .await;
    assert_eq!(st, 201, "{m2}");
    assert_eq!(m2["seq"], seq + 1);
    assert_eq!(app.history(sid).await.len(), 2);
}
both!(post_message_without_client_msg_id_is_a_new_message);

async fn post_message_refuses_bad_bodies_anonymous_callers_and_unknown_sessions(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { app, a, sid, .. } = &r;
    let mpath = format!("/api/chats/{sid}/messages");
    for body in [
        json!({ "content": "Sent from the REST API", "clientMsgId": "rest-1" }),
        json!({ "content": "no id" }),
    ] {
        let (st, m) = r.post(body).await;
        assert_eq!(st, 201, "{m}");
    }

    for (bad, code) in [
        (json!({ "content": "" }), 400),
        (json!({}), 400),
        (json!({ "content": 5 }), 400),
    ] {
        let (st, body) = call(
            app,
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
        app,
        reqwest::Method::POST,
        &mpath,
        None,
        Some(json!({ "content": "anon" })),
    )
    .await;
    assert_eq!(st, 401);
    let (st, body) = call(
        app,
        reqwest::Method::POST,
        &format!("/api/chats/{}/messages", uuid::Uuid::new_v4()),
        Some(&a.token),
        Some(json!({ "content": "x" })),
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
    assert_eq!(app.history(sid).await.len(), 2);
}
both!(post_message_refuses_bad_bodies_anonymous_callers_and_unknown_sessions);

async fn the_first_staff_message_stamps_first_response_at(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest { bd, sid, .. } = &r;
    let (st, m) = r.post(json!({ "content": "no id" })).await;
    assert_eq!(st, 201, "{m}");

    // firstResponseAt was stamped by the first staff message
    let j = data(
        &bd.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert!(j["session"]["firstResponseAt"].is_string(), "{j}");
}
both!(the_first_staff_message_stamps_first_response_at);

async fn patch_follows_the_ownership_rules_of_the_socket_events(backend: Backend) {
    let r = open_session_and_two_agents(backend).await;
    let Rest {
        a, b, bd, v, sid, ..
    } = &r;

    // same rules as the socket events: b may not release or take a's session
    let (st, s) = r
        .patch(
            Some(&a.token),
            json!({ "status": "assigned", "assigneeId": a.id }),
        )
        .await;
    assert_eq!(st, 200, "{s}");
    assert_eq!(status_of(v, sid).await["assignee"]["id"], a.id.as_str());
    let (st, body) = r
        .patch(
            Some(&b.token),
            json!({ "status": "waiting", "assigneeId": null }),
        )
        .await;
    assert_eq!(st, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (st, body) = r.patch(Some(&b.token), json!({ "assigneeId": b.id })).await;
    assert!(
        st == 403 || st == 409,
        "b takes a's session over REST: {st} {body}"
    );
    none_of(v, "session_status", "a refused PATCH was announced").await;
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
both!(patch_follows_the_ownership_rules_of_the_socket_events);

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
both!(rest_writes_refuse_a_malformed_session_id);

async fn reading_an_unknown_or_malformed_session_id_answers_an_empty_list(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let unknown = uuid::Uuid::new_v4().to_string();
    // Reading stays seed-compatible: `[]` for an unknown or malformed id.
    for id in ["not-a-uuid", "ABC234", unknown.as_str()] {
        assert_eq!(app.get_json(&format!("/api/chats/{id}")).await, json!([]));
    }
}
both!(reading_an_unknown_or_malformed_session_id_answers_an_empty_list);

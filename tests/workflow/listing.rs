//! Listing sessions (`list_sessions` on "/admin", `GET /api/chats`): every session newest
//! first with its summary, filters by status and assignee, the queue in queue order, and
//! paging with a `createdAt` cursor (`before`) or, for the queue, a `waitingSince` one (`after`).

use std::collections::BTreeSet;

use serde_json::json;

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Four sessions `s[0..4]` created in that order, each by its own visitor tab; `s[3]` then
/// `s[1]` asked for a human (so the queue is s[3], s[1]: not creation order), and agent `a`
/// claimed `s[2]`; `s[0]` is open. The admin (`boss`, on "/admin" as `xd`) owns nothing.
struct FourSessions {
    app: TestApp,
    a: Staff,
    ad: SioClient,
    xd: SioClient,
    s: Vec<String>,
    _sockets: Vec<SioClient>,
}

async fn four_sessions(backend: Backend) -> FourSessions {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let xd = app.socket_as("/admin", &boss.token).await;
    let v = app.socket().await;
    let mut s = Vec::new();
    let mut tabs = Vec::new();
    for _ in 0..4 {
        // One socket each: a socket asking again while its session is empty gets it back.
        let t = app.socket().await;
        s.push(app.open_session(&t).await);
        tabs.push(t);
        pause().await;
    }
    // s[3] starts waiting before s[1]: the queue is s[3], s[1] (not creation order)
    data(
        &v.ack("request_human", json!({ "sessionId": s[3] })).await,
        "wait s3",
    );
    pause().await;
    data(
        &v.ack("request_human", json!({ "sessionId": s[1] })).await,
        "wait s1",
    );
    data(
        &ad.ack("claim_session", json!({ "sessionId": s[2] })).await,
        "claim s2",
    );

    tabs.push(v);
    FourSessions {
        app,
        a,
        ad,
        xd,
        s,
        _sockets: tabs,
    }
}

async fn list_sessions_lists_every_session_newest_first_with_its_summary(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    let all = data(&ad.ack("list_sessions", json!({})).await, "list all");
    assert_eq!(
        session_ids(&all),
        vec![s[3].clone(), s[2].clone(), s[1].clone(), s[0].clone()]
    );
    assert_eq!(all["hasMore"], false);
    for item in all["sessions"].as_array().expect("sessions") {
        assert_summary(item, "list_sessions item");
    }
}
both!(list_sessions_lists_every_session_newest_first_with_its_summary);

async fn the_waiting_filter_lists_the_queue_in_queue_order(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    let waiting = data(
        &ad.ack("list_sessions", json!({ "status": "waiting" }))
            .await,
        "waiting",
    );
    assert_eq!(
        session_ids(&waiting),
        vec![s[3].clone(), s[1].clone()],
        "queue order"
    );
}
both!(the_waiting_filter_lists_the_queue_in_queue_order);

async fn list_sessions_filters_by_status(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    let open = data(
        &ad.ack("list_sessions", json!({ "status": "open" })).await,
        "open",
    );
    assert_eq!(session_ids(&open), vec![s[0].clone()]);
}
both!(list_sessions_filters_by_status);

async fn list_sessions_filters_by_assignee(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { a, ad, xd, s, .. } = &f;

    let mine = data(
        &ad.ack("list_sessions", json!({ "assignee": "me" })).await,
        "me",
    );
    assert_eq!(session_ids(&mine), vec![s[2].clone()]);
    let by_id = data(
        &xd.ack("list_sessions", json!({ "assignee": a.id })).await,
        "by id",
    );
    assert_eq!(session_ids(&by_id), vec![s[2].clone()]);
    let admins = data(
        &xd.ack("list_sessions", json!({ "assignee": "me" })).await,
        "admin me",
    );
    assert!(session_ids(&admins).is_empty(), "{admins}");
    let none = data(
        &ad.ack("list_sessions", json!({ "assignee": "none" })).await,
        "none",
    );
    assert_eq!(
        session_ids(&none),
        vec![s[3].clone(), s[1].clone(), s[0].clone()]
    );
}
both!(list_sessions_filters_by_assignee);

async fn list_sessions_combines_status_and_assignee_filters(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    let both = data(
        &ad.ack(
            "list_sessions",
            json!({ "status": "waiting", "assignee": "none" }),
        )
        .await,
        "waiting+none",
    );
    assert_eq!(session_ids(&both), vec![s[3].clone(), s[1].clone()]);
}
both!(list_sessions_combines_status_and_assignee_filters);

async fn list_sessions_pages_back_with_a_created_at_cursor(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    // paging: limit + before cursor (createdAt)
    let p1 = data(
        &ad.ack("list_sessions", json!({ "limit": 2 })).await,
        "page 1",
    );
    assert_eq!(session_ids(&p1), vec![s[3].clone(), s[2].clone()]);
    assert_eq!(p1["hasMore"], true);
    let cursor = p1["sessions"][1]["createdAt"]
        .as_str()
        .expect("createdAt")
        .to_string();
    let p2 = data(
        &ad.ack("list_sessions", json!({ "limit": 2, "before": cursor }))
            .await,
        "page 2",
    );
    assert_eq!(session_ids(&p2), vec![s[1].clone(), s[0].clone()]);
    assert_eq!(p2["hasMore"], false);
}
both!(list_sessions_pages_back_with_a_created_at_cursor);

async fn the_queue_pages_in_queue_order_with_a_waiting_since_cursor(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { ad, s, .. } = &f;

    // the queue pages in queue order: `after` is the last item's waitingSince (s[3] was
    // created after s[1] but waits longer, so a createdAt cursor cannot page the queue)
    let q1 = data(
        &ad.ack("list_sessions", json!({ "status": "waiting", "limit": 1 }))
            .await,
        "queue page 1",
    );
    assert_eq!(session_ids(&q1), vec![s[3].clone()]);
    assert_eq!(q1["hasMore"], true);
    let after = q1["sessions"][0]["waitingSince"]
        .as_str()
        .expect("waitingSince")
        .to_string();
    let q2 = data(
        &ad.ack(
            "list_sessions",
            json!({ "status": "waiting", "limit": 1, "after": after }),
        )
        .await,
        "queue page 2",
    );
    assert_eq!(session_ids(&q2), vec![s[1].clone()]);
    assert_eq!(q2["hasMore"], false);
}
both!(the_queue_pages_in_queue_order_with_a_waiting_since_cursor);

async fn rest_lists_chats_filtered_by_status_and_assignee(backend: Backend) {
    let f = four_sessions(backend).await;
    let FourSessions { app, a, s, .. } = &f;

    // REST: GET /api/chats?status=waiting
    let (st, body) = call(
        app,
        reqwest::Method::GET,
        "/api/chats?status=waiting",
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let got: BTreeSet<String> = body
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            assert_eq!(c["status"], "waiting", "{c}");
            c["sessionId"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(got, set(&[&s[3], &s[1]]));
    let (st, body) = call(
        app,
        reqwest::Method::GET,
        &format!("/api/chats?assignee={}", a.id),
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body}");
    let got: Vec<&str> = body
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["sessionId"].as_str())
        .collect();
    assert_eq!(got, vec![s[2].as_str()]);
}
both!(rest_lists_chats_filtered_by_status_and_assignee);

async fn rest_lists_chats_of_one_status(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;

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
    // a status that does not exist is a bad request, not an empty page
    let (st, body) = call(
        &app,
        reqwest::Method::GET,
        "/api/chats?status=unknown",
        Some(&a.token),
        None,
    )
    .await;
    assert_eq!(st, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_payload", "{body}");
}
both!(rest_lists_chats_of_one_status);

//! The agent offline grace (`AGENT_OFFLINE_GRACE_SECS`, 2 s here): an agent whose last
//! "/admin" socket closed keeps its sessions if it comes back within the grace; after it, they
//! go back to the queue.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Agent `a` (on "/admin" as `ad`) claimed the sessions `s1` and `s2` of visitors `v1` and
/// `v2`; the admin is on "/admin" as `xd`.
struct TwoClaimed {
    app: TestApp,
    a: Staff,
    xd: SioClient,
    v1: SioClient,
    s1: String,
    v2: SioClient,
    s2: String,
    ad: SioClient,
}

async fn two_sessions_claimed_by_a(backend: Backend) -> TwoClaimed {
    let app = desk(backend, |c| c.agent_offline_grace_secs = 2).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let boss = admin(&app).await;
    let xd = app.socket_as("/admin", &boss.token).await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;

    let ad = app.socket_as("/admin", &a.token).await;
    for sid in [&s1, &s2] {
        data(
            &ad.ack("claim_session", json!({ "sessionId": sid })).await,
            "claim",
        );
    }
    assert_eq!(status_of(&v1, &s1).await["status"], "assigned");
    assert_eq!(status_of(&v2, &s2).await["status"], "assigned");
    TwoClaimed {
        app,
        a,
        xd,
        v1,
        s1,
        v2,
        s2,
        ad,
    }
}

async fn an_agent_back_within_the_grace_keeps_its_sessions(backend: Backend) {
    let TwoClaimed {
        app,
        a,
        xd: _xd,
        v1,
        s1: _s1,
        v2,
        s2: _s2,
        ad,
    } = two_sessions_claimed_by_a(backend).await;

    // back within the grace period: nothing moves
    drop(ad);
    let _ad = app.socket_as("/admin", &a.token).await;
    none_where(
        &v1,
        "session_status",
        Duration::from_millis(2500),
        "the agent came back within the grace period",
        |_| true,
    )
    .await;
    none_of(
        &v2,
        "session_status",
        "the agent came back within the grace period",
    )
    .await;
}
both!(an_agent_back_within_the_grace_keeps_its_sessions);

async fn an_agent_gone_past_the_grace_loses_its_sessions_to_the_queue(backend: Backend) {
    let TwoClaimed {
        app: _app,
        a: _a,
        xd,
        v1,
        s1,
        v2,
        s2,
        ad,
    } = two_sessions_claimed_by_a(backend).await;

    // gone for longer than the grace: both sessions go back to the queue
    drop(ad);
    for (v, sid) in [(&v1, &s1), (&v2, &s2)] {
        let st = status_of(v, sid).await;
        assert_eq!(st["status"], "waiting", "{st}");
        assert!(st["assignee"].is_null(), "{st}");
        let qp = next_where(v, "queue_position", "after the grace", |q| {
            q["sessionId"] == sid.as_str()
        })
        .await;
        assert!(qp["position"] == 1 || qp["position"] == 2, "{qp}");
    }
    let w = data(
        &xd.ack("list_sessions", json!({ "status": "waiting" }))
            .await,
        "waiting",
    );
    assert_eq!(
        session_ids(&w).into_iter().collect::<BTreeSet<_>>(),
        set(&[&s1, &s2])
    );
    for item in w["sessions"].as_array().expect("sessions") {
        assert!(item["assigneeId"].is_null(), "{item}");
        assert!(item["waitingSince"].is_string(), "{item}");
    }
}
both!(an_agent_gone_past_the_grace_loses_its_sessions_to_the_queue);

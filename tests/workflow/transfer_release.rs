//! Transfer and release: only the owner (or an admin) may hand a session to another enabled
//! staff account or put it back in the queue; a refused attempt changes nothing.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

/// `a` transfers the session of `d` to `b`; the visitor's status is consumed.
async fn transfer_to_b(d: DeskSession) -> DeskSession {
    data(
        &d.ad
            .ack(
                "transfer_session",
                json!({ "sessionId": d.sid, "agentId": d.b.id }),
            )
            .await,
        "transfer a -> b",
    );
    status_of(&d.v, &d.sid).await;
    d
}

async fn a_non_owner_agent_may_neither_release_nor_transfer(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { b, bd, v, sid, .. } = &d;

    // release / transfer by a non-owner agent: forbidden, nothing changes
    assert_err(
        &bd.ack("release_session", json!({ "sessionId": sid })).await,
        "forbidden",
        "release by a non-owner agent",
    );
    assert_err(
        &bd.ack(
            "transfer_session",
            json!({ "sessionId": sid, "agentId": b.id }),
        )
        .await,
        "forbidden",
        "transfer by a non-owner agent",
    );
    none_of(
        v,
        "session_status",
        "a refused release/transfer was announced",
    )
    .await;
}
both!(a_non_owner_agent_may_neither_release_nor_transfer);

async fn a_transfer_to_an_account_that_is_not_staff_is_refused(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { app, ad, sid, .. } = &d;

    // transfer to something that is not an enabled staff account
    let customer = app.register("carol@example.com", "carol-password").await;
    let (customer_id, _) = whoami(app, &customer).await;
    for bad in [uuid::Uuid::new_v4().to_string(), customer_id] {
        assert_err(
            &ad.ack(
                "transfer_session",
                json!({ "sessionId": sid, "agentId": bad }),
            )
            .await,
            "invalid_payload",
            "transfer to a non-staff account",
        );
    }
}
both!(a_transfer_to_an_account_that_is_not_staff_is_refused);

async fn a_transfer_to_a_disabled_agent_is_refused(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession {
        app, boss, ad, sid, ..
    } = &d;

    let c2 = staff(app, "c@desk.test", "agent").await;
    let (st_code, body) = call(
        app,
        reqwest::Method::PATCH,
        &format!("/api/agents/{}", c2.id),
        Some(&boss.token),
        Some(json!({ "disabled": true })),
    )
    .await;
    assert_eq!(st_code, 200, "{body}");
    assert_err(
        &ad.ack(
            "transfer_session",
            json!({ "sessionId": sid, "agentId": c2.id }),
        )
        .await,
        "invalid_payload",
        "transfer to a disabled agent",
    );
}
both!(a_transfer_to_a_disabled_agent_is_refused);

async fn the_owner_transfers_to_another_agent(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { b, ad, v, sid, .. } = &d;

    let t = data(
        &ad.ack(
            "transfer_session",
            json!({ "sessionId": sid, "agentId": b.id }),
        )
        .await,
        "transfer a -> b",
    );
    assert_eq!(t["assigneeId"], b.id.as_str());
    assert_eq!(t["assignee"]["id"], b.id.as_str());
    assert_eq!(t["status"], "assigned");
    let st = status_of(v, sid).await;
    assert_eq!(st["status"], "assigned");
    assert_has(&st["assignee"], &json!({ "id": b.id, "name": b.name }), "");
}
both!(the_owner_transfers_to_another_agent);

async fn the_former_owner_may_not_release_after_a_transfer(backend: Backend) {
    let d = transfer_to_b(claimed_by_a(backend).await).await;
    let DeskSession { ad, sid, .. } = &d;

    // a is no longer the owner
    assert_err(
        &ad.ack("release_session", json!({ "sessionId": sid })).await,
        "forbidden",
        "release by the former owner",
    );
}
both!(the_former_owner_may_not_release_after_a_transfer);

async fn a_release_puts_the_session_back_at_the_head_of_the_queue(backend: Backend) {
    // QUEUE_UPDATE_MS = 0: every queue change is announced at once. With a window, a release
    // that follows the claim within it is merged with it into one pass, which finds the
    // session back at the position last announced and rightly announces nothing.
    let app = desk(backend, |c| c.queue_update_ms = 0).await;
    let d = transfer_to_b(claim_by_a(waiting_session_on(app).await).await).await;
    let DeskSession { bd, v, sid, .. } = &d;

    // b releases: back to the queue
    v.drain("queue_position");
    let r = data(
        &bd.ack("release_session", json!({ "sessionId": sid })).await,
        "b releases",
    );
    assert_eq!(r["status"], "waiting");
    assert!(r["assignee"].is_null() && r["assigneeId"].is_null(), "{r}");
    let st = status_of(v, sid).await;
    assert_has(
        &st,
        &json!({ "sessionId": sid, "status": "waiting", "assignee": null }),
        "",
    );
    let qp = next_where(v, "queue_position", "after release", |q| {
        q["sessionId"] == sid.as_str()
    })
    .await;
    assert_eq!(qp["position"], 1);
}
both!(a_release_puts_the_session_back_at_the_head_of_the_queue);

async fn an_admin_may_transfer_a_session_it_does_not_own(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { b, xd, v, sid, .. } = &d;

    let t = data(
        &xd.ack(
            "transfer_session",
            json!({ "sessionId": sid, "agentId": b.id }),
        )
        .await,
        "admin transfers a -> b",
    );
    assert_eq!(t["assigneeId"], b.id.as_str());
    assert_eq!(status_of(v, sid).await["assignee"]["id"], b.id.as_str());
}
both!(an_admin_may_transfer_a_session_it_does_not_own);

async fn an_admin_may_release_a_session_it_does_not_own(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { xd, v, sid, .. } = &d;

    let r = data(
        &xd.ack("release_session", json!({ "sessionId": sid })).await,
        "admin releases",
    );
    assert_eq!(r["status"], "waiting");
    assert_eq!(status_of(v, sid).await["status"], "waiting");
}
both!(an_admin_may_release_a_session_it_does_not_own);

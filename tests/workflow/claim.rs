//! Claiming a session: a claim assigns it to the claimer and tells everyone; a session has one
//! owner (a second claimer gets `conflict`, even when two claims race); an admin takes a
//! session over only by naming its current owner.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

async fn claiming_a_waiting_session_assigns_it_and_tells_everyone(backend: Backend) {
    let d = waiting_session(backend).await;
    let DeskSession {
        a, ad, bd, v, sid, ..
    } = &d;

    let c = data(
        &ad.ack("claim_session", json!({ "sessionId": sid })).await,
        "a claims",
    );
    assert_summary(&c, "claim ack");
    assert_eq!(c["status"], "assigned");
    assert_has(&c["assignee"], &json!({ "id": a.id, "name": a.name }), "");
    assert_eq!(c["assigneeId"], a.id.as_str());
    assert!(c["assignedAt"].is_string(), "{c}");
    let st = status_of(v, sid).await;
    assert_has(
        &st,
        &json!({ "sessionId": sid, "status": "assigned", "assignee": { "id": a.id, "name": a.name } }),
        "",
    );
    let up = next_where(bd, "session_updated", "assigned to a", |u| {
        u["sessionId"] == sid.as_str() && u["status"] == "assigned"
    })
    .await;
    assert_eq!(up["assigneeId"], a.id.as_str(), "{up}");
}
both!(claiming_a_waiting_session_assigns_it_and_tells_everyone);

async fn a_session_owned_by_another_agent_cannot_be_claimed(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { bd, sid, .. } = &d;

    assert_err(
        &bd.ack("claim_session", json!({ "sessionId": sid })).await,
        "conflict",
        "claim of a session owned by another",
    );
}
both!(a_session_owned_by_another_agent_cannot_be_claimed);

async fn the_owner_claiming_again_changes_nothing(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let DeskSession { a, ad, sid, .. } = &d;

    let again = data(
        &ad.ack("claim_session", json!({ "sessionId": sid })).await,
        "a claims again",
    );
    assert_eq!(again["assigneeId"], a.id.as_str());
    assert_eq!(again["status"], "assigned");
}
both!(the_owner_claiming_again_changes_nothing);

async fn concurrent_claims_have_one_winner(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let ad = Arc::new(app.socket_as("/admin", &a.token).await);
    let bd = Arc::new(app.socket_as("/admin", &b.token).await);
    let v = app.socket().await;
    let mut won: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for round in 0..10 {
        let sid = app.open_session(&v).await;
        data(
            &v.ack("request_human", json!({ "sessionId": sid })).await,
            "request_human",
        );
        let (ac, bc) = (ad.clone(), bd.clone());
        let (s1, s2) = (sid.clone(), sid.clone());
        let ta =
            tokio::spawn(async move { ac.ack("claim_session", json!({ "sessionId": s1 })).await });
        let tb =
            tokio::spawn(async move { bc.ack("claim_session", json!({ "sessionId": s2 })).await });
        let (ra, rb) = (ta.await.expect("claim a"), tb.await.expect("claim b"));
        let (winner, win_ack, lose_ack) = match (ra["ok"] == true, rb["ok"] == true) {
            (true, false) => (&a, &ra, &rb),
            (false, true) => (&b, &rb, &ra),
            _ => panic!("round {round}: expected exactly one winner, got a={ra} b={rb}"),
        };
        assert_err(
            lose_ack,
            "conflict",
            &format!("round {round}: the losing claim"),
        );
        let w = &win_ack["data"];
        assert_eq!(w["status"], "assigned", "{w}");
        assert_eq!(w["assigneeId"], winner.id.as_str(), "{w}");
        // What is stored is the winner.
        let j = data(
            &ad.ack("join_session", json!({ "sessionId": sid })).await,
            "join",
        );
        assert_eq!(
            j["session"]["assigneeId"],
            winner.id.as_str(),
            "round {round}"
        );
        assert_eq!(j["session"]["status"], "assigned");
        data(
            &ad.ack("leave_session", json!({ "sessionId": sid })).await,
            "leave",
        );
        let st = next_where(&v, "session_status", "assigned", |x| {
            x["sessionId"] == sid.as_str() && x["status"] == "assigned"
        })
        .await;
        assert_eq!(st["assignee"]["id"], winner.id.as_str(), "{st}");
        won.entry(winner.id.clone()).or_default().push(sid);
    }
    for (who, sock) in [(&a, &ad), (&b, &bd)] {
        let mine = data(
            &sock.ack("list_sessions", json!({ "assignee": "me" })).await,
            "list me",
        );
        let got: BTreeSet<String> = session_ids(&mine).into_iter().collect();
        let want: BTreeSet<String> = won
            .get(&who.id)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .collect();
        assert_eq!(got, want, "stored assignees of {}", who.name);
    }
}
both!(concurrent_claims_have_one_winner);

// ---------------------------------------------------------------------------------------
// an admin takes over
// ---------------------------------------------------------------------------------------

/// [`DeskSession`] whose session was claimed by `a` straight away (it never waited).
async fn open_session_claimed_by_a(backend: Backend) -> DeskSession {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let bd = app.socket_as("/admin", &b.token).await;
    let xd = app.socket_as("/admin", &boss.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    data(
        &ad.ack("claim_session", json!({ "sessionId": sid })).await,
        "a claims",
    );
    assert_eq!(status_of(&v, &sid).await["assignee"]["id"], a.id.as_str());
    DeskSession {
        app,
        boss,
        a,
        b,
        ad,
        bd,
        xd,
        v,
        sid,
    }
}

/// The admin takes `a`'s session over.
async fn take_over_from_a(d: &DeskSession) -> serde_json::Value {
    let DeskSession { a, xd, sid, .. } = d;
    data(
        &xd.ack(
            "claim_session",
            json!({ "sessionId": sid, "takeOverFrom": a.id }),
        )
        .await,
        "take-over from a",
    )
}

async fn a_take_over_needs_an_admin_naming_the_owner(backend: Backend) {
    let d = open_session_claimed_by_a(backend).await;
    let DeskSession {
        a,
        b,
        bd,
        xd,
        v,
        sid,
        ..
    } = &d;

    // An agent cannot take over; an admin cannot claim it without naming its owner, nor by
    // naming someone who does not own it. Nothing changes.
    assert_err(
        &bd.ack(
            "claim_session",
            json!({ "sessionId": sid, "takeOverFrom": a.id }),
        )
        .await,
        "forbidden",
        "take-over by an agent",
    );
    assert_err(
        &xd.ack("claim_session", json!({ "sessionId": sid })).await,
        "conflict",
        "an admin's plain claim of a's session",
    );
    assert_err(
        &xd.ack(
            "claim_session",
            json!({ "sessionId": sid, "takeOverFrom": b.id }),
        )
        .await,
        "conflict",
        "take-over naming an agent who does not own the session",
    );
    none_of(v, "session_status", "a refused take-over was announced").await;
}
both!(a_take_over_needs_an_admin_naming_the_owner);

async fn an_admin_takes_over_from_the_owner_it_names(backend: Backend) {
    let d = open_session_claimed_by_a(backend).await;
    let DeskSession {
        boss,
        ad,
        xd,
        v,
        sid,
        ..
    } = &d;

    // The admin takes it over from a: the visitor and the agents hear it, and the admin now
    // follows the conversation.
    let t = take_over_from_a(&d).await;
    assert_eq!(t["status"], "assigned");
    assert_has(
        &t["assignee"],
        &json!({ "id": boss.id, "name": boss.name }),
        "take-over ack",
    );
    let st = status_of(v, sid).await;
    assert_has(
        &st,
        &json!({ "status": "assigned", "assignee": { "id": boss.id, "name": boss.name } }),
        "session_status after the take-over",
    );
    next_where(ad, "session_updated", "assigned to the admin", |u| {
        u["sessionId"] == sid.as_str() && u["assigneeId"] == boss.id.as_str()
    })
    .await;
    data(
        &v.ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello?" }),
        )
        .await,
        "visitor writes",
    );
    assert_eq!(xd.next("message").await["content"], "hello?");
}
both!(an_admin_takes_over_from_the_owner_it_names);

async fn after_a_take_over_the_former_owner_is_no_longer_the_owner(backend: Backend) {
    let d = open_session_claimed_by_a(backend).await;
    take_over_from_a(&d).await;
    let DeskSession {
        app, a, ad, sid, ..
    } = &d;

    // a no longer owns it: the same take-over again is a conflict, and a cannot take it back.
    let boss2 = staff(app, "boss2@desk.test", "admin").await;
    let yd = app.socket_as("/admin", &boss2.token).await;
    assert_err(
        &yd.ack(
            "claim_session",
            json!({ "sessionId": sid, "takeOverFrom": a.id }),
        )
        .await,
        "conflict",
        "take-over from an agent who lost the session meanwhile",
    );
    assert_err(
        &ad.ack("claim_session", json!({ "sessionId": sid })).await,
        "conflict",
        "the former owner claims it back",
    );
}
both!(after_a_take_over_the_former_owner_is_no_longer_the_owner);

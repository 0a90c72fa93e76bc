//! Auto-assignment: a waiting session goes to an online agent, the oldest first, to the agent
//! with the fewest assigned sessions, never beyond `MAX_CHATS_PER_AGENT`; a freed slot takes
//! the next waiting session.

use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Two visitors asked for a human (s1 first, s2 through the seed's alias) while nobody was
/// online; then Ann came online, on a desk with one chat per agent. Each visitor's `waiting`
/// status is consumed.
struct TwoWaiting {
    /// Keeps the server running.
    _app: TestApp,
    ann: Staff,
    v1: SioClient,
    s1: String,
    v2: SioClient,
    s2: String,
    ad: SioClient,
}

async fn two_waiting_then_ann_online(backend: Backend) -> TwoWaiting {
    let app = one_chat_desk(backend).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;
    data(
        &v1.ack("request_human", json!({ "sessionId": s1 })).await,
        "request_human s1",
    );
    v1.next("session_status").await; // waiting
    pause().await;
    data(
        &v2.ack("human-escalation", json!({ "sessionId": s2 })).await,
        "human-escalation s2",
    );
    v2.next("session_status").await; // waiting
    let ad = app.socket_as("/admin", &ann.token).await;
    TwoWaiting {
        _app: app,
        ann,
        v1,
        s1,
        v2,
        s2,
        ad,
    }
}

/// Waits until s1 has been given to Ann.
async fn s1_assigned(t: &TwoWaiting) {
    next_where(&t.v1, "session_status", "assigned", |s| {
        s["status"] == "assigned"
    })
    .await;
}

async fn an_agent_coming_online_gets_the_oldest_waiting_session(backend: Backend) {
    let t = two_waiting_then_ann_online(backend).await;
    let TwoWaiting { ann, v1, s1, .. } = &t;

    let st = v1.next("session_status").await;
    assert_eq!(st["sessionId"], s1.as_str(), "{st}");
    assert_eq!(st["status"], "assigned", "{st}");
    assert_eq!(st["assignee"]["id"], ann.id.as_str(), "{st}");
    assert_eq!(st["assignee"]["name"], ann.name.as_str(), "{st}");
}
both!(an_agent_coming_online_gets_the_oldest_waiting_session);

async fn the_next_waiting_session_moves_up_when_the_first_is_assigned(backend: Backend) {
    let t = two_waiting_then_ann_online(backend).await;
    let (v2, s2) = (&t.v2, &t.s2);

    // s2 moves up to position 1
    let qp = next_where(v2, "queue_position", "with a new position", |v| {
        v["position"] != 2
    })
    .await;
    assert_has(&qp, &json!({ "sessionId": s2, "position": 1 }), "");
}
both!(the_next_waiting_session_moves_up_when_the_first_is_assigned);

async fn an_agent_at_max_chats_per_agent_gets_no_more_sessions(backend: Backend) {
    let t = two_waiting_then_ann_online(backend).await;
    s1_assigned(&t).await;
    let (v2, s1, s2, ad) = (&t.v2, &t.s1, &t.s2, &t.ad);

    // s2 stays waiting (the agent is at MAX_CHATS_PER_AGENT = 1)
    none_of(
        v2,
        "session_status",
        "s2 must stay waiting while the agent is full",
    )
    .await;
    let mine = data(
        &ad.ack("list_sessions", json!({ "assignee": "me" })).await,
        "list_sessions me",
    );
    assert_eq!(session_ids(&mine), vec![s1.clone()]);
    let waiting = data(
        &ad.ack("list_sessions", json!({ "status": "waiting" }))
            .await,
        "list_sessions waiting",
    );
    assert_eq!(session_ids(&waiting), vec![s2.clone()]);
}
both!(an_agent_at_max_chats_per_agent_gets_no_more_sessions);

async fn an_auto_assigned_session_shows_its_assignee_and_stored_timestamps(backend: Backend) {
    let t = two_waiting_then_ann_online(backend).await;
    s1_assigned(&t).await;
    let (ann, s1, ad) = (&t.ann, &t.s1, &t.ad);

    let j = data(
        &ad.ack("join_session", json!({ "sessionId": s1 })).await,
        "join_session s1",
    );
    let sess = &j["session"];
    assert_summary(sess, "join_session");
    assert_eq!(sess["status"], "assigned");
    assert_eq!(sess["assigneeId"], ann.id.as_str());
    assert_eq!(sess["assignee"]["id"], ann.id.as_str());
    // docs/desk.md "Stored timestamps": waitingSince is a stored timestamp
    let waiting_since_after_assign = sess["waitingSince"].clone();
    assert!(sess["assignedAt"].is_string(), "{sess}");
    assert!(sess["firstResponseAt"].is_null(), "{sess}");
    assert!(sess["resolvedAt"].is_null(), "{sess}");
    assert!(
        waiting_since_after_assign.is_string(),
        "stored timestamp waitingSince was not kept once the session was assigned: {waiting_since_after_assign}"
    );
}
both!(an_auto_assigned_session_shows_its_assignee_and_stored_timestamps);

async fn resolving_frees_the_agent_for_the_next_waiting_session(backend: Backend) {
    let t = two_waiting_then_ann_online(backend).await;
    s1_assigned(&t).await;
    let (ann, s1, v2, s2, ad) = (&t.ann, &t.s1, &t.v2, &t.s2, &t.ad);

    data(
        &ad.ack("resolve_session", json!({ "sessionId": s1 })).await,
        "resolve_session",
    );
    // The agent's load dropped: the next waiting session is routed to them.
    let st = status_of(v2, s2).await;
    assert_eq!(st["status"], "assigned", "{st}");
    assert_eq!(st["assignee"]["id"], ann.id.as_str(), "{st}");
}
both!(resolving_frees_the_agent_for_the_next_waiting_session);

// ---------------------------------------------------------------------------------------
// two agents, at most two chats each
// ---------------------------------------------------------------------------------------

/// Agents `a` and `b` online on a desk with two chats per agent, and four visitors who asked
/// for a human one after the other, each waiting until it was assigned: (visitor, session,
/// its `assigned` status) in that order.
struct FourRouted {
    app: TestApp,
    a: Staff,
    b: Staff,
    ad: SioClient,
    bd: SioClient,
    routed: Vec<(SioClient, String, Value)>,
}

async fn four_sessions_for_two_agents(backend: Backend) -> FourRouted {
    let app = desk(backend, |c| {
        c.auto_assign = true;
        c.max_chats_per_agent = 2;
    })
    .await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let bd = app.socket_as("/admin", &b.token).await;
    // both online (a is told about b)
    next_where(&ad, "presence", "with b", |p| {
        p["agents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == b.id.as_str()))
    })
    .await;

    let mut routed = Vec::new();
    for _ in 0..4 {
        let v = app.socket().await;
        let sid = app.open_session(&v).await;
        data(
            &v.ack("request_human", json!({ "sessionId": sid })).await,
            "request_human",
        );
        let st = next_where(&v, "session_status", "assigned", |s| {
            s["status"] == "assigned"
        })
        .await;
        routed.push((v, sid, st));
    }
    FourRouted {
        app,
        a,
        b,
        ad,
        bd,
        routed,
    }
}

/// A fifth visitor asks for a human while both agents are full.
async fn fifth_visitor_waits(app: &TestApp) -> (SioClient, String, Value) {
    let v5 = app.socket().await;
    let s5 = app.open_session(&v5).await;
    let d = data(
        &v5.ack("request_human", json!({ "sessionId": s5 })).await,
        "fifth",
    );
    (v5, s5, d)
}

async fn sessions_go_to_the_agent_with_the_fewest_assigned(backend: Backend) {
    let f = four_sessions_for_two_agents(backend).await;
    let FourRouted { a, b, routed, .. } = &f;

    let mut owner: Vec<String> = Vec::new();
    for (i, (_, _, st)) in routed.iter().enumerate() {
        let who = st["assignee"]["id"].as_str().expect("assignee").to_string();
        assert!(who == a.id || who == b.id, "{st}");
        if i == 1 || i == 3 {
            // the other agent had fewer assigned sessions
            assert_ne!(
                who,
                owner[i - 1],
                "session {i} did not go to the least busy agent"
            );
        }
        owner.push(who);
    }
    let count = |id: &str| owner.iter().filter(|o| o.as_str() == id).count();
    assert_eq!((count(&a.id), count(&b.id)), (2, 2));
}
both!(sessions_go_to_the_agent_with_the_fewest_assigned);

async fn no_agent_is_given_more_than_max_chats_per_agent(backend: Backend) {
    let f = four_sessions_for_two_agents(backend).await;
    let FourRouted {
        app, a, b, ad, bd, ..
    } = &f;

    // everyone is full: the fifth waits
    let (v5, _s5, d) = fifth_visitor_waits(app).await;
    assert_eq!(d["status"], "waiting");
    assert_eq!(d["position"], 1);
    none_where(
        &v5,
        "session_status",
        QUIET,
        "assigned beyond MAX_CHATS_PER_AGENT",
        |s| s["status"] == "assigned",
    )
    .await;
    for (sock, who) in [(&ad, &a), (&bd, &b)] {
        let mine = data(
            &sock.ack("list_sessions", json!({ "assignee": "me" })).await,
            "mine",
        );
        assert_eq!(session_ids(&mine).len(), 2, "{} has {mine}", who.name);
    }
}
both!(no_agent_is_given_more_than_max_chats_per_agent);

async fn a_freed_slot_takes_the_waiting_session(backend: Backend) {
    let f = four_sessions_for_two_agents(backend).await;
    let FourRouted {
        app, b, bd, routed, ..
    } = &f;
    let (v5, _s5, _) = fifth_visitor_waits(app).await;

    // b's load drops: the waiting session goes to b
    let b_sid = routed
        .iter()
        .find(|(_, _, st)| st["assignee"]["id"] == b.id.as_str())
        .map(|(_, s, _)| s.clone())
        .expect("a session of b");
    data(
        &bd.ack("resolve_session", json!({ "sessionId": b_sid }))
            .await,
        "b resolves",
    );
    let st = next_where(&v5, "session_status", "assigned", |s| {
        s["status"] == "assigned"
    })
    .await;
    assert_eq!(st["assignee"]["id"], b.id.as_str(), "{st}");
}
both!(a_freed_slot_takes_the_waiting_session);

//! Call signalling (`call-offer`, `call-answer`, `ice-candidate`, `call-end`): relayed to the
//! other participants of that session only, from participants only, at most 64 KiB, never
//! stored.

use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Visitor `v1` (with a second tab `v1b`) in session `s1`, joined by agent `a` (`ad`); visitor
/// `v2` in session `s2`, joined by agent `b` (`bd`). `s1` holds one message, "call me";
/// `before` and `before2` are the stored histories of `s1` and `s2`.
struct Call {
    app: TestApp,
    v1: SioClient,
    s1: String,
    v1b: SioClient,
    v2: SioClient,
    s2: String,
    ad: SioClient,
    bd: SioClient,
    before: Vec<Value>,
    before2: Vec<Value>,
}

async fn two_sessions_with_their_agents(backend: Backend) -> Call {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;
    let v1 = app.socket().await;
    let s1 = app.open_session(&v1).await;
    let v1b = app.socket().await; // the visitor's second tab
    v1b.ack("init_session", json!({ "sessionId": s1 })).await;
    let v2 = app.socket().await;
    let s2 = app.open_session(&v2).await;
    let ad = app.socket_as("/admin", &a.token).await;
    let bd = app.socket_as("/admin", &b.token).await;
    data(
        &ad.ack("join_session", json!({ "sessionId": s1 })).await,
        "a joins s1",
    );
    data(
        &bd.ack("join_session", json!({ "sessionId": s2 })).await,
        "b joins s2",
    );
    v1.ack(
        "user_message",
        json!({ "sessionId": s1, "content": "call me" }),
    )
    .await;
    let before = app.history(&s1).await;
    let before2 = app.history(&s2).await;
    Call {
        app,
        v1,
        s1,
        v1b,
        v2,
        s2,
        ad,
        bd,
        before,
        before2,
    }
}

fn offer() -> Value {
    json!({ "type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n" })
}

/// What the agent sends back, one of each event.
fn agent_events() -> [(&'static str, Value); 3] {
    [
        ("call-answer", json!({ "type": "answer", "sdp": "v=0\r\n" })),
        (
            "ice-candidate",
            json!({ "candidate": "candidate:1 1 UDP 2122 127.0.0.1 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0 }),
        ),
        ("call-end", json!({ "reason": "hangup" })),
    ]
}

async fn a_visitors_call_offer_reaches_the_agent_and_its_other_tab_only(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call {
        v1,
        s1,
        v1b,
        v2,
        ad,
        bd,
        ..
    } = &call;

    // visitor -> agent (and the visitor's other tab)
    let offer = offer();
    let ack = v1
        .ack("call-offer", json!({ "sessionId": s1, "payload": offer }))
        .await;
    assert_has(&data(&ack, "call-offer"), &json!({ "delivered": true }), "");
    for (name, s) in [("agent", ad), ("second tab", v1b)] {
        let got = s.next("call-offer").await;
        assert_has(
            &got,
            &json!({ "sessionId": s1, "payload": offer, "from": { "sid": v1.sid, "sender": "user" } }),
            &format!("call-offer at {name}"),
        );
    }
    none_on(
        &[
            ("the sender", v1),
            ("v2 (other session)", v2),
            ("b (other session)", bd),
        ],
        "call-offer",
        "call-offer relayed to the sender or outside its session",
    )
    .await;
}
both!(a_visitors_call_offer_reaches_the_agent_and_its_other_tab_only);

async fn the_agents_call_events_reach_every_visitor_tab_only(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call {
        v1,
        s1,
        v1b,
        v2,
        ad,
        bd,
        ..
    } = &call;

    // agent -> visitor tabs, every event
    for (event, payload) in agent_events() {
        let ack = ad
            .ack(event, json!({ "sessionId": s1, "payload": payload }))
            .await;
        assert_has(&data(&ack, event), &json!({ "delivered": true }), "");
        for (name, s) in [("visitor", v1), ("second tab", v1b)] {
            let got = s.next(event).await;
            assert_has(
                &got,
                &json!({ "sessionId": s1, "payload": payload, "from": { "sid": ad.sid, "sender": "admin" } }),
                &format!("{event} at {name}"),
            );
        }
        none_on(
            &[
                ("the sender", ad),
                ("v2 (other session)", v2),
                ("b (other session)", bd),
            ],
            event,
            &format!("{event} relayed to the sender or outside its session"),
        )
        .await;
    }
}
both!(the_agents_call_events_reach_every_visitor_tab_only);

async fn a_call_event_sent_without_an_ack_is_relayed_too(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call { v1, s1, ad, .. } = &call;

    // the visitor's ice-candidate too (a call event without ack still relays)
    v1.emit(
        "ice-candidate",
        json!({ "sessionId": s1, "payload": { "candidate": "c2" } }),
    );
    assert_eq!(ad.next("ice-candidate").await["from"]["sender"], "user");
}
both!(a_call_event_sent_without_an_ack_is_relayed_too);

async fn sockets_outside_the_session_may_not_signal(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call {
        app,
        v1,
        s1,
        v2,
        bd,
        ..
    } = &call;
    let offer = offer();

    // A socket that has not joined the session: forbidden, nothing relayed.
    let ack = v2
        .ack("call-offer", json!({ "sessionId": s1, "payload": offer }))
        .await;
    assert_err(
        &ack,
        "forbidden",
        "call-offer from a visitor of another session",
    );
    let ack = bd
        .ack("call-offer", json!({ "sessionId": s1, "payload": offer }))
        .await;
    assert_err(
        &ack,
        "forbidden",
        "call-offer from an agent who did not join",
    );
    let stranger = app.socket().await;
    let ack = stranger
        .ack(
            "ice-candidate",
            json!({ "sessionId": s1, "payload": { "candidate": "x" } }),
        )
        .await;
    assert_err(
        &ack,
        "forbidden",
        "ice-candidate from a socket that never joined",
    );
    none_of(v1, "call-offer", "a refused call-offer was relayed").await;
}
both!(sockets_outside_the_session_may_not_signal);

async fn an_agent_who_left_the_session_may_not_signal(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call { v1, s1, ad, .. } = &call;

    // After leave_session the agent is no longer a participant.
    data(
        &ad.ack("leave_session", json!({ "sessionId": s1 })).await,
        "leave",
    );
    let ack = ad
        .ack("call-end", json!({ "sessionId": s1, "payload": {} }))
        .await;
    assert_err(&ack, "forbidden", "call-end after leave_session");
    none_of(v1, "call-end", "a refused call-end was relayed").await;
}
both!(an_agent_who_left_the_session_may_not_signal);

async fn signalling_payloads_are_at_most_64_kib(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call { v1, s1, ad, .. } = &call;

    // Payload size: at most 64 KiB serialized.
    let big = "x".repeat(70 * 1024);
    let ack = v1
        .ack(
            "call-offer",
            json!({ "sessionId": s1, "payload": { "sdp": big } }),
        )
        .await;
    assert_err(&ack, "invalid_payload", "call-offer with a 70 KiB payload");
    none_of(ad, "call-offer", "an oversized call-offer was relayed").await;
    let fits = "y".repeat(60 * 1024);
    let ack = v1
        .ack(
            "call-offer",
            json!({ "sessionId": s1, "payload": { "sdp": fits } }),
        )
        .await;
    assert_has(
        &data(&ack, "call-offer 60 KiB"),
        &json!({ "delivered": true }),
        "",
    );
    assert_eq!(
        ad.next("call-offer").await["payload"]["sdp"]
            .as_str()
            .map(str::len),
        Some(60 * 1024)
    );
}
both!(signalling_payloads_are_at_most_64_kib);

async fn signalling_is_never_stored(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call {
        app,
        v1,
        s1,
        v1b,
        s2,
        ad,
        before,
        before2,
        ..
    } = &call;

    // Every kind of event, relayed (as the tests above check), each one waited for.
    data(
        &v1.ack("call-offer", json!({ "sessionId": s1, "payload": offer() }))
            .await,
        "call-offer",
    );
    ad.next("call-offer").await;
    for (event, payload) in agent_events() {
        data(
            &ad.ack(event, json!({ "sessionId": s1, "payload": payload }))
                .await,
            event,
        );
        v1.next(event).await;
        v1b.next(event).await;
    }
    v1.emit(
        "ice-candidate",
        json!({ "sessionId": s1, "payload": { "candidate": "c2" } }),
    );
    ad.next("ice-candidate").await;
    let fits = "y".repeat(60 * 1024);
    data(
        &v1.ack(
            "call-offer",
            json!({ "sessionId": s1, "payload": { "sdp": fits } }),
        )
        .await,
        "call-offer 60 KiB",
    );
    ad.next("call-offer").await;

    // Never stored.
    assert_eq!(app.history(s1).await, *before, "signalling was stored");
    assert_eq!(app.history(s2).await, *before2);
    for s in [v1, v1b, ad] {
        let extra: Vec<Value> = s
            .drain("message")
            .into_iter()
            .filter(|m| m["content"] != "call me")
            .collect();
        assert!(extra.is_empty(), "signalling produced messages: {extra:?}");
    }
}
both!(signalling_is_never_stored);

async fn signalling_to_an_unknown_session_is_not_found(backend: Backend) {
    let call = two_sessions_with_their_agents(backend).await;
    let Call { v1, .. } = &call;
    let offer = offer();

    // Unknown session.
    let ack = v1
        .ack(
            "call-offer",
            json!({ "sessionId": uuid::Uuid::new_v4().to_string(), "payload": offer }),
        )
        .await;
    assert_eq!(ack["ok"], false, "call-offer to an unknown session: {ack}");
    assert_err(
        &ack,
        "session_not_found",
        "call-offer to an unknown session",
    );
}
both!(signalling_to_an_unknown_session_is_not_found);

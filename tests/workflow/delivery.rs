//! Exactly-once delivery: a visitor whose connection dropped resumes with `lastSeq` and sees
//! every message once; a resend with the same `clientMsgId` is stored and broadcast once.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

async fn resume_after_drop_sees_every_message_once(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let ann = staff(&app, "ann@desk.test", "agent").await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let ad = app.socket_as("/admin", &ann.token).await;
    data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );

    const N: i64 = 50;
    let s2 = sid.clone();
    let sender = tokio::spawn(async move {
        let mut acked = Vec::new();
        for i in 1..=N {
            let ack = ad
                .ack(
                    "admin_message",
                    json!({ "sessionId": s2, "content": format!("m{i}") }),
                )
                .await;
            assert_eq!(ack["ok"], true, "admin_message {i}: {ack}");
            acked.push(ack["data"]["seq"].as_i64().unwrap_or(-1));
        }
        (ad, acked)
    });

    // The visitor sees a few messages, then its connection drops.
    let mut seen: Vec<Value> = Vec::new();
    for _ in 0..5 {
        seen.push(v.next("message").await);
    }
    let last_seen = seen.last().and_then(|m| m["seq"].as_i64()).expect("seq");
    v.drop_connection();

    // It reconnects at once (the agent may still be sending) and resumes.
    let v2 = app.socket().await;
    let ack = v2
        .ack(
            "init_session",
            json!({ "sessionId": sid, "lastSeq": last_seen }),
        )
        .await;
    assert_eq!(ack["sessionId"], sid.as_str(), "{ack}");
    assert_eq!(ack["resumed"], true, "{ack}");
    let from_ack = ack["messages"]
        .as_array()
        .cloned()
        .expect("messages in ack");
    let ack_seqs = seqs(&ack["messages"]);
    assert!(
        ack_seqs.windows(2).all(|w| w[0] < w[1]),
        "resume messages out of order: {ack_seqs:?}"
    );
    assert!(
        ack_seqs.iter().all(|s| *s > last_seen),
        "resume returned messages the client had: {ack_seqs:?}"
    );

    let (_ad, acked) = sender.await.expect("sender task");
    assert_eq!(acked, (1..=N).collect::<Vec<_>>(), "ack seqs");

    // Live messages after the reconnect, until the last one is known.
    let mut live: Vec<Value> = Vec::new();
    let have_last =
        |live: &Vec<Value>| ack_seqs.last() == Some(&N) || live.iter().any(|m| m["seq"] == N);
    while !have_last(&live) {
        live.push(v2.next_within("message", WAIT).await.unwrap_or_else(|| {
            panic!(
                "message {N} never arrived (live so far {:?})",
                seqs(&Value::Array(live.clone()))
            )
        }));
    }
    while let Some(m) = v2.next_within("message", QUIET).await {
        live.push(m);
    }
    let live_seqs = seqs(&Value::Array(live.clone()));
    assert!(
        live_seqs.windows(2).all(|w| w[0] < w[1]),
        "live messages out of order: {live_seqs:?}"
    );

    // A client merges ack + live by seq.
    let mut by_seq: BTreeMap<i64, Value> = BTreeMap::new();
    for m in seen.into_iter().chain(from_ack).chain(live) {
        let seq = m["seq"].as_i64().expect("seq");
        if let Some(prev) = by_seq.get(&seq) {
            assert_eq!(prev["id"], m["id"], "two different messages with seq {seq}");
        }
        by_seq.insert(seq, m);
    }
    let merged: Vec<i64> = by_seq.keys().copied().collect();
    assert_eq!(
        merged,
        (1..=N).collect::<Vec<_>>(),
        "missing or extra messages after resume"
    );
    for (seq, m) in &by_seq {
        assert_eq!(m["content"], format!("m{seq}"), "{m}");
        assert_eq!(m["sender"], "admin");
    }
    assert_eq!(seqs(&Value::Array(app.history(&sid).await)), merged);
}
both!(resume_after_drop_sees_every_message_once);

/// A desk whose admin (`watcher`) has joined the session `sid` of visitor `v`, and the
/// message `payload` that the visitor will send with `clientMsgId` "cmid-42".
struct Watched {
    app: TestApp,
    watcher: SioClient,
    v: SioClient,
    sid: String,
    payload: Value,
}

async fn watched_session(backend: Backend) -> Watched {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    let watcher = app.socket_as("/admin", &boss.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    data(
        &watcher
            .ack("join_session", json!({ "sessionId": sid }))
            .await,
        "watcher joins",
    );
    let payload =
        json!({ "sessionId": sid, "content": "exactly once, please", "clientMsgId": "cmid-42" });
    Watched {
        app,
        watcher,
        v,
        sid,
        payload,
    }
}

/// The visitor sends `payload`, its connection drops before the ack could arrive, and it sends
/// `payload` again from a new connection: (that `init_session` ack, the resend's ack data).
async fn resend_after_drop(w: Watched) -> (Watched, Value, Value) {
    let Watched {
        app,
        watcher,
        v,
        sid,
        payload,
    } = w;
    // Sent, then the connection drops before the ack could arrive.
    v.emit("user_message", payload.clone());
    v.drop_connection();

    let v2 = app.socket().await;
    let init = v2
        .ack("init_session", json!({ "sessionId": sid, "lastSeq": 0 }))
        .await;
    let m = data(&v2.ack("user_message", payload.clone()).await, "resend");
    let w = Watched {
        app,
        watcher,
        v: v2,
        sid,
        payload,
    };
    (w, init, m)
}

async fn a_resend_after_a_drop_is_stored_and_broadcast_once(backend: Backend) {
    let (w, init, m) = resend_after_drop(watched_session(backend).await).await;
    let Watched {
        app, watcher, sid, ..
    } = &w;

    assert_eq!(init["resumed"], true, "{init}");
    assert_eq!(m["content"], "exactly once, please");
    assert_eq!(m["sender"], "user");
    assert_eq!(m["clientMsgId"], "cmid-42", "{m}");

    let history = app.history(sid).await;
    assert_eq!(history.len(), 1, "stored more than once: {history:?}");
    assert_eq!(
        history[0]["id"], m["id"],
        "the resend's ack is not the stored message"
    );
    assert_eq!(history[0]["seq"], m["seq"]);
    assert_eq!(m["seq"], 1);

    let b = watcher.next("message").await;
    assert_eq!(b["id"], m["id"], "{b}");
    none_of(watcher, "message", "the retry was broadcast again").await;
}
both!(a_resend_after_a_drop_is_stored_and_broadcast_once);

async fn a_resend_from_yet_another_connection_answers_the_stored_message_silently(
    backend: Backend,
) {
    let (w, _, m) = resend_after_drop(watched_session(backend).await).await;
    let Watched {
        app,
        watcher,
        sid,
        payload,
        ..
    } = &w;
    watcher.next("message").await; // the one broadcast

    // Once more from yet another connection: same message, no broadcast.
    let v3 = app.socket().await;
    v3.ack("init_session", json!({ "sessionId": sid })).await;
    let again = data(&v3.ack("user_message", payload.clone()).await, "third try");
    assert_eq!(again["id"], m["id"]);
    assert_eq!(again["seq"], m["seq"]);
    none_of(watcher, "message", "the third try was broadcast").await;
    none_of(&v3, "message", "the third try was echoed").await;
    assert_eq!(app.history(sid).await.len(), 1);
}
both!(a_resend_from_yet_another_connection_answers_the_stored_message_silently);

async fn the_same_client_msg_id_in_another_session_is_another_message(backend: Backend) {
    let (w, _, m) = resend_after_drop(watched_session(backend).await).await;
    let Watched { app, sid, .. } = &w;
    let v3 = app.socket().await;

    // The same clientMsgId in another session is another message.
    let other = app.open_session(&v3).await;
    let o = data(
        &v3.ack(
            "user_message",
            json!({ "sessionId": other, "content": "exactly once, please", "clientMsgId": "cmid-42" }),
        )
        .await,
        "same clientMsgId, other session",
    );
    assert_ne!(o["id"], m["id"]);
    assert_eq!(o["sessionId"], other.as_str());
    assert_eq!(app.history(&other).await.len(), 1);
    assert_eq!(app.history(sid).await.len(), 1);
}
both!(the_same_client_msg_id_in_another_session_is_another_message);

//! Read receipts: `read` moves the reader's watermark and tells the other side; a watermark
//! never moves backwards nor beyond `lastSeq`; the `init_session` and `join_session` acks carry
//! both watermarks.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

/// The visitor has read up to the agent's reply, and the agent has been told.
async fn visitor_read_up_to(chat: &Chat, seq: i64) {
    let Chat { v1, s1, ad, .. } = chat;
    data(
        &v1.ack("read", json!({ "sessionId": s1, "seq": seq })).await,
        "read user",
    );
    ad.next("read").await;
}

async fn a_visitors_read_is_acked_and_reaches_the_agent(backend: Backend) {
    let (chat, _u_seq, m_seq) = chat_with_two_messages(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let r = data(
        &v1.ack("read", json!({ "sessionId": s1, "seq": m_seq }))
            .await,
        "read user",
    );
    assert_has(&r, &json!({ "reader": "user", "seq": m_seq }), "");
    let ev = ad.next("read").await;
    assert_has(
        &ev,
        &json!({ "sessionId": s1, "reader": "user", "seq": m_seq }),
        "",
    );
}
both!(a_visitors_read_is_acked_and_reaches_the_agent);

async fn a_visitors_watermark_never_moves_backwards(backend: Backend) {
    let (chat, u_seq, m_seq) = chat_with_two_messages(backend).await;
    visitor_read_up_to(&chat, m_seq).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let r = data(
        &v1.ack("read", json!({ "sessionId": s1, "seq": u_seq }))
            .await,
        "read user lower",
    );
    assert_has(
        &r,
        &json!({ "reader": "user", "seq": m_seq }),
        "a lower seq must answer the stored higher watermark",
    );
    none_of(ad, "read", "a watermark that did not move was broadcast").await;
}
both!(a_visitors_watermark_never_moves_backwards);

async fn a_visitors_watermark_never_moves_beyond_last_seq(backend: Backend) {
    let (chat, _u_seq, m_seq) = chat_with_two_messages(backend).await;
    visitor_read_up_to(&chat, m_seq).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let beyond = v1
        .ack("read", json!({ "sessionId": s1, "seq": m_seq + 100 }))
        .await;
    if beyond["ok"] == true {
        assert_has(
            &beyond["data"],
            &json!({ "reader": "user", "seq": m_seq }),
            "read beyond lastSeq must not store beyond lastSeq",
        );
    } else {
        assert_err(&beyond, "invalid_payload", "read beyond lastSeq");
    }
    none_of(ad, "read", "read beyond lastSeq moved the watermark").await;
}
both!(a_visitors_watermark_never_moves_beyond_last_seq);

async fn an_agents_read_is_acked_and_reaches_the_visitor(backend: Backend) {
    let (chat, u_seq, m_seq) = chat_with_two_messages(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let r = data(
        &ad.ack("read", json!({ "sessionId": s1, "seq": u_seq }))
            .await,
        "read admin",
    );
    assert_has(&r, &json!({ "reader": "admin", "seq": u_seq }), "");
    let ev = next_where(v1, "read", "by the agent", |v| v["reader"] == "admin").await;
    assert_has(
        &ev,
        &json!({ "sessionId": s1, "reader": "admin", "seq": u_seq }),
        "",
    );
    let r = data(
        &ad.ack("read", json!({ "sessionId": s1, "seq": m_seq }))
            .await,
        "read admin 2",
    );
    assert_has(&r, &json!({ "reader": "admin", "seq": m_seq }), "");
    let ev = next_where(v1, "read", "by the agent", |v| v["reader"] == "admin").await;
    assert_eq!(ev["seq"], m_seq);
}
both!(an_agents_read_is_acked_and_reaches_the_visitor);

async fn an_agents_watermark_never_moves_backwards(backend: Backend) {
    let (chat, u_seq, m_seq) = chat_with_two_messages(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;
    data(
        &ad.ack("read", json!({ "sessionId": s1, "seq": m_seq }))
            .await,
        "read admin 2",
    );
    next_where(v1, "read", "by the agent", |v| v["reader"] == "admin").await;

    let r = data(
        &ad.ack("read", json!({ "sessionId": s1, "seq": u_seq }))
            .await,
        "read admin lower",
    );
    assert_has(&r, &json!({ "reader": "admin", "seq": m_seq }), "");
    none_where(v1, "read", QUIET, "admin watermark moved back", |v| {
        v["reader"] == "admin"
    })
    .await;
}
both!(an_agents_watermark_never_moves_backwards);

async fn init_and_join_acks_carry_both_watermarks(backend: Backend) {
    let (chat, _u_seq, m_seq) = chat_with_two_messages(backend).await;
    visitor_read_up_to(&chat, m_seq).await;
    let Chat { app, s1, ad, .. } = &chat;
    data(
        &ad.ack("read", json!({ "sessionId": s1, "seq": m_seq }))
            .await,
        "read admin 2",
    );

    // readSeq in the init_session and join_session acks
    let tab = app.socket().await;
    let init = tab.ack("init_session", json!({ "sessionId": s1 })).await;
    assert_eq!(init["resumed"], true, "{init}");
    assert_eq!(init["lastSeq"], m_seq, "{init}");
    assert_has(
        &init["readSeq"],
        &json!({ "user": m_seq, "admin": m_seq }),
        &format!("{init}"),
    );
    drop(tab);
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": s1 })).await,
        "join_session again",
    );
    assert_has(
        &j["session"]["readSeq"],
        &json!({ "user": m_seq, "admin": m_seq }),
        "",
    );
    assert_eq!(j["session"]["unread"], 0);
    assert!(j["session"]["firstResponseAt"].is_string(), "{j}");
    assert!(j["session"]["lastMessageAt"].is_string(), "{j}");
}
both!(init_and_join_acks_carry_both_watermarks);

async fn join_session_ack_carries_the_session_id_and_read_watermarks(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let sid = open(&v).await["sessionId"]
        .as_str()
        .expect("sid")
        .to_string();
    for i in 1..=3 {
        data(
            &v.ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("u{i}") }),
            )
            .await,
            "user_message",
        );
    }
    data(
        &v.ack("read", json!({ "sessionId": sid, "seq": 2 })).await,
        "visitor read",
    );

    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    assert_eq!(j["sessionId"], sid.as_str(), "top-level sessionId: {j}");
    assert_eq!(j["readSeq"], json!({ "user": 2, "admin": 0 }), "{j}");
    // additive: the earlier fields are still there
    assert_summary(&j["session"], "join_session");
    assert_eq!(seqs(&j["messages"]), vec![1, 2, 3]);
    assert_eq!(j["hasMore"], false);

    data(
        &ad.ack("read", json!({ "sessionId": sid, "seq": 3 })).await,
        "agent read",
    );
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join again",
    );
    assert_eq!(j["readSeq"], json!({ "user": 2, "admin": 3 }), "{j}");
}
both!(join_session_ack_carries_the_session_id_and_read_watermarks);

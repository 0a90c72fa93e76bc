//! Messages between a visitor and the agent who joined its session: each reaches the other
//! side, in `seq` order.

use serde_json::json;

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

async fn a_visitor_message_reaches_the_joined_agent(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;

    let u = data(
        &v1.ack(
            "user_message",
            json!({ "sessionId": s1, "content": "I need a human" }),
        )
        .await,
        "user_message",
    );
    let u_seq = u["seq"].as_i64().expect("seq");
    let got = next_where(ad, "message", "from the visitor", |m| m["seq"] == u_seq).await;
    assert_eq!(got["sender"], "user");
}
both!(a_visitor_message_reaches_the_joined_agent);

async fn an_agent_reply_reaches_the_visitor_after_its_message(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { v1, s1, ad, .. } = &chat;
    let u = data(
        &v1.ack(
            "user_message",
            json!({ "sessionId": s1, "content": "I need a human" }),
        )
        .await,
        "user_message",
    );
    let u_seq = u["seq"].as_i64().expect("seq");

    let m = data(
        &ad.ack(
            "admin_message",
            json!({ "sessionId": s1, "content": "Hi, Ann here" }),
        )
        .await,
        "admin_message",
    );
    let m_seq = m["seq"].as_i64().expect("seq");
    assert!(m_seq > u_seq);
    let got = next_where(v1, "message", "from the agent", |x| x["seq"] == m_seq).await;
    assert_eq!(got["sender"], "admin");
    assert_eq!(got["content"], "Hi, Ann here");
}
both!(an_agent_reply_reaches_the_visitor_after_its_message);

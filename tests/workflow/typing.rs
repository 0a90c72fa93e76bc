//! Typing indicators: relayed to the other side of the session only (never back to the sender,
//! never to another session); the server turns a stale `true` off after `TYPING_TIMEOUT_SECS`
//! (1 s here).

use serde_json::{json, Value};

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

async fn a_visitors_typing_reaches_the_agent_until_the_server_turns_it_off(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat {
        app, v1, s1, ad, ..
    } = &chat;
    // a visitor of another session
    let v2 = app.socket().await;
    app.open_session(&v2).await;

    v1.emit("typing", json!({ "sessionId": s1, "isTyping": true }));
    let t = ad.next("typing").await;
    assert_has(
        &t,
        &json!({ "sessionId": s1, "sender": "user", "isTyping": true }),
        "",
    );
    let t = ad.next("typing").await; // after TYPING_TIMEOUT_SECS = 1
    assert_has(
        &t,
        &json!({ "sessionId": s1, "sender": "user", "isTyping": false }),
        "the server's own isTyping:false",
    );
    none_of(&v2, "typing", "typing leaked to another session").await;
    let own: Vec<Value> = v1
        .drain("typing")
        .into_iter()
        .filter(|t| t["sender"] == "user")
        .collect();
    assert!(
        own.is_empty(),
        "the visitor got its own typing back: {own:?}"
    );
}
both!(a_visitors_typing_reaches_the_agent_until_the_server_turns_it_off);

async fn an_agents_typing_is_acked_and_reaches_the_visitor(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat {
        app, v1, s1, ad, ..
    } = &chat;
    // a visitor of another session
    let v2 = app.socket().await;
    app.open_session(&v2).await;

    let ack = ad
        .ack("typing", json!({ "sessionId": s1, "isTyping": true }))
        .await;
    assert_eq!(ack["ok"], true, "typing ack {ack}");
    let t = v1.next("typing").await;
    assert_has(
        &t,
        &json!({ "sessionId": s1, "sender": "admin", "isTyping": true }),
        "",
    );
    ad.emit("typing", json!({ "sessionId": s1, "isTyping": false }));
    let t = v1.next("typing").await;
    assert_has(
        &t,
        &json!({ "sessionId": s1, "sender": "admin", "isTyping": false }),
        "",
    );
    none_of(ad, "typing", "the agent got its own typing back").await;
    none_of(&v2, "typing", "typing leaked to another session").await;
}
both!(an_agents_typing_is_acked_and_reaches_the_visitor);

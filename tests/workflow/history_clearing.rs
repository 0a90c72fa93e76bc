//! Clearing a conversation: an admin erases it for everyone (socket `clear_history` or REST
//! `DELETE /api/chats/:id`), `seq` keeps counting; a visitor hides it from itself only; agents
//! may not erase (issue 22).

use serde_json::json;

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// The admin (`boss`), agent `a` on "/admin" (`ad`) joined to the session `sid` of visitor `v`.
struct Joined {
    app: TestApp,
    boss: Staff,
    a: Staff,
    ad: SioClient,
    v: SioClient,
    sid: String,
}

async fn joined_session(backend: Backend) -> Joined {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    Joined {
        app,
        boss,
        a,
        ad,
        v,
        sid,
    }
}

/// The visitor writes "secret 1" to "secret 3".
async fn three_secrets(j: &Joined) {
    let Joined { v, sid, .. } = j;
    for i in 1..=3 {
        data(
            &v.ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("secret {i}") }),
            )
            .await,
            "msg",
        );
    }
}

/// The admin clears the conversation over the socket; everyone in it is told.
async fn admin_clears(j: &Joined) -> SioClient {
    let Joined {
        app,
        boss,
        ad,
        v,
        sid,
        ..
    } = j;
    let bs = app.socket_as("/admin", &boss.token).await;
    data(
        &bs.ack("clear_history", json!({ "sessionId": sid })).await,
        "clear_history",
    );
    for s in [v, ad] {
        s.next("history_cleared").await;
    }
    bs
}

/// The visitor writes `content`.
async fn visitor_writes(j: &Joined, content: &str) -> serde_json::Value {
    data(
        &j.v.ack(
            "user_message",
            json!({ "sessionId": j.sid, "content": content }),
        )
        .await,
        content,
    )
}

async fn an_agent_may_not_clear_a_conversation(backend: Backend) {
    let j = joined_session(backend).await;
    three_secrets(&j).await;
    let Joined { app, ad, sid, .. } = &j;
    assert_eq!(app.history(sid).await.len(), 3);

    // an agent may not erase (issue 22: REST DELETE is admin-only, so is the socket's)
    let refused = ad.ack("clear_history", json!({ "sessionId": sid })).await;
    assert_eq!(refused["error"]["code"], "forbidden", "{refused}");
    assert_eq!(app.history(sid).await.len(), 3, "an agent's clear erased");
}
both!(an_agent_may_not_clear_a_conversation);

async fn an_admin_clears_a_conversation_for_everyone(backend: Backend) {
    let j = joined_session(backend).await;
    three_secrets(&j).await;
    let Joined {
        app,
        boss,
        ad,
        v,
        sid,
        ..
    } = &j;

    // an admin over the socket erases for everyone
    let bs = app.socket_as("/admin", &boss.token).await;
    let c = data(
        &bs.ack("clear_history", json!({ "sessionId": sid })).await,
        "clear_history",
    );
    assert_has(&c, &json!({ "sessionId": sid, "cleared": 3 }), "");
    for s in [v, ad] {
        assert_has(
            &s.next("history_cleared").await,
            &json!({ "sessionId": sid }),
            "",
        );
    }
    assert!(app.history(sid).await.is_empty(), "history not erased");
    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid })).await,
        "get_history",
    );
    assert_eq!(h["messages"], json!([]));
}
both!(an_admin_clears_a_conversation_for_everyone);

async fn seq_keeps_counting_after_a_clear(backend: Backend) {
    let j = joined_session(backend).await;
    three_secrets(&j).await;
    let _bs = admin_clears(&j).await;

    // seq keeps counting
    let m = visitor_writes(&j, "after").await;
    assert_eq!(m["seq"], 4);
}
both!(seq_keeps_counting_after_a_clear);

async fn a_visitor_clears_its_own_view_only(backend: Backend) {
    let j = joined_session(backend).await;
    visitor_writes(&j, "after").await;
    let Joined { ad, v, sid, .. } = &j;

    // the visitor may clear its own conversation, for the visitor only (staff keep it)
    let c = data(
        &v.ack("clear_history", json!({ "sessionId": sid })).await,
        "visitor clear_history",
    );
    assert_has(&c, &json!({ "sessionId": sid, "cleared": 1 }), "");
    assert_has(
        &v.next("history_cleared").await,
        &json!({ "sessionId": sid }),
        "",
    );
    none_of(ad, "history_cleared", "a visitor's clear reached the agent").await;
}
both!(a_visitor_clears_its_own_view_only);

async fn rest_delete_is_refused_to_agents_and_anonymous_callers(backend: Backend) {
    let j = joined_session(backend).await;
    visitor_writes(&j, "again").await;
    let Joined { app, a, v, sid, .. } = &j;

    // REST: agents get 403
    let path = format!("/api/chats/{sid}");
    let (st, body) = call(app, reqwest::Method::DELETE, &path, Some(&a.token), None).await;
    assert_eq!(st, 403, "agent DELETE: {body}");
    assert_eq!(body["error"]["code"], "forbidden");
    let (st, _) = call(app, reqwest::Method::DELETE, &path, None, None).await;
    assert_eq!(st, 401, "DELETE without token");
    none_of(v, "history_cleared", "a refused DELETE cleared").await;
    assert_eq!(app.history(sid).await.len(), 1);
}
both!(rest_delete_is_refused_to_agents_and_anonymous_callers);

async fn rest_delete_by_an_admin_erases_everything_even_what_the_visitor_hid(backend: Backend) {
    let j = joined_session(backend).await;
    visitor_writes(&j, "after").await;
    let Joined {
        app,
        boss,
        ad,
        v,
        sid,
        ..
    } = &j;
    data(
        &v.ack("clear_history", json!({ "sessionId": sid })).await,
        "visitor clear_history",
    );
    v.next("history_cleared").await;
    visitor_writes(&j, "again").await;

    // REST: admins clear
    let path = format!("/api/chats/{sid}");
    let (st, body) = call(app, reqwest::Method::DELETE, &path, Some(&boss.token), None).await;
    assert_eq!(st, 200, "{body}");
    // the message the visitor hid is erased too
    assert_has(&body, &json!({ "sessionId": sid, "cleared": 2 }), "");
    for s in [v, ad] {
        assert_has(
            &s.next("history_cleared").await,
            &json!({ "sessionId": sid }),
            "",
        );
    }
    assert!(app.history(sid).await.is_empty());
}
both!(rest_delete_by_an_admin_erases_everything_even_what_the_visitor_hid);

async fn rest_delete_of_an_unknown_session_is_not_found(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let boss = admin(&app).await;

    let (st, body) = call(
        &app,
        reqwest::Method::DELETE,
        &format!("/api/chats/{}", uuid::Uuid::new_v4()),
        Some(&boss.token),
        None,
    )
    .await;
    assert_eq!(st, 404, "{body}");
    assert_eq!(body["error"]["code"], "session_not_found");
}
both!(rest_delete_of_an_unknown_session_is_not_found);

//! Joining a session (by id, by its 6-character code in either case, or by a code given as
//! `sessionId`), leaving it, and paging its history with `get_history`.

use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Agent `a` on "/admin" (`ad`), and a visitor `v` whose session `sid` (code `code`, opened
/// with the `init_session` ack `init`) holds `n` messages "u1" .. "un", seqs 1 .. n.
struct WithHistory {
    /// Keeps the server running.
    _app: TestApp,
    ad: SioClient,
    v: SioClient,
    init: Value,
    sid: String,
    code: String,
}

async fn session_with_messages(backend: Backend, n: i64) -> WithHistory {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let init = open(&v).await;
    let sid = init["sessionId"].as_str().expect("sid").to_string();
    let code = init["code"].as_str().expect("code").to_string();
    for i in 1..=n {
        data(
            &v.ack(
                "user_message",
                json!({ "sessionId": sid, "content": format!("u{i}") }),
            )
            .await,
            "user_message",
        );
    }
    v.drain("message");
    WithHistory {
        _app: app,
        ad,
        v,
        init,
        sid,
        code,
    }
}

/// [`session_with_messages`], joined by the agent.
async fn joined_with_messages(backend: Backend, n: i64) -> WithHistory {
    let h = session_with_messages(backend, n).await;
    data(
        &h.ad
            .ack("join_session", json!({ "sessionId": h.sid }))
            .await,
        "join by id",
    );
    h
}

async fn join_by_code_answers_the_summary_and_the_latest_50_messages(backend: Backend) {
    let h = session_with_messages(backend, 55).await;
    let WithHistory {
        ad,
        init,
        sid,
        code,
        ..
    } = &h;
    assert_eq!(code.chars().count(), 6, "{init}");

    let j = data(
        &ad.ack("join_session", json!({ "code": code.to_lowercase() }))
            .await,
        "join by lowercase code",
    );
    assert_summary(&j["session"], "join_session");
    assert_eq!(j["session"]["sessionId"], sid.as_str());
    assert_eq!(j["session"]["code"], code.as_str());
    assert_eq!(j["session"]["lastSeq"], 55);
    assert_eq!(j["session"]["unread"], 55);
    assert_eq!(j["session"]["visitorOnline"], true);
    assert_eq!(
        seqs(&j["messages"]),
        (6..=55).collect::<Vec<_>>(),
        "latest 50, oldest first"
    );
    assert_eq!(j["hasMore"], true);
}
both!(join_by_code_answers_the_summary_and_the_latest_50_messages);

async fn a_joined_agent_gets_the_sessions_messages_until_it_leaves(backend: Backend) {
    let h = joined_with_messages(backend, 55).await;
    let WithHistory { ad, v, sid, .. } = &h;

    // joined: messages of that session arrive
    data(
        &v.ack(
            "user_message",
            json!({ "sessionId": sid, "content": "live" }),
        )
        .await,
        "live",
    );
    assert_eq!(ad.next("message").await["seq"], 56);
    let l = data(
        &ad.ack("leave_session", json!({ "sessionId": sid })).await,
        "leave",
    );
    assert_has(&l, &json!({ "sessionId": sid }), "");
    data(
        &v.ack(
            "user_message",
            json!({ "sessionId": sid, "content": "after leave" }),
        )
        .await,
        "after leave",
    );
    none_of(ad, "message", "a message after leave_session").await;
}
both!(a_joined_agent_gets_the_sessions_messages_until_it_leaves);

async fn join_by_uppercase_code_or_by_id_finds_the_same_session(backend: Backend) {
    let h = session_with_messages(backend, 57).await;
    let WithHistory { ad, sid, code, .. } = &h;

    let j = data(
        &ad.ack("join_session", json!({ "code": code.to_uppercase() }))
            .await,
        "join by uppercase code",
    );
    assert_eq!(j["session"]["sessionId"], sid.as_str());
    assert_eq!(seqs(&j["messages"]).last(), Some(&57));
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join by id",
    );
    assert_eq!(j["session"]["code"], code.as_str());
}
both!(join_by_uppercase_code_or_by_id_finds_the_same_session);

async fn get_history_answers_the_latest_page_oldest_first(backend: Backend) {
    let h = joined_with_messages(backend, 57).await;
    let WithHistory { ad, v, sid, .. } = &h;

    // get_history: latest first page, then older pages with beforeSeq
    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid })).await,
        "history default",
    );
    assert_eq!(
        seqs(&h["messages"]),
        (8..=57).collect::<Vec<_>>(),
        "default 50, oldest first"
    );
    assert_eq!(h["hasMore"], true);
    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid, "limit": 5 }))
            .await,
        "limit 5",
    );
    assert_eq!(seqs(&h["messages"]), vec![53, 54, 55, 56, 57]);
    assert_eq!(h["hasMore"], true);
    let h = data(
        &ad.ack("get_history", json!({ "sessionId": sid, "limit": 2 }))
            .await,
        "agent history",
    );
    assert_eq!(seqs(&h["messages"]), vec![56, 57]);
}
both!(get_history_answers_the_latest_page_oldest_first);

async fn get_history_pages_back_with_before_seq(backend: Backend) {
    let h = session_with_messages(backend, 57).await;
    let WithHistory { v, sid, .. } = &h;

    let h = data(
        &v.ack(
            "get_history",
            json!({ "sessionId": sid, "beforeSeq": 6, "limit": 10 }),
        )
        .await,
        "beforeSeq 6",
    );
    assert_eq!(seqs(&h["messages"]), vec![1, 2, 3, 4, 5]);
    assert_eq!(h["hasMore"], false);
    let h = data(
        &v.ack(
            "get_history",
            json!({ "sessionId": sid, "beforeSeq": 4, "limit": 2 }),
        )
        .await,
        "beforeSeq 4 limit 2",
    );
    assert_eq!(seqs(&h["messages"]), vec![2, 3]);
    assert_eq!(h["hasMore"], true);
    assert_eq!(h["messages"][0]["content"], "u2");
    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid, "beforeSeq": 1 }))
            .await,
        "beforeSeq 1",
    );
    assert_eq!(seqs(&h["messages"]), Vec::<i64>::new());
    assert_eq!(h["hasMore"], false);
}
both!(get_history_pages_back_with_before_seq);

async fn get_history_caps_the_limit_at_history_limit(backend: Backend) {
    let h = session_with_messages(backend, 57).await;
    let WithHistory { v, sid, .. } = &h;

    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid, "limit": 100000 }))
            .await,
        "huge limit",
    );
    assert_eq!(
        seqs(&h["messages"]),
        (1..=57).collect::<Vec<_>>(),
        "HISTORY_LIMIT is 500"
    );
    assert_eq!(h["hasMore"], false);
}
both!(get_history_caps_the_limit_at_history_limit);

async fn join_session_accepts_a_code_given_as_session_id(backend: Backend) {
    let app = desk(backend, |_| {}).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &a.token).await;
    let v = app.socket().await;
    let init = open(&v).await;
    let sid = init["sessionId"].as_str().expect("sid").to_string();
    let code = init["code"].as_str().expect("code").to_string();

    for given in [code.clone(), code.to_lowercase()] {
        let j = data(
            &ad.ack("join_session", json!({ "sessionId": given })).await,
            &format!("join with code {given} in sessionId"),
        );
        assert_eq!(j["session"]["sessionId"], sid.as_str(), "{j}");
        assert_eq!(j["sessionId"], sid.as_str(), "{j}");
    }
    // joined: the session's messages reach the agent
    data(
        &v.ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
            .await,
        "user_message",
    );
    assert_eq!(ad.next("message").await["content"], "hi");

    let other = if code == "AAAAAA" { "BBBBBB" } else { "AAAAAA" };
    assert_err(
        &ad.ack("join_session", json!({ "sessionId": other })).await,
        "session_not_found",
        "unknown code in sessionId",
    );
    assert_err(
        &ad.ack("join_session", json!({ "sessionId": "not-a-code" }))
            .await,
        "invalid_payload",
        "neither a UUID nor a code",
    );
}
both!(join_session_accepts_a_code_given_as_session_id);

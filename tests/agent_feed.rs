//! What an agent socket in "/admin" hears, counted event by event: each server event reaches
//! it once, however many of its rooms the event is sent to (every agent socket is in the
//! agents' room, and in the room of each session it has open). On SQLite and PostgreSQL.
//!
//! Timing: nothing here asserts a duration. A count ends when no further copy has come for
//! `QUIET`, which is longer than the agents' update window (`AGENT_UPDATE_MS`, 250 ms by
//! default), so a copy held back to be merged would have arrived by then.

mod common;

use std::time::Duration;

use common::{Backend, SioClient, TestApp};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(600);

/// Every `event` the socket receives: the first within the client's wait, then each one
/// that follows within `QUIET` of the one before.
async fn every(s: &SioClient, event: &str) -> Vec<Value> {
    let mut got = vec![s.next(event).await];
    while let Some(v) = s.next_within(event, QUIET).await {
        got.push(v);
    }
    got
}

/// The names in a `presence` event, sorted.
fn names(p: &Value) -> Vec<String> {
    let mut names: Vec<String> = p["agents"]
        .as_array()
        .unwrap_or_else(|| panic!("presence without agents: {p}"))
        .iter()
        .map(|a| a["name"].as_str().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

async fn desk(backend: Backend) -> TestApp {
    common::spawn_app_with(backend, |c| c.rate_limits = "off".into()).await
}

async fn presence_once_per_sign_in(backend: Backend) {
    let app = desk(backend).await;
    let a = app.staff_token("a@desk.test", "agent").await;
    let b = app.staff_token("b@desk.test", "agent").await;

    let first = app.socket_as("/admin", &a).await;
    let heard = every(&first, "presence").await;
    assert_eq!(heard.len(), 1, "the first agent signing in: {heard:?}");
    assert_eq!(names(&heard[0]), ["a@desk.test"]);

    let second = app.socket_as("/admin", &b).await;
    for (who, s) in [
        ("the agent signing in", &second),
        ("the agent already in", &first),
    ] {
        let heard = every(s, "presence").await;
        assert_eq!(heard.len(), 1, "{who} hears the second sign-in: {heard:?}");
        assert_eq!(names(&heard[0]), ["a@desk.test", "b@desk.test"], "{who}");
    }
}
both!(
    every_agent_hears_presence_once_when_an_agent_signs_in,
    presence_once_per_sign_in
);

async fn visitor_presence_once_with_the_session_open(backend: Backend) {
    let app = desk(backend).await;
    let a = app.staff_token("a@desk.test", "agent").await;
    let agent = app.socket_as("/admin", &a).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let online = every(&agent, "visitor_presence").await;
    assert_eq!(online.len(), 1, "the visitor arrives: {online:?}");
    assert_eq!(online[0], json!({ "sessionId": sid, "online": true }));

    // The agent opens the conversation: its socket is now in the session's room too.
    let joined = agent.ack("join_session", json!({ "sessionId": sid })).await;
    assert_eq!(joined["ok"], true, "{joined}");
    drop(visitor);
    let offline = every(&agent, "visitor_presence").await;
    assert_eq!(offline.len(), 1, "the visitor leaves: {offline:?}");
    assert_eq!(offline[0], json!({ "sessionId": sid, "online": false }));

    let back = app.socket().await;
    let ack = back.ack("init_session", json!({ "sessionId": sid })).await;
    assert_eq!(ack["sessionId"], sid.as_str(), "{ack}");
    let online = every(&agent, "visitor_presence").await;
    assert_eq!(online.len(), 1, "the visitor comes back: {online:?}");
    assert_eq!(online[0], json!({ "sessionId": sid, "online": true }));
}
both!(
    an_agent_with_the_session_open_hears_visitor_presence_once,
    visitor_presence_once_with_the_session_open
);

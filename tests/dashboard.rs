//! The reference app's admin dashboard protocol on "/" (issue 16): its staff events are
//! refused without a staff token and leak nothing; with a token in the URL, or in legacy
//! open mode without one, the dashboard's sequence works; across two nodes its pushes come
//! from wherever the visitor is. (The same sequence with the npm socket.io-client runs in
//! e2e/test/dashboard.test.js.)

mod common;

use std::time::Duration;

use common::sio::{ConnectOpts, SioClient, Transport};
use common::{Backend, TestApp};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(800);

/// Waits for a `sessions-list` push in which `pick` finds what it looks for.
async fn list_where(dash: &SioClient, event: &str, pick: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut last = Value::Null;
    while tokio::time::Instant::now() < deadline {
        if let Some(list) = dash.next_within(event, Duration::from_millis(500)).await {
            let items = list.as_array().cloned().unwrap_or_default();
            if pick(&items) {
                return items;
            }
            last = list;
        }
    }
    panic!("no {event} as expected; the last one: {last}");
}

fn find<'a>(list: &'a [Value], sid: &str) -> Option<&'a Value> {
    list.iter().find(|s| s["sessionId"] == sid)
}

/// A dashboard socket on "/" with the token in the URL query (`?token=`), as an operator
/// appends it to the URL the unmodified dashboard connects to.
async fn dashboard_with_query_token(app: &TestApp, token: &str) -> SioClient {
    let opts = ConnectOpts {
        query: vec![("token".into(), token.into())],
        ..Default::default()
    };
    app.socket_with(Transport::WebSocket, opts).await
}

/// Every dashboard event, without a staff token: `unauthorized` (ack, or `error` event),
/// and none of the dashboard's replies, no room joined. A customer's token likewise.
async fn staff_events_need_a_staff_token(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "private words" }),
        )
        .await;
    let customer = app.register("carol@example.com", "carol-password-1").await;
    let strangers = [app.socket().await, app.socket_as("/", &customer).await];
    for s in &strangers {
        for (event, data) in [
            ("admin-connect", json!(null)),
            ("get-sessions", json!(null)),
            ("get-all-sessions", json!(null)),
            ("get-messages", json!({ "sessionId": sid })),
            ("admin-join-session", json!({ "sessionId": sid })),
            ("admin-leave-session", json!({ "sessionId": sid })),
            (
                "toggle-ai-mode",
                json!({ "sessionId": sid, "enabled": false }),
            ),
        ] {
            let r = s.ack(event, data).await;
            assert_eq!(r["ok"], false, "{event}: {r}");
            assert_eq!(r["error"]["code"], "unauthorized", "{event}: {r}");
        }
        // Without an ack: an `error` event.
        s.emit("get-all-sessions", json!(null));
        let e = s.next("error").await;
        assert_eq!(e["code"], "unauthorized");
        assert_eq!(e["event"], "get-all-sessions");
    }
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "more private words" }),
        )
        .await;
    for s in &strangers {
        for event in [
            "sessions-list",
            "all-sessions-list",
            "messages-history",
            "ai-mode-changed",
            "new-message",
        ] {
            assert!(
                s.next_within(event, QUIET).await.is_none(),
                "{event} leaked"
            );
        }
        assert!(
            s.drain("message").is_empty(),
            "a refused admin-join-session still joined the room"
        );
    }
    // Nothing was switched.
    let token = app.admin_token().await;
    let dash = dashboard_with_query_token(&app, &token).await;
    dash.ack("admin-connect", json!(null)).await;
    let list = dash.next("sessions-list").await;
    let me = list
        .as_array()
        .and_then(|l| find(l, &sid).cloned())
        .expect("the visitor's session is active");
    assert_eq!(me["aiMode"], "auto");
}
both!(refused_without_staff_token, staff_events_need_a_staff_token);

/// The dashboard's own sequence with the token in the URL: every field of the summary and
/// of the history, the pushes on start, message and disconnect, live messages while joined
/// and none after leaving.
async fn the_dashboard_sequence_works(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = app.admin_token().await;
    let dash = dashboard_with_query_token(&app, &token).await;
    dash.emit("admin-connect", json!(null));
    assert_eq!(dash.next("sessions-list").await, json!([]));
    dash.emit("get-all-sessions", json!(null));
    assert_eq!(dash.next("all-sessions-list").await, json!([]));

    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let list = list_where(&dash, "sessions-list", |l| find(l, &sid).is_some()).await;
    let s = find(&list, &sid).expect("listed");
    assert_eq!(s["user"], format!("User-{}", &sid[..8]));
    assert_eq!(s["lastMessage"], "No messages yet");
    assert_eq!(s["isActive"], true);
    assert_eq!(s["timestamp"], s["createdAt"]);
    assert!(s["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(s["status"], "open");
    assert_eq!(s["code"].as_str().map(str::len), Some(6));

    dash.emit("admin-join-session", json!({ "sessionId": sid }));
    dash.emit("get-messages", json!({ "sessionId": sid }));
    assert_eq!(dash.next("messages-history").await, json!([]));
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "my order is late" }),
        )
        .await;
    let live = dash.next("message").await;
    assert_eq!(live["content"], "my order is late");
    assert_eq!(live["sender"], "user");
    let pushed = dash.next("new-message").await;
    assert_eq!(pushed["sessionId"], sid.as_str());
    assert_eq!(pushed["message"], live);
    let list = list_where(&dash, "sessions-list", |l| {
        find(l, &sid).is_some_and(|s| s["lastMessage"] == "my order is late")
    })
    .await;
    assert_eq!(
        find(&list, &sid).map(|s| &s["timestamp"]),
        Some(&live["createdAt"])
    );

    // The reply: the dashboard shows it when it comes back through the room.
    dash.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "On its way!" }),
    );
    let back = dash.next("message").await;
    assert_eq!(back["content"], "On its way!");
    assert_eq!(back["sender"], "admin");
    assert_eq!(visitor.next("message").await["content"], "my order is late");
    assert_eq!(visitor.next("message").await["content"], "On its way!");

    dash.emit("get-messages", sid.clone().into());
    let history = dash.next("messages-history").await;
    let items = history.as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 2, "{history}");
    for (item, (content, admin)) in items
        .iter()
        .zip([("my order is late", false), ("On its way!", true)])
    {
        assert_eq!(item["message"], content);
        assert_eq!(item["content"], content);
        assert_eq!(item["isAdmin"], admin);
        assert_eq!(item["sender"], if admin { "admin" } else { "user" });
        assert_eq!(item["isAI"], false);
        assert_eq!(item["timestamp"], item["createdAt"]);
        assert!(item["id"].as_str().is_some());
    }
    assert_eq!(items[0]["seq"], 1);
    assert_eq!(items[1]["seq"], 2);

    // Left: no more of that session's messages.
    dash.emit("admin-leave-session", json!({ "sessionId": sid }));
    dash.ack("get-sessions", json!(null)).await; // the leave is applied before this answer
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "hello?" }),
        )
        .await;
    assert_eq!(
        dash.next("new-message").await["message"]["content"],
        "hello?"
    );
    assert!(
        dash.next_within("message", QUIET).await.is_none(),
        "message after leaving"
    );

    // The visitor goes: the push says so, and the full list marks it inactive.
    visitor.drop_connection();
    list_where(&dash, "sessions-list", |l| find(l, &sid).is_none()).await;
    dash.emit("get-all-sessions", json!(null));
    let all = dash.next("all-sessions-list").await;
    let s = all
        .as_array()
        .and_then(|l| find(l, &sid).cloned())
        .expect("listed");
    assert_eq!(s["isActive"], false);
    assert_eq!(s["lastMessage"], "hello?");
}
both!(dashboard_sequence, the_dashboard_sequence_works);

/// Legacy open mode: the unmodified dashboard, with no token at all.
async fn legacy_mode_needs_no_token(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.insecure_open_admin = true).await;
    let dash = app.socket().await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let r = dash.ack("admin-connect", json!(null)).await;
    assert_eq!(r["ok"], true, "{r}");
    let list = dash.next("sessions-list").await;
    assert!(
        list.as_array().is_some_and(|l| find(l, &sid).is_some()),
        "{list}"
    );
    dash.ack("admin-join-session", json!({ "sessionId": sid }))
        .await;
    dash.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "hi from legacy" }),
    );
    assert_eq!(dash.next("message").await["content"], "hi from legacy");
    assert_eq!(visitor.next("message").await["content"], "hi from legacy");
}
both!(legacy_mode, legacy_mode_needs_no_token);

/// Two nodes: the dashboard on A, the visitor on B. The list pushes, `new-message` and the
/// live messages come across; so does the AI switch flipped on B.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashboard_sees_visitors_of_another_node() {
    let (a, b) = common::two_nodes(|_| {}).await;
    let token = a.admin_token().await;
    let dash = dashboard_with_query_token(&a, &token).await;
    dash.ack("admin-connect", json!(null)).await;
    assert_eq!(dash.next("sessions-list").await, json!([]));

    let visitor = b.socket().await;
    let sid = b.open_session(&visitor).await;
    let list = list_where(&dash, "sessions-list", |l| find(l, &sid).is_some()).await;
    assert_eq!(
        find(&list, &sid).map(|s| &s["isActive"]),
        Some(&json!(true))
    );

    dash.ack("admin-join-session", json!({ "sessionId": sid }))
        .await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "from node B" }),
        )
        .await;
    assert_eq!(dash.next("message").await["content"], "from node B");
    assert_eq!(dash.next("new-message").await["sessionId"], sid.as_str());
    list_where(&dash, "sessions-list", |l| {
        find(l, &sid).is_some_and(|s| s["lastMessage"] == "from node B")
    })
    .await;

    let other = dashboard_with_query_token(&b, &token).await;
    other.ack("admin-connect", json!(null)).await;
    let r = other
        .ack(
            "toggle-ai-mode",
            json!({ "sessionId": sid, "enabled": false }),
        )
        .await;
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(
        dash.next("ai-mode-changed").await,
        json!({ "sessionId": sid, "enabled": false, "mode": "off" })
    );
    dash.emit(
        "admin_message",
        json!({ "sessionId": sid, "content": "from node A" }),
    );
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(visitor.next("message").await["content"].clone());
    }
    assert_eq!(got, [json!("from node B"), json!("from node A")]);

    visitor.drop_connection();
    list_where(&dash, "sessions-list", |l| find(l, &sid).is_none()).await;
}

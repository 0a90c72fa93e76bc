//! Abuse and reliability (issue 22, round two, points 4, 5, 8, 9 and 11): who may read a
//! conversation over REST, responses that stay small whatever a session holds, queue
//! announcements that do not grow with the queue, who may erase history and for whom, and
//! how many sessions one client may create.

mod common;

use common::{Backend, SioClient, TestApp};
use serde_json::{json, Value};

/// A successful wrapped ack's data.
#[track_caller]
fn data(ack: &Value, what: &str) -> Value {
    assert_eq!(ack["ok"], true, "{what}: expected ok:true, got {ack}");
    ack["data"].clone()
}

/// A failed wrapped ack's error code.
#[track_caller]
fn code(ack: &Value, what: &str) -> String {
    assert_eq!(ack["ok"], false, "{what}: expected ok:false, got {ack}");
    ack["error"]["code"].as_str().unwrap_or("").to_string()
}

/// GET with an optional bearer token: (status, headers, JSON body).
async fn get(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = app.http.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.expect("GET");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

/// Sends `n` visitor messages of `content` (pipelined) and waits until all are stored.
async fn fill(s: &SioClient, sid: &str, n: usize, content: &str) {
    let sends = (0..n).map(|_| {
        s.ack(
            "user_message",
            json!({ "sessionId": sid, "content": content }),
        )
    });
    for ack in futures::future::join_all(sends).await {
        data(&ack, "user_message");
    }
}

fn seqs(messages: &Value) -> Vec<i64> {
    messages
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["seq"].as_i64()).collect())
        .unwrap_or_default()
}

fn quiet(c: &mut chatdesk::Config) {
    c.rate_limits = "off".into();
    c.auto_assign = false;
}

// --- 4. REST reads follow the same ownership rule as the socket ----------------------------

async fn a_customers_conversation_needs_their_token_or_a_staff_token(backend: Backend) {
    let app = common::spawn_app_with(backend, quiet).await;
    let alice = app.register("alice@example.com", "password123").await;
    let mallory = app.register("mallory@example.com", "password123").await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let s = app.socket_as("/", &alice).await;
    let sid = app.open_session(&s).await;
    fill(&s, &sid, 1, "my order number is 1234").await;
    let path = format!("/api/chats/{sid}");

    for (who, token) in [("no token", None), ("another customer", Some(&mallory))] {
        let (st, _, body) = get(&app, &path, token.map(String::as_str)).await;
        assert_eq!(st, 403, "{who}: {body}");
        assert_eq!(body["error"]["code"], "forbidden", "{who}");
    }
    for (who, token) in [("the owner", &alice), ("an agent", &agent)] {
        let (st, _, body) = get(&app, &path, Some(token)).await;
        assert_eq!(st, 200, "{who}: {body}");
        assert_eq!(seqs(&body), vec![1], "{who}");
    }

    // An anonymous session stays readable by its id: the id is the visitor's capability.
    let v = app.socket().await;
    let anon = app.open_session(&v).await;
    fill(&v, &anon, 1, "hello").await;
    let (st, _, body) = get(&app, &format!("/api/chats/{anon}"), None).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(seqs(&body), vec![1]);
}
both!(
    rest_reads_follow_ownership,
    a_customers_conversation_needs_their_token_or_a_staff_token
);

// --- 5. Bounded responses ----------------------------------------------------------------

async fn an_unpaged_read_returns_the_first_page_and_where_to_continue(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        quiet(c);
        c.history_limit = 20;
    })
    .await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    fill(&v, &sid, 30, "short").await;

    let (st, headers, body) = get(&app, &format!("/api/chats/{sid}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(seqs(&body), (1..=20).collect::<Vec<_>>(), "oldest first");
    assert_eq!(headers["x-next-after"], "20");

    // A browser console on another origin may read the paging header.
    let r = app
        .http
        .get(format!("{}/api/chats/{sid}", app.url))
        .header("origin", "https://console.example")
        .send()
        .await
        .expect("GET");
    let exposed = r
        .headers()
        .get("access-control-expose-headers")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-next-after"), "exposed: {exposed:?}");

    let (_, headers, body) = get(&app, &format!("/api/chats/{sid}?afterSeq=20"), None).await;
    assert_eq!(seqs(&body), (21..=30).collect::<Vec<_>>());
    assert!(headers.get("x-next-after").is_none(), "the last page");
}
both!(
    unpaged_reads_are_paged,
    an_unpaged_read_returns_the_first_page_and_where_to_continue
);

async fn a_read_stops_at_the_byte_budget_and_continues_after_it(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        quiet(c);
        c.response_max_bytes = 64 * 1024;
    })
    .await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    let long = "x".repeat(9_000);
    fill(&v, &sid, 30, &long).await; // about 270 KB of content

    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..30 {
        let r = app.get(&format!("/api/chats/{sid}?afterSeq={after}")).await;
        let next = r
            .headers()
            .get("x-next-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok());
        let bytes = r.bytes().await.expect("body");
        assert!(bytes.len() <= 80 * 1024, "a page of {} bytes", bytes.len());
        let page: Value = serde_json::from_slice(&bytes).expect("json");
        let got = seqs(&page);
        assert!(!got.is_empty(), "an empty page with more to come");
        all.extend(got);
        match next {
            Some(n) => {
                assert_eq!(Some(&n), all.last(), "X-Next-After is the page's last seq");
                after = n;
            }
            None => break,
        }
    }
    assert_eq!(
        all,
        (1..=30).collect::<Vec<_>>(),
        "every message once, in order"
    );

    // The socket's history answers have the same budget: resume and get_history.
    let tab = app.socket().await;
    let ack = tab
        .ack("init_session", json!({ "sessionId": sid, "lastSeq": 0 }))
        .await;
    let resumed = seqs(&ack["messages"]);
    assert!(!resumed.is_empty() && resumed.len() < 30, "{resumed:?}");
    assert_eq!(resumed[0], 1, "resume starts after lastSeq");
    assert_eq!(ack["hasMore"], true);
    let h = data(
        &tab.ack("get_history", json!({ "sessionId": sid, "limit": 100 }))
            .await,
        "get_history",
    );
    let page = seqs(&h["messages"]);
    assert!(!page.is_empty() && page.len() < 30, "{page:?}");
    assert_eq!(page.last(), Some(&30), "the latest page");
    assert_eq!(h["hasMore"], true);
}
both!(
    reads_have_a_byte_budget,
    a_read_stops_at_the_byte_budget_and_continues_after_it
);

async fn the_session_list_stops_at_the_byte_budget(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        quiet(c);
        c.response_max_bytes = 64 * 1024;
    })
    .await;
    let admin = app.admin_token().await;
    let long = "y".repeat(9_000);
    let mut sids = Vec::new();
    for _ in 0..3 {
        let v = app.socket().await;
        let sid = app.open_session(&v).await;
        fill(&v, &sid, 5, &long).await; // 45 KB each
        sids.push(sid);
    }

    let mut seen = Vec::new();
    let mut path = "/api/chats".to_string();
    for _ in 0..5 {
        let r = app
            .http
            .get(format!("{}{path}", app.url))
            .bearer_auth(&admin)
            .send()
            .await
            .expect("GET");
        let next = r
            .headers()
            .get("x-next-before")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let bytes = r.bytes().await.expect("body");
        assert!(bytes.len() <= 80 * 1024, "a page of {} bytes", bytes.len());
        let page: Value = serde_json::from_slice(&bytes).expect("json");
        let page = page.as_array().cloned().unwrap_or_default();
        assert!(!page.is_empty(), "an empty page with more to come");
        seen.extend(
            page.iter()
                .filter_map(|c| c["sessionId"].as_str().map(String::from)),
        );
        match next {
            Some(n) => path = format!("/api/chats?before={n}"),
            None => break,
        }
    }
    sids.reverse(); // newest first
    assert_eq!(seen, sids, "every session once, newest first");
}
both!(
    session_lists_have_a_byte_budget,
    the_session_list_stops_at_the_byte_budget
);

// --- 8. Queue announcements only for the positions that changed ----------------------------

async fn only_changed_queue_positions_are_announced(backend: Backend) {
    let app = common::spawn_app_with(backend, quiet).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &agent).await;
    // One socket in sessions A and D: its events arrive in the order they were sent.
    let x = app.socket().await;
    let a = app.open_session(&x).await;
    data(
        &x.ack("request_human", json!({ "sessionId": a })).await,
        "A waits",
    );
    let first = x.next("queue_position").await;
    assert_eq!(first, json!({ "sessionId": a, "position": 1 }));

    let mut others = Vec::new();
    for _ in 0..2 {
        let y = app.socket().await;
        let sid = app.open_session(&y).await;
        data(
            &y.ack("request_human", json!({ "sessionId": sid })).await,
            "B/C wait",
        );
        others.push((y, sid));
    }
    // D joins the end (a second conversation of x: it needs a message to be a new one).
    fill(&x, &a, 1, "first conversation").await;
    let d = x.ack("init_session", json!({ "sessionId": null })).await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    assert_ne!(d, a);
    let w = data(
        &x.ack("request_human", json!({ "sessionId": d })).await,
        "D waits",
    );
    assert_eq!(w["position"], 4);

    // B leaves the queue: C and D move up, A does not.
    data(
        &ad.ack("claim_session", json!({ "sessionId": others[0].1 }))
            .await,
        "claim B",
    );
    let mut got = Vec::new();
    loop {
        let p = x.next("queue_position").await;
        let done = p == json!({ "sessionId": d, "position": 3 });
        got.push(p);
        if done {
            break;
        }
    }
    assert!(
        got.iter().all(|p| p["sessionId"] == d),
        "A's position did not change, yet it was announced: {got:?}"
    );
}
both!(
    queue_positions_only_when_changed,
    only_changed_queue_positions_are_announced
);

// --- 9. Erasing history -----------------------------------------------------------------------

async fn an_agent_may_not_erase_history(backend: Backend) {
    let app = common::spawn_app_with(backend, quiet).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &agent).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    fill(&v, &sid, 2, "keep me").await;
    data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    let ack = ad.ack("clear_history", json!({ "sessionId": sid })).await;
    assert_eq!(code(&ack, "agent clear_history"), "forbidden");
    assert_eq!(app.history(&sid).await.len(), 2, "nothing erased");

    // An admin erases for everyone.
    let admin = app.admin_token().await;
    let boss = app.socket_as("/admin", &admin).await;
    let c = data(
        &boss.ack("clear_history", json!({ "sessionId": sid })).await,
        "admin clear_history",
    );
    assert_eq!(c["cleared"], 2);
    assert_eq!(
        ad.next("history_cleared").await["sessionId"],
        json!(sid),
        "staff hear an admin's erase"
    );
    let (_, _, body) = get(&app, &format!("/api/chats/{sid}"), Some(&admin)).await;
    assert_eq!(body, json!([]));
}
both!(agents_may_not_erase, an_agent_may_not_erase_history);

async fn a_visitors_clear_hides_history_from_the_visitor_only(backend: Backend) {
    let app = common::spawn_app_with(backend, quiet).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let ad = app.socket_as("/admin", &agent).await;
    let v = app.socket().await;
    let sid = app.open_session(&v).await;
    data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    fill(&v, &sid, 2, "before the clear").await;

    let c = data(
        &v.ack("clear_history", json!({ "sessionId": sid })).await,
        "visitor clear_history",
    );
    assert_eq!(c["sessionId"], json!(sid));
    assert_eq!(v.next("history_cleared").await["sessionId"], json!(sid));
    fill(&v, &sid, 1, "after the clear").await;
    // The agent hears the message sent after the clear, and never heard the clear itself.
    loop {
        if ad.next("message").await["seq"] == 3 {
            break;
        }
    }
    assert!(
        ad.drain("history_cleared").is_empty(),
        "the visitor's clear reached the staff"
    );

    // The visitor's views start after the clear point.
    let h = data(
        &v.ack("get_history", json!({ "sessionId": sid })).await,
        "visitor get_history",
    );
    assert_eq!(seqs(&h["messages"]), vec![3]);
    let tab = app.socket().await;
    let ack = tab
        .ack("init_session", json!({ "sessionId": sid, "lastSeq": 0 }))
        .await;
    assert_eq!(seqs(&ack["messages"]), vec![3], "{ack}");
    let (_, _, body) = get(&app, &format!("/api/chats/{sid}"), None).await;
    assert_eq!(seqs(&body), vec![3], "the visitor's REST read");

    // Staff still see everything.
    let (_, _, body) = get(&app, &format!("/api/chats/{sid}"), Some(&agent)).await;
    assert_eq!(seqs(&body), vec![1, 2, 3], "staff REST read");
    let h = data(
        &ad.ack("get_history", json!({ "sessionId": sid })).await,
        "agent get_history",
    );
    assert_eq!(seqs(&h["messages"]), vec![1, 2, 3]);
    let j = data(
        &ad.ack("join_session", json!({ "sessionId": sid })).await,
        "join again",
    );
    assert_eq!(seqs(&j["messages"]), vec![1, 2, 3]);
}
both!(
    visitor_clears_are_for_the_visitor,
    a_visitors_clear_hides_history_from_the_visitor_only
);

// --- 11. Session creation caps ---------------------------------------------------------------

async fn a_socket_gets_its_own_empty_session_back(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let v = app.socket().await;
    let first = app.open_session(&v).await;
    let again = app.open_session(&v).await;
    assert_eq!(again, first, "an empty session is reused");
    fill(&v, &first, 1, "now it has a message").await;
    let next = app.open_session(&v).await;
    assert_ne!(next, first, "a session with messages is not reused");
    // Another socket gets its own.
    let w = app.socket().await;
    assert_ne!(app.open_session(&w).await, next);
}
both!(
    empty_sessions_are_reused,
    a_socket_gets_its_own_empty_session_back
);

/// Opens a new session on `s` (after giving the last one a message, so it is not reused);
/// returns the ack.
async fn another_session(s: &SioClient, last: Option<&str>) -> Value {
    if let Some(sid) = last {
        fill(s, sid, 1, "hi").await;
    }
    s.ack("init_session", json!({ "sessionId": null })).await
}

async fn new_sessions_are_capped_per_socket(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.sessions_per_socket = 3;
        c.sessions_per_ip_per_min = 1000;
    })
    .await;
    let v = app.socket().await;
    let mut last: Option<String> = None;
    for _ in 0..3 {
        let ack = another_session(&v, last.as_deref()).await;
        last = Some(ack["sessionId"].as_str().expect("created").to_string());
    }
    let ack = another_session(&v, last.as_deref()).await;
    assert_eq!(code(&ack, "fourth session"), "rate_limited");
    assert!(ack["error"]["retryAfterMs"].as_u64().is_some(), "{ack}");
    // Resuming an existing session is not creating one.
    let ack = v.ack("init_session", json!({ "sessionId": last })).await;
    assert_eq!(ack["sessionId"], json!(last));
}
both!(
    sessions_capped_per_socket,
    new_sessions_are_capped_per_socket
);

async fn new_sessions_are_capped_per_ip(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.sessions_per_ip_per_min = 3).await;
    for i in 0..3 {
        let v = app.socket().await;
        let ack = v.ack("init_session", json!({})).await;
        assert!(ack["sessionId"].is_string(), "session {i}: {ack}");
    }
    let v = app.socket().await;
    let ack = v.ack("init_session", json!({})).await;
    assert_eq!(code(&ack, "fourth session from one IP"), "rate_limited");
    assert!(ack["error"]["retryAfterMs"].as_u64().is_some(), "{ack}");
}
both!(sessions_capped_per_ip, new_sessions_are_capped_per_ip);

async fn rate_limits_off_lifts_the_session_caps(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.rate_limits = "off".into();
        c.sessions_per_ip_per_min = 1;
        c.sessions_per_socket = 1;
    })
    .await;
    let v = app.socket().await;
    let mut last: Option<String> = None;
    for i in 0..3 {
        let ack = another_session(&v, last.as_deref()).await;
        assert!(ack["sessionId"].is_string(), "session {i}: {ack}");
        last = ack["sessionId"].as_str().map(String::from);
    }
}
both!(session_caps_off, rate_limits_off_lifts_the_session_caps);

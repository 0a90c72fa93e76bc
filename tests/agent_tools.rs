//! Agent tools (issue 20, part): labels admins define and agents put on sessions, and
//! canned responses (shared and personal), with their permissions, on both databases.

mod common;

use common::{Backend, TestApp};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut rb = app.http.request(m, format!("{}{path}", app.url));
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn names(list: &Value, field: &str) -> Vec<String> {
    list.as_array()
        .expect("an array")
        .iter()
        .filter_map(|v| v[field].as_str().map(String::from))
        .collect()
}

// --- labels ---------------------------------------------------------------------------

async fn labels_are_defined_by_admins_and_read_by_staff(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let customer = app.register("cu@example.com", "customer-password").await;

    let (s, v) = call(
        &app,
        Method::POST,
        "/api/labels",
        Some(&admin),
        Some(json!({"name": " Billing ", "color": "#FF8800"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["name"].clone(), v["color"].clone()),
        (json!("Billing"), json!("#ff8800"))
    );
    let billing = v["id"].as_str().expect("id").to_string();
    // the default colour, and names unique whatever their case
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/labels",
        Some(&admin),
        Some(json!({"name": "VIP"})),
    )
    .await;
    assert_eq!((s, v["color"].clone()), (201, json!("#6b7280")), "{v}");
    let (s, v) = call(
        &app,
        Method::POST,
        "/api/labels",
        Some(&admin),
        Some(json!({"name": "billing"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (409, json!("conflict")),
        "{v}"
    );
    for bad in [
        json!({"name": "x", "color": "red"}),
        json!({"name": "  "}),
        json!({"name": 5}),
        json!({"name": "a".repeat(51)}),
    ] {
        let (s, v) = call(
            &app,
            Method::POST,
            "/api/labels",
            Some(&admin),
            Some(bad.clone()),
        )
        .await;
        assert_eq!(
            (s, v["error"]["code"].clone()),
            (400, json!("invalid_payload")),
            "{bad} -> {v}"
        );
    }
    // agents read, never write; customers and strangers neither
    let (s, v) = call(&app, Method::GET, "/api/labels", Some(&agent), None).await;
    assert_eq!(
        (s, names(&v, "name")),
        (200, vec!["Billing".to_string(), "VIP".to_string()])
    );
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/labels",
        Some(&agent),
        Some(json!({"name": "Mine"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/labels/{billing}"),
        Some(&agent),
        Some(json!({"color": "#000000"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(&app, Method::GET, "/api/labels", Some(&customer), None).await;
    assert_eq!(s, 403);
    let (s, _) = call(&app, Method::GET, "/api/labels", None, None).await;
    assert_eq!(s, 401);
    // rename; renaming onto another's name is a conflict
    let (s, v) = call(
        &app,
        Method::PATCH,
        &format!("/api/labels/{billing}"),
        Some(&admin),
        Some(json!({"name": "Invoices"})),
    )
    .await;
    assert_eq!((s, v["name"].clone()), (200, json!("Invoices")), "{v}");
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("/api/labels/{billing}"),
        Some(&admin),
        Some(json!({"name": "vip"})),
    )
    .await;
    assert_eq!(s, 409);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/labels/{billing}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/labels/{billing}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (_, v) = call(&app, Method::GET, "/api/labels", Some(&agent), None).await;
    assert_eq!(names(&v, "name"), ["VIP"]);
}
both!(label_admin, labels_are_defined_by_admins_and_read_by_staff);

async fn agents_label_sessions_and_filter_by_label(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    for name in ["Billing", "VIP"] {
        let (s, _) = call(
            &app,
            Method::POST,
            "/api/labels",
            Some(&admin),
            Some(json!({"name": name})),
        )
        .await;
        assert_eq!(s, 201);
    }
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let console = app.socket_as("/admin", &agent).await;
    let watcher = app.socket_as("/admin", &admin).await;
    let visitor = app.socket().await;
    let first = app.open_session(&visitor).await;
    let other_visitor = app.socket().await;
    let second = app.open_session(&other_visitor).await;
    let third_visitor = app.socket().await;
    let _third = app.open_session(&third_visitor).await;

    // over socket.io: the ack is the summary, the other agents hear it, the visitor does not
    let ack = console
        .ack(
            "set_labels",
            json!({"sessionId": first, "labels": ["billing"]}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(ack["data"]["labels"], json!(["Billing"]), "{ack}");
    assert_eq!(ack["data"]["sessionId"], first.as_str());
    let heard = loop {
        let u = watcher.next("session_updated").await;
        if u.get("labels").is_some() {
            break u;
        }
    };
    assert_eq!(
        (heard["sessionId"].clone(), heard["labels"].clone()),
        (json!(first), json!(["Billing"]))
    );
    assert!(visitor
        .next_within("session_updated", QUIET)
        .await
        .is_none());

    // over REST
    let (s, v) = call(
        &app,
        Method::PUT,
        &format!("/api/chats/{second}/labels"),
        Some(&agent),
        Some(json!({"labels": ["VIP", "Billing", "vip"]})),
    )
    .await;
    assert_eq!(
        (s, v["labels"].clone()),
        (200, json!(["Billing", "VIP"])),
        "{v}"
    );

    // an unknown label changes nothing
    let refused = console
        .ack(
            "set_labels",
            json!({"sessionId": first, "labels": ["Billing", "Nope"]}),
        )
        .await;
    assert_eq!(refused["error"]["code"], "invalid_payload", "{refused}");
    let (s, v) = call(
        &app,
        Method::PUT,
        &format!("/api/chats/{first}/labels"),
        Some(&agent),
        Some(json!({"labels": "Billing"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (400, json!("invalid_payload")),
        "{v}"
    );

    // filtering: socket list_sessions and GET /api/chats, any case
    let page = console.ack("list_sessions", json!({"label": "vip"})).await;
    assert_eq!(
        names(&page["data"]["sessions"], "sessionId"),
        [second.as_str()],
        "{page}"
    );
    let page = console
        .ack("list_sessions", json!({"label": "BILLING"}))
        .await;
    let mut got = names(&page["data"]["sessions"], "sessionId");
    got.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(got, want);
    let page = console.ack("list_sessions", json!({})).await;
    assert_eq!(page["data"]["sessions"].as_array().map(Vec::len), Some(3));
    let (s, v) = call(
        &app,
        Method::GET,
        "/api/chats?label=VIP",
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(
        (s, names(&v, "sessionId")),
        (200, vec![second.clone()]),
        "{v}"
    );
    assert_eq!(v[0]["labels"], json!(["Billing", "VIP"]));

    // not for customers or visitors
    let customer = app.register("cu@example.com", "customer-password").await;
    let (s, _) = call(
        &app,
        Method::PUT,
        &format!("/api/chats/{first}/labels"),
        Some(&customer),
        Some(json!({"labels": []})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        Method::PUT,
        &format!("/api/chats/{first}/labels"),
        None,
        Some(json!({"labels": []})),
    )
    .await;
    assert_eq!(s, 401);
    let denied = visitor
        .ack("set_labels", json!({"sessionId": first, "labels": []}))
        .await;
    assert_eq!(denied["error"]["code"], "unauthorized", "{denied}");

    // clearing
    let ack = console
        .ack("set_labels", json!({"sessionId": second, "labels": []}))
        .await;
    assert_eq!(ack["data"]["labels"], json!([]));
    let page = console.ack("list_sessions", json!({"label": "vip"})).await;
    assert_eq!(page["data"]["sessions"].as_array().map(Vec::len), Some(0));
}
both!(label_sessions, agents_label_sessions_and_filter_by_label);

// --- canned responses -----------------------------------------------------------------

async fn canned_responses_shared_and_personal(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let ann = app.staff_token("ann@desk.test", "agent").await;
    let ben = app.staff_token("ben@desk.test", "agent").await;
    let customer = app.register("cu@example.com", "customer-password").await;
    let path = "/api/canned-responses";

    // personal, by an agent (the slash and case are not part of the code)
    let (s, v) = call(
        &app,
        Method::POST,
        path,
        Some(&ann),
        Some(json!({"shortCode": "/Hello", "content": "Hi {{visitor}}, {{agent}} here."})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["shortCode"].clone(), v["shared"].clone()),
        (json!("hello"), json!(false))
    );
    let anns = v["id"].as_str().expect("id").to_string();
    // shared: admins only
    let (s, v) = call(
        &app,
        Method::POST,
        path,
        Some(&ann),
        Some(json!({"shortCode": "refund", "content": "x", "shared": true})),
    )
    .await;
    assert_eq!((s, v["error"]["code"].clone()), (403, json!("forbidden")));
    let (s, v) = call(
        &app,
        Method::POST,
        path,
        Some(&admin),
        Some(json!({"shortCode": "refund", "content": "Refunds take 5 days.", "shared": true})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let shared = v["id"].as_str().expect("id").to_string();
    // a personal code may shadow a shared one; twice in one scope is a conflict
    let (s, _) = call(
        &app,
        Method::POST,
        path,
        Some(&ben),
        Some(json!({"shortCode": "refund", "content": "Ben's refund text"})),
    )
    .await;
    assert_eq!(s, 201);
    let (s, v) = call(
        &app,
        Method::POST,
        path,
        Some(&ann),
        Some(json!({"shortCode": "HELLO", "content": "again"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (409, json!("conflict")),
        "{v}"
    );
    for bad in [
        json!({"shortCode": "two words", "content": "x"}),
        json!({"shortCode": "ok", "content": "  "}),
        json!({"shortCode": "ok"}),
        json!({"shortCode": "ok", "content": "x".repeat(10_001)}),
        json!({"shortCode": "ok", "content": "x", "shared": "yes"}),
    ] {
        let (s, v) = call(&app, Method::POST, path, Some(&ann), Some(bad.clone())).await;
        assert!(s == 400, "{bad} -> {s} {v}");
        assert!(
            ["invalid_payload", "content_too_long"]
                .contains(&v["error"]["code"].as_str().unwrap_or("")),
            "{v}"
        );
    }

    // each agent sees the shared ones and their own, by code, personal first
    let (_, v) = call(&app, Method::GET, path, Some(&ann), None).await;
    assert_eq!(names(&v, "shortCode"), ["hello", "refund"]);
    let (_, v) = call(&app, Method::GET, path, Some(&ben), None).await;
    assert_eq!(
        names(&v, "content"),
        ["Ben's refund text", "Refunds take 5 days."]
    );
    let (_, v) = call(
        &app,
        Method::GET,
        &format!("{path}?q=/ref"),
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(names(&v, "shortCode"), ["refund"]);

    // someone else's personal response does not exist for them; shared ones are the admins'
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("{path}/{anns}"),
        Some(&ben),
        Some(json!({"content": "mine now"})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("{path}/{anns}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("{path}/{shared}"),
        Some(&ann),
        Some(json!({"content": "changed"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &app,
        Method::PATCH,
        &format!("{path}/{anns}"),
        Some(&ann),
        Some(json!({"shared": true})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, v) = call(
        &app,
        Method::PATCH,
        &format!("{path}/{shared}"),
        Some(&admin),
        Some(json!({"content": "Refunds take 3 days."})),
    )
    .await;
    assert_eq!(
        (s, v["content"].clone()),
        (200, json!("Refunds take 3 days."))
    );
    let (s, v) = call(
        &app,
        Method::PATCH,
        &format!("{path}/{anns}"),
        Some(&ann),
        Some(json!({"shortCode": "hi"})),
    )
    .await;
    assert_eq!((s, v["shortCode"].clone()), (200, json!("hi")));

    // not for customers or strangers
    let (s, _) = call(&app, Method::GET, path, Some(&customer), None).await;
    assert_eq!(s, 403);
    let (s, _) = call(&app, Method::GET, path, None, None).await;
    assert_eq!(s, 401);

    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("{path}/{anns}"),
        Some(&ann),
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (_, v) = call(&app, Method::GET, path, Some(&ann), None).await;
    assert_eq!(names(&v, "shortCode"), ["refund"]);
}
both!(canned, canned_responses_shared_and_personal);

// --- private notes --------------------------------------------------------------------

/// Every frame a plain-WebSocket client gets within `QUIET`.
async fn drain(ws: &mut common::ws::Ws) -> Vec<Value> {
    let mut got = Vec::new();
    let until = tokio::time::Instant::now() + QUIET;
    while let Some(v) = ws.read(until).await {
        got.push(v);
    }
    got
}

async fn private_notes_reach_staff_only(backend: Backend) {
    // anonymous /ws visitors, so that the /ws client joins the widget's own session
    let app = common::spawn_app_with(backend, |c| c.ws_allow_anonymous = true).await;
    const NOTE: &str = "SECRET-NOTE: refund approved up to 50";
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let sent = visitor
        .ack(
            "user_message",
            json!({"sessionId": sid, "content": "hello"}),
        )
        .await;
    assert_eq!(sent["data"]["seq"], 1, "{sent}");
    assert_eq!(visitor.next("message").await["seq"], 1); // its own, echoed
    let mut ws =
        common::ws::Ws::connect(&format!("ws://127.0.0.1:{}/ws?sessionId={sid}", app.port)).await;
    ws.next("history").await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let console = app.socket_as("/admin", &agent).await;
    let colleague = app.socket_as("/admin", &app.admin_token().await).await;
    for c in [&console, &colleague] {
        let joined = c.ack("join_session", json!({"sessionId": sid})).await;
        assert_eq!(joined["ok"], true, "{joined}");
    }

    // the note is stored with its seq and goes to the staff in the session
    let ack = console
        .ack(
            "admin_message",
            json!({"sessionId": sid, "content": NOTE, "private": true, "clientMsgId": "note-1"}),
        )
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
    assert_eq!(
        (ack["data"]["private"].clone(), ack["data"]["seq"].clone()),
        (json!(true), json!(2)),
        "{ack}"
    );
    let heard = colleague.next("message").await;
    assert_eq!(
        (heard["content"].clone(), heard["private"].clone()),
        (json!(NOTE), json!(true))
    );
    // ...and nowhere on the visitor's side
    assert!(
        visitor.next_within("message", QUIET).await.is_none(),
        "the widget got the note"
    );
    let frames = drain(&mut ws).await;
    assert!(
        !frames.iter().any(|f| f.to_string().contains("SECRET")),
        "/ws got the note: {frames:?}"
    );

    // a visitor cannot write one, nor fish one out by its clientMsgId
    let refused = visitor
        .ack(
            "user_message",
            json!({"sessionId": sid, "content": "x", "private": true}),
        )
        .await;
    assert_eq!(refused["error"]["code"], "invalid_payload", "{refused}");
    let fished = visitor
        .ack(
            "user_message",
            json!({"sessionId": sid, "content": "x", "clientMsgId": "note-1"}),
        )
        .await;
    assert!(!fished.to_string().contains("SECRET"), "{fished}");
    assert_eq!(fished["error"]["code"], "conflict", "{fished}");

    // the visitor's next message comes after it; ordinary messages say private: false
    let after = visitor
        .ack(
            "user_message",
            json!({"sessionId": sid, "content": "after"}),
        )
        .await;
    assert_eq!(
        (
            after["data"]["seq"].clone(),
            after["data"]["private"].clone()
        ),
        (json!(3), json!(false)),
        "{after}"
    );
    assert_eq!(visitor.next("message").await["seq"], 3); // its own, echoed

    // reading back: the visitor's REST and resume leave it out, staff see it
    let public: Vec<Value> = app
        .get_json(&format!("/api/chats/{sid}"))
        .await
        .as_array()
        .cloned()
        .expect("array");
    let said: Vec<&str> = public
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(said, ["hello", "after"]);
    let staff = app.history_as(&sid, &agent).await;
    let said: Vec<(i64, bool)> = staff
        .iter()
        .map(|m| {
            (
                m["seq"].as_i64().unwrap_or(0),
                m["private"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    assert_eq!(said, [(1, false), (2, true), (3, false)]);
    let again = app.socket().await;
    let resumed = again
        .ack("init_session", json!({"sessionId": sid, "lastSeq": 0}))
        .await;
    assert!(!resumed.to_string().contains("SECRET"), "{resumed}");
    assert_eq!(
        resumed["messages"].as_array().map(Vec::len),
        Some(2),
        "{resumed}"
    );
    let page = again.ack("get_history", json!({"sessionId": sid})).await;
    assert!(!page.to_string().contains("SECRET"), "{page}");

    // a note is not the desk's first response; a REST note works the same
    let list = console.ack("list_sessions", json!({})).await;
    let me = list["data"]["sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["sessionId"] == sid.as_str()).cloned())
        .expect("listed");
    assert!(me["firstResponseAt"].is_null(), "{me}");
    let (s, v) = call(
        &app,
        Method::POST,
        &format!("/api/chats/{sid}/messages"),
        Some(&agent),
        Some(json!({"content": "REST SECRET", "private": true})),
    )
    .await;
    assert_eq!((s, v["private"].clone()), (201, json!(true)), "{v}");
    assert!(visitor.next_within("message", QUIET).await.is_none());
    let public = app.get_json(&format!("/api/chats/{sid}")).await;
    assert!(!public.to_string().contains("SECRET"), "{public}");
}
both!(private_notes, private_notes_reach_staff_only);

// --- staff authors --------------------------------------------------------------------

async fn staff_messages_carry_their_authors_name(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (s, _) = call(&app, Method::POST, "/api/agents", Some(&admin), Some(json!({"email": "anna@desk.test", "name": "Anna", "role": "agent", "password": "staff-password"}))).await;
    assert_eq!(s, 201);
    let anna = app.login("anna@desk.test", "staff-password").await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let console = app.socket_as("/admin", &anna).await;
    console.ack("join_session", json!({"sessionId": sid})).await;
    let ack = console
        .ack(
            "admin_message",
            json!({"sessionId": sid, "content": "Hi, Anna here"}),
        )
        .await;
    assert_eq!(ack["data"]["authorName"], "Anna", "{ack}");
    let live = visitor.next("message").await;
    assert_eq!(
        (live["authorName"].clone(), live["sender"].clone()),
        (json!("Anna"), json!("admin"))
    );
    let sent = visitor
        .ack(
            "user_message",
            json!({"sessionId": sid, "content": "hi Anna"}),
        )
        .await;
    assert!(sent["data"].get("authorName").is_none(), "{sent}");
    // history, as stored: the name as it was when she wrote
    let (_, agents) = call(&app, Method::GET, "/api/agents", Some(&admin), None).await;
    let id = agents
        .as_array()
        .and_then(|l| l.iter().find(|a| a["email"] == "anna@desk.test"))
        .and_then(|a| a["id"].as_str())
        .expect("anna listed")
        .to_string();
    let (s, v) = call(
        &app,
        Method::PATCH,
        &format!("/api/agents/{id}"),
        Some(&admin),
        Some(json!({"name": "Anna B."})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let stored = app.get_json(&format!("/api/chats/{sid}")).await;
    assert_eq!(stored[0]["authorName"], "Anna");
    assert!(stored[1].get("authorName").is_none());
}
both!(authors, staff_messages_carry_their_authors_name);

// --- search ---------------------------------------------------------------------------

async fn search_finds_words_and_visitors_for_staff_only(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let a = app.socket().await;
    let first = app.open_session(&a).await;
    say(&a, &first, "My parcel is late").await;
    say(&a, &first, "The tracking number is 4417").await;
    let b = app.socket().await;
    let second = app.open_session(&b).await;
    say(&b, &second, "Un café au lait, s'il vous plaît").await;
    let (s, _) = call(
        &app,
        Method::POST,
        &format!("/api/chats/{first}/messages"),
        Some(&agent),
        Some(json!({"content": "parcel refund approved", "private": true})),
    )
    .await;
    assert_eq!(s, 201);

    let find = |q: &str| {
        let path = format!("/api/search?q={}", urlencode(q));
        let app = &app;
        let agent = agent.clone();
        async move {
            let (s, v) = call(app, Method::GET, &path, Some(&agent), None).await;
            assert_eq!(s, 200, "{v}");
            v
        }
    };
    // newest first, the note marked private, snippets as text with the word's range
    let v = find("parcel").await;
    let hits = v["results"].as_array().expect("results");
    let got: Vec<(Value, Value)> = hits
        .iter()
        .map(|h| (h["snippet"].clone(), h["private"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("parcel refund approved"), json!(true)),
            (json!("My parcel is late"), json!(false))
        ],
        "{v}"
    );
    assert_eq!(hits[1]["highlights"], json!([[3, 9]]));
    assert_eq!(
        (
            hits[1]["sessionId"].clone(),
            hits[1]["seq"].clone(),
            hits[1]["kind"].clone()
        ),
        (json!(first), json!(1), json!("message"))
    );
    // every word must be there
    assert_eq!(
        find("parcel late").await["results"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        find("parcel nowhere").await["results"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    // words with accents, as each database documents: the accented word on both; without
    // its accent on SQLite (FTS5 unicode61 removes diacritics), not on PostgreSQL ('simple')
    let v = find("café").await;
    assert_eq!(v["results"][0]["sessionId"], second.as_str(), "{v}");
    let unaccented = find("cafe").await["results"].as_array().map(Vec::len);
    match backend {
        Backend::Sqlite => assert_eq!(unaccented, Some(1)),
        Backend::Postgres => assert_eq!(unaccented, Some(0)),
    }
    // markup is just text to search
    assert_eq!(
        find("<script>").await["results"].as_array().map(Vec::len),
        Some(0)
    );

    // pages: newest first, no hit twice
    let (_, p1) = call(
        &app,
        Method::GET,
        "/api/search?q=parcel&limit=1",
        Some(&agent),
        None,
    )
    .await;
    let next = p1["nextBefore"].as_str().expect("nextBefore").to_string();
    let (_, p2) = call(
        &app,
        Method::GET,
        &format!("/api/search?q=parcel&limit=1&before={}", urlencode(&next)),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(p1["results"][0]["private"], true);
    assert_eq!(p2["results"][0]["snippet"], "My parcel is late");
    assert!(p2.get("nextBefore").is_none(), "{p2}");

    // the visitor: by session code (any case) and by IP address
    let list = call(&app, Method::GET, "/api/chats", Some(&agent), None)
        .await
        .1;
    let code = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["sessionId"] == first.as_str()))
        .and_then(|c| c["code"].as_str())
        .expect("code")
        .to_string();
    let v = find(&code.to_lowercase()).await;
    assert_eq!(
        (
            v["results"][0]["kind"].clone(),
            v["results"][0]["sessionId"].clone()
        ),
        (json!("session"), json!(first)),
        "{v}"
    );
    let v = find("127.0.0.1").await;
    assert!(
        v["results"].as_array().is_some_and(|r| r
            .iter()
            .filter(|h| h["kind"] == "session")
            .count()
            == 2),
        "{v}"
    );

    // an erase takes its words out of the index
    let (s, _) = call(
        &app,
        Method::DELETE,
        &format!("/api/chats/{first}"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        find("parcel").await["results"].as_array().map(Vec::len),
        Some(0)
    );
    say(&a, &first, "parcel found, thanks").await;
    assert_eq!(
        find("parcel").await["results"].as_array().map(Vec::len),
        Some(1)
    );

    // staff only, and a query is required
    let customer = app.register("cu@example.com", "customer-password").await;
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/search?q=parcel",
            Some(&customer),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&app, Method::GET, "/api/search?q=parcel", None, None)
            .await
            .0,
        401
    );
    let (s, v) = call(&app, Method::GET, "/api/search?q=", Some(&agent), None).await;
    assert_eq!(
        (s, v["error"]["code"].clone()),
        (400, json!("invalid_payload"))
    );
    let (s, _) = call(
        &app,
        Method::GET,
        &format!("/api/search?q={}", "a".repeat(201)),
        Some(&agent),
        None,
    )
    .await;
    assert_eq!(s, 400);
}
both!(search, search_finds_words_and_visitors_for_staff_only);

/// Words spread over several messages of one conversation: every database treats a message
/// as one document (a phrase never runs from one message into the next), and chatdesk adds
/// `kind: "conversation"` hits for sessions holding every word only across messages.
async fn search_across_message_boundaries(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let a = app.socket().await;
    let spread = app.open_session(&a).await;
    say(&a, &spread, "I ordered a blue kettle").await;
    say(&a, &spread, "it arrived broken yesterday").await;
    let b = app.socket().await;
    let together = app.open_session(&b).await;
    say(&b, &together, "my kettle arrived broken").await;
    let c = app.socket().await;
    let one_word = app.open_session(&c).await;
    say(&c, &one_word, "kettle descaling question").await;

    let find = |q: &str| {
        let path = format!("/api/search?q={}", urlencode(q));
        let app = &app;
        let agent = agent.clone();
        async move {
            let (s, v) = call(app, Method::GET, &path, Some(&agent), None).await;
            assert_eq!(s, 200, "{v}");
            v["results"].as_array().cloned().unwrap_or_default()
        }
    };
    let hits = find("kettle broken").await;
    let got: Vec<(Value, Value)> = hits
        .iter()
        .map(|h| (h["kind"].clone(), h["sessionId"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("conversation"), json!(spread)),
            (json!("message"), json!(together)),
        ],
        "{hits:?}"
    );
    let conv = &hits[0];
    assert_eq!(
        conv["snippet"],
        "I ordered a blue kettle · it arrived broken yesterday"
    );
    let marked: Vec<String> = conv["highlights"]
        .as_array()
        .expect("highlights")
        .iter()
        .map(|r| {
            let (from, to) = (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0));
            conv["snippet"]
                .as_str()
                .unwrap_or("")
                .chars()
                .skip(from as usize)
                .take((to - from) as usize)
                .collect()
        })
        .collect();
    assert_eq!(marked, ["kettle", "broken"]);
    assert!(
        conv["messageId"].is_null() && conv["seq"].is_null(),
        "{conv}"
    );

    // a phrase is inside one message on both databases: "kettle it" runs over the boundary
    // of the first conversation's two messages and finds nothing, and a quoted query asks
    // for no conversation hits
    assert!(find("\"kettle it\"").await.is_empty());
    // every word must be somewhere in the conversation
    assert!(find("kettle refund").await.is_empty());
    // the words of one message only: message hits, no conversation hit
    let hits = find("kettle descaling").await;
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["kind"], "message");
    // later pages hold messages only
    let (_, p1) = call(
        &app,
        Method::GET,
        "/api/search?q=kettle&limit=1",
        Some(&agent),
        None,
    )
    .await;
    let next = p1["nextBefore"].as_str().expect("nextBefore").to_string();
    let (_, p2) = call(
        &app,
        Method::GET,
        &format!(
            "/api/search?q=kettle%20broken&limit=5&before={}",
            urlencode(&next)
        ),
        Some(&agent),
        None,
    )
    .await;
    assert!(
        p2["results"]
            .as_array()
            .is_some_and(|r| r.iter().all(|h| h["kind"] == "message")),
        "{p2}"
    );
}
both!(search_spread, search_across_message_boundaries);

/// A word in more messages than search looks up by index alone (5,000): the pages walk
/// from the newest message (PostgreSQL) or through FTS5 in chunks (SQLite), and still give
/// every message once, newest first, with nothing skipped at a chunk's edge.
async fn search_pages_through_a_frequent_word(backend: Backend) {
    use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let app = common::spawn_app(backend).await;
    let agent = app.staff_token("agent@desk.test", "agent").await;
    let a = app.socket().await;
    let sid = app.open_session(&a).await;
    let db = sea_orm::Database::connect(app.db_url.as_str())
        .await
        .expect("db");
    let pk = entity::chat_session::Entity::find()
        .filter(entity::chat_session::Column::SessionId.eq(sid.as_str()))
        .one(&db)
        .await
        .expect("query")
        .expect("session")
        .id;
    const N: usize = 5_250;
    let start = chrono::Utc::now() - chrono::Duration::days(30);
    for first in (0..N).step_by(500) {
        let rows: Vec<entity::message::ActiveModel> = (first..(first + 500).min(N))
            .map(|i| entity::message::ActiveModel {
                id: Set(format!("bulk-{i:06}")),
                chat_session_id: Set(pk.clone()),
                seq: Set(i as i64 + 1),
                sender: Set("user".into()),
                content: Set(format!("alpha number {i}")),
                is_ai: Set(false),
                client_msg_id: Set(None),
                author_id: Set(None),
                interrupted: Set(false),
                created_at: Set(start + chrono::Duration::seconds(i as i64)),
                kind: Set("text".into()),
                file_url: Set(None),
                private: Set(false),
                author_name: Set(None),
                attachment: Set(None),
                source: Set(None),
            })
            .collect();
        entity::message::Entity::insert_many(rows)
            .exec(&db)
            .await
            .expect("insert");
    }
    let mut seen: Vec<String> = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let path = match &before {
            None => "/api/search?q=alpha&limit=100".to_string(),
            Some(b) => format!("/api/search?q=alpha&limit=100&before={}", urlencode(b)),
        };
        let (s, v) = call(&app, Method::GET, &path, Some(&agent), None).await;
        assert_eq!(s, 200, "{v}");
        for h in v["results"].as_array().expect("results") {
            seen.push(h["snippet"].as_str().unwrap_or("").to_string());
        }
        match v["nextBefore"].as_str() {
            Some(n) => before = Some(n.to_string()),
            None => break,
        }
        assert!(seen.len() <= N, "more hits than messages");
    }
    let expected: Vec<String> = (0..N).rev().map(|i| format!("alpha number {i}")).collect();
    assert_eq!(seen.len(), N);
    assert!(seen == expected, "pages out of order or with gaps");
}
both!(search_frequent, search_pages_through_a_frequent_word);

async fn say(s: &common::SioClient, sid: &str, text: &str) {
    let a = s
        .ack("user_message", json!({"sessionId": sid, "content": text}))
        .await;
    assert_eq!(a["ok"], true, "{a}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

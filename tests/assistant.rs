//! The AI assistant against a local server that speaks the real OpenAI streaming protocol
//! (chunked server-sent events, tokens split across network writes, `[DONE]`), and variants
//! of it that fail (`common::fake_model`). For each: what the visitor sees, what is stored, the session's status.

mod common;

use std::time::Duration;

use common::fake_model::{assert_falls_back, fake_llm, status_of, Behavior, Fake};
use common::{Backend, TestApp};
use serde_json::{json, Value};

async fn desk_with_ai(
    backend: Backend,
    base: &str,
    tweak: impl FnOnce(&mut chatdesk::Config),
) -> TestApp {
    let base = base.to_string();
    common::spawn_app_with(backend, move |c| {
        c.ai_base_url = Some(base);
        c.ai_api_key = Some("sk-test-key".into());
        c.ai_timeout_secs = 1;
        c.ai_max_retries = 2;
        c.ai_fallback_message = "Our assistant is down; a human will help you.".into();
        tweak(c);
    })
    .await
}

async fn the_reply_streams_to_visitor_and_agent_and_is_stored(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec![
        "Hel", "lo", "! How", " can I", " help?",
    ]))
    .await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "Hi there" }),
        )
        .await;
    for who in [&visitor, &agent] {
        let typing = who.next("typing").await;
        assert_eq!(typing["isTyping"], true);
        assert_eq!(typing["sender"], "admin");
        let start = who.next("stream-start").await;
        let mid = start["messageId"].as_str().expect("messageId").to_string();
        assert_eq!(start["sessionId"], sid.as_str());
        let mut text = String::new();
        for i in 0..5 {
            let t = who.next("stream-token").await;
            assert_eq!(t["index"], i, "tokens out of order");
            assert_eq!(t["messageId"], mid.as_str());
            text.push_str(t["token"].as_str().unwrap_or(""));
        }
        assert_eq!(text, "Hello! How can I help?");
        let end = who.next("stream-end").await;
        assert_eq!(end["messageId"], mid.as_str());
        assert_eq!(end["message"]["content"], text.as_str());
        assert_eq!(end["message"]["isAI"], true);
        assert_eq!(end["message"]["sender"], "admin");
        assert_eq!(end["message"]["id"], mid.as_str());
    }
    let history = app.history(&sid).await;
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["content"], "Hello! How can I help?");
    assert_eq!(history[1]["isAI"], true);
    assert!(history[1].get("interrupted").is_none());
    // the request: streaming, the system prompt, the conversation, the key
    let reqs = fake.requests();
    let (headers, body) = &reqs[0];
    assert_eq!(body["stream"], true);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][1],
        json!({ "role": "user", "content": "Hi there" })
    );
    assert_eq!(
        headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some("Bearer sk-test-key")
    );
    assert_eq!(status_of(&app, &sid).await, "open");
}
both!(
    streaming,
    the_reply_streams_to_visitor_and_agent_and_is_stored
);

async fn http_500_retries_then_falls_back(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Status(500, None)).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    assert_falls_back(&app, &fake, 3).await;
}
both!(http_500, http_500_retries_then_falls_back);

async fn http_429_honours_retry_after_then_answers(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["after", " waiting"])).await;
    if let Ok(mut s) = fake.script.lock() {
        s.push_back(Behavior::Status(429, Some(1)));
    }
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
        .await;
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "after waiting");
    assert_eq!(fake.requests().len(), 2);
    assert_eq!(status_of(&app, &sid).await, "open");
}
both!(http_429, http_429_honours_retry_after_then_answers);

async fn refused_connections_fall_back(backend: Backend) {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let fake = Fake::default(); // never reached
    let app = desk_with_ai(backend, &format!("http://{free}/v1"), |c| {
        c.ai_max_retries = 1
    })
    .await;
    assert_falls_back(&app, &fake, 0).await;
}
both!(refused, refused_connections_fall_back);

async fn a_stalled_stream_times_out_and_falls_back(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Stall).await;
    let app = desk_with_ai(backend, &base, |c| c.ai_max_retries = 0).await;
    assert_falls_back(&app, &fake, 1).await;
}
both!(stall, a_stalled_stream_times_out_and_falls_back);

async fn malformed_json_falls_back(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Malformed).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    assert_falls_back(&app, &fake, 1).await; // not retried: the endpoint answered nonsense
}
both!(malformed, malformed_json_falls_back);

async fn a_stream_closed_midway_is_stored_as_interrupted_and_falls_back(backend: Backend) {
    let (base, _fake) = fake_llm(Behavior::CloseMidStream(vec!["Part", "ial"])).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack("user_message", json!({ "sessionId": sid, "content": "hi" }))
        .await;
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "Partial");
    assert_eq!(end["message"]["interrupted"], true);
    visitor.next("human-escalation-response").await;
    let history = app.history(&sid).await;
    let contents: Vec<&str> = history
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(
        contents,
        vec![
            "hi",
            "Partial",
            "Our assistant is down; a human will help you."
        ]
    );
    assert_eq!(status_of(&app, &sid).await, "waiting");
}
both!(
    close_mid_stream,
    a_stream_closed_midway_is_stored_as_interrupted_and_falls_back
);

async fn the_model_can_hand_over_with_the_marker(backend: Backend) {
    let (base, _fake) = fake_llm(Behavior::Reply(vec![
        "Let me get a colleague. ",
        "[HANDOFF]",
    ]))
    .await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "refund please" }),
        )
        .await;
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "Let me get a colleague.");
    visitor.next("human-escalation-response").await;
    assert_eq!(status_of(&app, &sid).await, "waiting");
}
both!(handoff, the_model_can_hand_over_with_the_marker);

async fn story_visitor_asks_human_agent_claims_assistant_goes_quiet(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["Sure", ", I", " can", " help"])).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "question" }),
        )
        .await;
    let mut seen = String::new();
    for _ in 0..4 {
        seen.push_str(
            agent.next("stream-token").await["token"]
                .as_str()
                .unwrap_or(""),
        );
    }
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], seen.as_str());
    // the visitor asks for a human
    let ack = visitor
        .ack("request_human", json!({ "sessionId": sid }))
        .await;
    assert_eq!(ack["data"]["status"], "waiting");
    assert_eq!(ack["data"]["position"], 1);
    visitor.next("human-escalation-response").await;
    // an agent claims
    let claim = agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claim["data"]["status"], "assigned");
    let before = fake.requests().len();
    visitor.drain("stream-start");
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "are you human?" }),
        )
        .await;
    assert!(
        visitor
            .next_within("stream-start", Duration::from_millis(500))
            .await
            .is_none(),
        "the assistant answered an assigned session"
    );
    assert_eq!(fake.requests().len(), before);
}
both!(
    story,
    story_visitor_asks_human_agent_claims_assistant_goes_quiet
);

/// A model that counts "one " to "eight", a word every 250 ms.
async fn counting_llm() -> (String, Fake) {
    let words = vec![
        "one ", "two ", "three ", "four ", "five ", "six ", "seven ", "eight",
    ];
    fake_llm(Behavior::Slow(words, Duration::from_millis(250))).await
}

/// The stream's end, cut short: marked interrupted, with what was said so far.
async fn stream_cut_short(visitor: &common::sio::SioClient) -> String {
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["interrupted"], true, "{end}");
    let cut = end["message"]["content"].as_str().unwrap_or("").to_string();
    assert!(cut.starts_with("one ") && !cut.contains("eight"), "{cut}");
    cut
}

async fn a_claim_cancels_the_stream_and_keeps_what_was_said(backend: Backend) {
    let (base, _fake) = counting_llm().await;
    let app = desk_with_ai(backend, &base, |c| c.ai_timeout_secs = 5).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "count" }),
        )
        .await;
    visitor.next("stream-token").await;
    // a second tab joining mid-stream gets the text so far
    let tab = app.socket().await;
    tab.ack("init_session", json!({ "sessionId": sid })).await;
    let first = tab.next("stream-token").await;
    assert_eq!(first["index"], 0);
    assert_eq!(first["token"], "one ");
    let claimed = agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claimed["ok"], true, "{claimed}");
    let cut = stream_cut_short(&visitor).await;
    let history = app.history(&sid).await;
    assert_eq!(
        history.last().map(|m| m["content"].clone()),
        Some(json!(cut))
    );
    assert_eq!(status_of(&app, &sid).await, "assigned");
}
both!(cancel, a_claim_cancels_the_stream_and_keeps_what_was_said);

/// Two nodes: the reply streams from node A, where the visitor wrote; an agent claims the
/// session on node B, and node A's stream stops (the cancel crosses nodes through Redis).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_on_another_node_cancels_the_stream() {
    let (base, _fake) = counting_llm().await;
    let (a, b) = common::two_nodes(move |c| {
        c.ai_base_url = Some(base.clone());
        c.ai_api_key = Some("sk-test-key".into());
        c.ai_timeout_secs = 5;
        c.ai_max_retries = 0;
    })
    .await;
    let token = b.admin_token().await;
    let agent = b.socket_as("/admin", &token).await;
    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "count" }),
        )
        .await;
    visitor.next("stream-token").await;
    let claimed = agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claimed["ok"], true, "{claimed}");
    stream_cut_short(&visitor).await;
    assert_eq!(status_of(&b, &sid).await, "assigned");
}

async fn without_ai_base_url_nothing_answers(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "anyone?" }),
        )
        .await;
    assert!(visitor
        .next_within("stream-start", Duration::from_millis(400))
        .await
        .is_none());
    assert_eq!(app.history(&sid).await.len(), 1);
}
both!(ai_off, without_ai_base_url_nothing_answers);

/// The assistant switch (`toggle-ai-mode`, the reference dashboard's and the console's):
/// off, a visitor message in an `open` session gets no reply and the model is not asked; on
/// again, the next one is answered, also after a human has answered (which stops the
/// automatic mode). Every staff socket hears the change; a visitor cannot flip it.
async fn the_ai_switch_is_obeyed(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["Sure", "!"])).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    let dashboard = app.socket_as("/", &token).await;
    dashboard.ack("admin-connect", json!(null)).await;

    // A visitor may not switch it.
    let refused = visitor
        .ack(
            "toggle-ai-mode",
            json!({ "sessionId": sid, "enabled": false }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "unauthorized", "{refused}");
    // Not a boolean: refused.
    let bad = dashboard
        .ack(
            "toggle-ai-mode",
            json!({ "sessionId": sid, "enabled": "no" }),
        )
        .await;
    assert_eq!(bad["error"]["code"], "invalid_payload", "{bad}");

    let off = dashboard
        .ack(
            "toggle-ai-mode",
            json!({ "sessionId": sid, "enabled": false }),
        )
        .await;
    assert_eq!(off["ok"], true, "{off}");
    for who in [&agent, &dashboard] {
        let changed = who.next("ai-mode-changed").await;
        assert_eq!(
            changed,
            json!({ "sessionId": sid, "enabled": false, "mode": "off" })
        );
    }
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "anyone?" }),
        )
        .await;
    assert!(
        visitor
            .next_within("stream-start", Duration::from_millis(1500))
            .await
            .is_none(),
        "the assistant answered while switched off"
    );
    assert!(fake.requests().is_empty(), "the model was asked while off");
    assert_eq!(app.history(&sid).await.len(), 1);

    // A human answers (the automatic mode would now stay quiet), then the switch goes on.
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "Hello from Anna" }),
        )
        .await;
    let on = agent
        .ack(
            "toggle-ai-mode",
            json!({ "sessionId": sid, "enabled": true }),
        )
        .await;
    assert_eq!(on["ok"], true, "{on}");
    assert_eq!(
        dashboard.next("ai-mode-changed").await,
        json!({ "sessionId": sid, "enabled": true, "mode": "on" })
    );
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "and now?" }),
        )
        .await;
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "Sure!");
    assert_eq!(end["message"]["isAI"], true);
    assert_eq!(fake.requests().len(), 1);

    // The switch is stored with the session: the agents' list shows it.
    let chats: Value = app
        .http
        .get(format!("{}/api/chats", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    let listed = chats
        .as_array()
        .and_then(|a| a.iter().find(|c| c["sessionId"] == sid.as_str()).cloned())
        .expect("session listed");
    assert_eq!(listed["aiMode"], "on");
    assert_eq!(listed["aiEnabled"], true);
}
both!(ai_switch, the_ai_switch_is_obeyed);

/// A private note is the desk's: the model never reads it, and writing one does not stop
/// the assistant as a human reply does.
async fn private_notes_stay_out_of_the_prompt(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["Sure", "."])).await;
    let app = desk_with_ai(backend, &base, |_| {}).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    agent.ack("join_session", json!({ "sessionId": sid })).await;
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "Hi there" }),
        )
        .await;
    visitor.next("stream-end").await;
    let note = agent
        .ack(
            "admin_message",
            json!({ "sessionId": sid, "content": "SECRET internal: VIP customer", "private": true }),
        )
        .await;
    assert_eq!(note["ok"], true, "{note}");
    visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "content": "One more thing" }),
        )
        .await;
    // the assistant still answers (a note is not a human reply)...
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "Sure.");
    // ...from a conversation without the note
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    let prompt = reqs[1].1["messages"].to_string();
    assert!(prompt.contains("One more thing"), "{prompt}");
    assert!(
        !prompt.contains("SECRET"),
        "the note reached the model: {prompt}"
    );
}
both!(private_notes, private_notes_stay_out_of_the_prompt);

//! The knowledge base and what answers from it: articles over REST, public search and safe
//! pages; grounded answers with a model (a local server speaking the real streaming
//! protocol, `common::fake_model`); automatic answers without one (rules, articles, the
//! queue); seed 001's AI service as the model; and every node following article edits.

mod common;

use std::time::Duration;

use common::fake_model::{assert_falls_back, fake_llm, fake_model, status_of, Behavior, Fake};
use common::{Backend, SioClient, TestApp};
use serde_json::{json, Value};

const NO_MATCH: &str = "Nothing in our articles answers that; an agent will answer you here.";

/// Stores an article as the admin; returns it.
async fn write_article(app: &TestApp, token: &str, article: Value) -> Value {
    let r = app.post("/api/kb/articles", Some(token), article).await;
    assert_eq!(r.status(), 201, "create article");
    r.json().await.expect("json")
}

/// Changes an article as the admin.
async fn edit_article(app: &TestApp, token: &str, id: &str, fields: Value) -> Value {
    let r = app
        .http
        .patch(format!("{}/api/kb/articles/{id}", app.url))
        .bearer_auth(token)
        .json(&fields)
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200, "edit article");
    r.json().await.expect("json")
}

async fn add_rule(app: &TestApp, token: &str, pattern: &str, reply: &str) -> Value {
    let r = app
        .post(
            "/api/auto-replies",
            Some(token),
            json!({ "pattern": pattern, "reply": reply }),
        )
        .await;
    assert_eq!(r.status(), 201, "create rule");
    r.json().await.expect("json")
}

/// The desk's help center: two published articles and a draft.
async fn help_center(app: &TestApp, token: &str) -> Value {
    let reset = write_article(
        app,
        token,
        json!({ "title": "Reset your password", "slug": "reset-password", "tags": ["account"],
                "published": true,
                "body": "# Reset\n\nOpen **Settings**, then *Security*, and choose Reset password. \
                         We email you a link that works for one hour." }),
    )
    .await;
    write_article(
        app,
        token,
        json!({ "title": "Refunds", "published": true,
                "body": "Refunds go back to the card you paid with, within 5 business days." }),
    )
    .await;
    write_article(
        app,
        token,
        json!({ "title": "Secret roadmap", "slug": "roadmap", "published": false,
                "body": "Password managers integration ships next year." }),
    )
    .await;
    reset
}

/// A visitor's message, acknowledged.
async fn ask(visitor: &SioClient, sid: &str, text: &str) {
    let ack = visitor
        .ack("user_message", json!({ "sessionId": sid, "content": text }))
        .await;
    assert_eq!(ack["ok"], true, "{ack}");
}

/// The desk's next message to the visitor after the visitor's own.
async fn desk_reply(visitor: &SioClient) -> Value {
    for _ in 0..5 {
        let m = visitor.next("message").await;
        if m["sender"] == "admin" {
            return m;
        }
    }
    panic!("no reply from the desk");
}

async fn desk_with_model(backend: Backend, base: &str) -> TestApp {
    let base = base.to_string();
    common::spawn_app_with(backend, move |c| {
        c.ai_base_url = Some(base);
        c.ai_timeout_secs = 2;
        c.ai_max_retries = 1;
        c.kb_no_match_message = NO_MATCH.into();
    })
    .await
}

async fn the_prompt_carries_the_best_article_and_the_reply_cites_it(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec![
        "Open Settings, then Security ",
        "[1].",
    ]))
    .await;
    let app = desk_with_model(backend, &base).await;
    let admin = app.admin_token().await;
    help_center(&app, &admin).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    ask(&visitor, &sid, "How do I reset my password?").await;
    let end = visitor.next("stream-end").await;

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let system = reqs[0].1["messages"][0]["content"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(
        system.contains("[1] Reset your password (/kb/reset-password)"),
        "{system}"
    );
    assert!(system.contains("choose Reset password"), "{system}");
    assert!(
        !system.contains("Refunds"),
        "an unrelated article: {system}"
    );
    assert!(!system.contains("roadmap"), "a draft: {system}");
    let content = end["message"]["content"].as_str().unwrap_or("");
    assert_eq!(
        content,
        "Open Settings, then Security [1].\n\nSources:\n[1] Reset your password: /kb/reset-password"
    );
    assert_eq!(end["message"]["isAI"], true);
    assert_eq!(end["message"]["source"], "llm");
    let history = app.history(&sid).await;
    assert_eq!(history[1]["content"], content);
    assert_eq!(history[1]["source"], "llm");
    assert!(history[0].get("source").is_none(), "{}", history[0]);
    assert_eq!(status_of(&app, &sid).await, "open");
}
both!(
    grounded,
    the_prompt_carries_the_best_article_and_the_reply_cites_it
);

async fn a_question_no_article_covers_hands_over_without_asking_the_model(backend: Backend) {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["guess"])).await;
    let app = desk_with_model(backend, &base).await;
    let admin = app.admin_token().await;
    help_center(&app, &admin).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    // small talk has nothing to look up: the model answers it, without passages
    ask(&visitor, &sid, "Hello!").await;
    assert_eq!(
        visitor.next("stream-end").await["message"]["content"],
        "guess"
    );
    assert_eq!(fake.requests().len(), 1);
    assert!(
        !last_system(&fake).contains("[1]"),
        "{}",
        last_system(&fake)
    );

    visitor.drain("message");
    ask(&visitor, &sid, "Will it rain in Paris tomorrow?").await;
    let reply = desk_reply(&visitor).await;
    assert_eq!(reply["content"], NO_MATCH);
    assert_eq!(reply["isAI"], true);
    assert_eq!(reply["source"], "kb");
    visitor.next("human-escalation-response").await;
    assert_eq!(status_of(&app, &sid).await, "waiting");
    assert_eq!(fake.requests().len(), 1, "the model was asked to guess");
}
both!(
    no_passage,
    a_question_no_article_covers_hands_over_without_asking_the_model
);

/// Polls `node`'s public search until `check` holds for the results (an edit made on the
/// other node reaches this one through Redis).
async fn until_search(node: &TestApp, q: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let found = node
            .get_json(&format!(
                "/api/kb/search?q={}",
                testkit::packet::urlencode(q)
            ))
            .await;
        if check(&found) {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("node never saw the change for {q}");
}

/// The latest system prompt the model got.
fn last_system(fake: &Fake) -> String {
    fake.requests()
        .last()
        .and_then(|(_, body)| body["messages"][0]["content"].as_str().map(String::from))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn article_edits_change_answers_without_restart_on_two_nodes() {
    let (base, fake) = fake_llm(Behavior::Reply(vec!["See [1]."])).await;
    let (a, b) = common::two_nodes(move |c| {
        c.ai_base_url = Some(base.clone());
        c.ai_timeout_secs = 2;
        c.kb_no_match_message = NO_MATCH.into();
    })
    .await;
    let admin = b.admin_token().await;
    let article = write_article(
        &b,
        &admin,
        json!({ "title": "Shipping times", "published": true,
                "body": "Orders ship within two days." }),
    )
    .await;
    let id = article["id"].as_str().expect("id").to_string();
    until_search(&a, "shipping", |r| {
        r["results"][0]["slug"] == "shipping-times"
    })
    .await;

    let visitor = a.socket().await;
    let sid = a.open_session(&visitor).await;
    ask(&visitor, &sid, "What are your shipping times?").await;
    visitor.next("stream-end").await;
    assert!(
        last_system(&fake).contains("two days"),
        "{}",
        last_system(&fake)
    );

    edit_article(
        &b,
        &admin,
        &id,
        json!({ "body": "Orders ship within five days." }),
    )
    .await;
    until_search(&a, "shipping", |r| {
        r["results"][0]["snippet"]
            .as_str()
            .is_some_and(|s| s.contains("five"))
    })
    .await;
    ask(&visitor, &sid, "And the shipping times now?").await;
    visitor.next("stream-end").await;
    let system = last_system(&fake);
    assert!(
        system.contains("five days") && !system.contains("two days"),
        "{system}"
    );

    // Unpublished on B: A stops answering from it, and hands the next question over.
    edit_article(&b, &admin, &id, json!({ "published": false })).await;
    until_search(&a, "shipping", |r| r["results"] == json!([])).await;
    let asked = fake.requests().len();
    b.post(
        "/api/kb/articles",
        Some(&admin),
        json!({ "title": "Other", "body": "Gift cards.", "published": true }),
    )
    .await;
    until_search(&a, "gift", |r| r["results"][0]["slug"] == "other").await;
    visitor.drain("message");
    ask(&visitor, &sid, "What are your shipping times?").await;
    assert_eq!(desk_reply(&visitor).await["content"], NO_MATCH);
    assert_eq!(fake.requests().len(), asked);
}

async fn desk_without_model(backend: Backend) -> TestApp {
    common::spawn_app_with(backend, |c| {
        c.kb_no_match_message = NO_MATCH.into();
    })
    .await
}

async fn a_keyword_rule_answers(backend: Backend) {
    let app = desk_without_model(backend).await;
    let admin = app.admin_token().await;
    add_rule(
        &app,
        &admin,
        "xin chào",
        "Xin chào! Tôi có thể giúp gì cho bạn?",
    )
    .await;
    add_rule(
        &app,
        &admin,
        r"/\border\s*#?\d+/",
        "Let me look that order up.",
    )
    .await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    ask(&visitor, &sid, "Xin chào bạn").await;
    let reply = desk_reply(&visitor).await;
    assert_eq!(reply["content"], "Xin chào! Tôi có thể giúp gì cho bạn?");
    assert_eq!(reply["isAI"], true);
    assert_eq!(reply["source"], "rule");
    ask(&visitor, &sid, "Where is ORDER #1234?").await;
    assert_eq!(
        desk_reply(&visitor).await["content"],
        "Let me look that order up."
    );
    assert_eq!(status_of(&app, &sid).await, "open");
    let history = app.history(&sid).await;
    assert_eq!(history.len(), 4);
    assert_eq!(history[1]["source"], "rule");
}
both!(rule, a_keyword_rule_answers);

async fn an_article_answers_with_its_excerpt_and_link(backend: Backend) {
    let app = desk_without_model(backend).await;
    let admin = app.admin_token().await;
    help_center(&app, &admin).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    ask(&visitor, &sid, "I forgot my password, how can I reset it?").await;
    let reply = desk_reply(&visitor).await;
    let content = reply["content"].as_str().unwrap_or("");
    assert!(content.starts_with("Reset your password\n"), "{content}");
    assert!(content.contains("choose Reset password"), "{content}");
    assert!(!content.contains("**"), "markup in the excerpt: {content}");
    assert!(
        content.ends_with("Read more: /kb/reset-password"),
        "{content}"
    );
    assert_eq!(reply["source"], "kb");
    assert_eq!(reply["isAI"], true);
    assert_eq!(status_of(&app, &sid).await, "open");
}
both!(article, an_article_answers_with_its_excerpt_and_link);

async fn no_match_tells_the_visitor_and_queues_the_session(backend: Backend) {
    let app = desk_without_model(backend).await;
    let admin = app.admin_token().await;
    help_center(&app, &admin).await;
    add_rule(&app, &admin, "opening hours", "We are open 9 to 5.").await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    // the draft mentions password managers: drafts never answer
    ask(&visitor, &sid, "Do you integrate with password managers?").await;
    let reply = desk_reply(&visitor).await;
    assert_eq!(reply["content"], NO_MATCH);
    assert_eq!(reply["source"], "kb");
    visitor.next("human-escalation-response").await;
    assert_eq!(status_of(&app, &sid).await, "waiting");
    // waiting for a human: the desk stays quiet
    ask(&visitor, &sid, "opening hours?").await;
    assert!(visitor
        .next_within("message", Duration::from_millis(200))
        .await
        .is_some_and(|m| m["sender"] == "user"));
    assert!(visitor
        .next_within("message", Duration::from_millis(600))
        .await
        .is_none());
}
both!(no_match, no_match_tells_the_visitor_and_queues_the_session);

async fn nothing_answers_once_a_human_took_the_session(backend: Backend) {
    let app = desk_without_model(backend).await;
    let admin = app.admin_token().await;
    add_rule(&app, &admin, "hello", "Hi! How can we help?").await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let agent = app.socket_as("/admin", &admin).await;
    let claimed = agent
        .ack("claim_session", json!({ "sessionId": sid }))
        .await;
    assert_eq!(claimed["ok"], true, "{claimed}");
    assert_eq!(status_of(&app, &sid).await, "assigned");

    ask(&visitor, &sid, "hello").await;
    assert!(visitor
        .next_within("message", Duration::from_millis(200))
        .await
        .is_some_and(|m| m["sender"] == "user"));
    assert!(
        visitor
            .next_within("message", Duration::from_millis(800))
            .await
            .is_none(),
        "an automatic answer in a session a human took"
    );
    assert_eq!(app.history(&sid).await.len(), 1);
}
both!(human_took, nothing_answers_once_a_human_took_the_session);

async fn desk_with_fastapi(backend: Backend, root: &str) -> TestApp {
    let root = root.to_string();
    common::spawn_app_with(backend, move |c| {
        c.ai_provider = Some("fastapi".into());
        c.fastapi_url = Some(root);
        c.ai_timeout_secs = 1;
        c.ai_max_retries = 2;
        c.ai_fallback_message = "Our assistant is down; a human will help you.".into();
    })
    .await
}

async fn seed_001s_service_streams_through_the_fastapi_provider(backend: Backend) {
    let (root, fake) = fake_model(Behavior::Reply(vec![
        "Xin",
        " chào",
        "! Tôi",
        " giúp",
        " được.",
    ]))
    .await;
    let app = desk_with_fastapi(backend, &root).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;

    ask(&visitor, &sid, "Hi there").await;
    visitor.next("stream-start").await;
    let mut text = String::new();
    for i in 0..5 {
        let t = visitor.next("stream-token").await;
        assert_eq!(t["index"], i, "tokens out of order");
        text.push_str(t["token"].as_str().unwrap_or(""));
    }
    assert_eq!(text, "Xin chào! Tôi giúp được.");
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], text.as_str());
    assert_eq!(end["message"]["source"], "llm");

    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1);
    let body = &reqs[0].1;
    assert_eq!(body["query"], "Hi there");
    assert_eq!(body["session_id"], sid.as_str());
    assert!(
        body["user_id"].as_str().is_some_and(|u| !u.is_empty()),
        "{body}"
    );
    assert_eq!(
        body["context"]["messages"],
        json!([{ "role": "user", "content": "Hi there" }])
    );
    assert!(body["context"]["system"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    assert!(reqs[0].0.get("authorization").is_none());
}
both!(
    fastapi,
    seed_001s_service_streams_through_the_fastapi_provider
);

async fn fastapi_errors_fall_back_as_the_openai_providers_do(backend: Backend) {
    let (root, fake) = fake_model(Behavior::Status(503, None)).await;
    let app = desk_with_fastapi(backend, &root).await;
    assert_falls_back(&app, &fake, 3).await;
}
both!(
    fastapi_500,
    fastapi_errors_fall_back_as_the_openai_providers_do
);

async fn a_fastapi_stream_cut_midway_is_kept_as_interrupted(backend: Backend) {
    let (root, _fake) = fake_model(Behavior::CloseMidStream(vec!["Part", "ial"])).await;
    let app = desk_with_fastapi(backend, &root).await;
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    ask(&visitor, &sid, "hi").await;
    let end = visitor.next("stream-end").await;
    assert_eq!(end["message"]["content"], "Partial");
    assert_eq!(end["message"]["interrupted"], true);
    visitor.next("human-escalation-response").await;
    assert_eq!(status_of(&app, &sid).await, "waiting");
}
both!(
    fastapi_cut,
    a_fastapi_stream_cut_midway_is_kept_as_interrupted
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_fastapi_stream_falls_back_without_retry() {
    let (root, fake) = fake_model(Behavior::Malformed).await;
    let app = desk_with_fastapi(Backend::Sqlite, &root).await;
    assert_falls_back(&app, &fake, 1).await;
}

async fn an_article_with_script_and_raw_html_renders_inert(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    write_article(
        &app,
        &admin,
        json!({ "title": "Tricks <script>alert('t')</script>", "slug": "tricks", "published": true,
                "body": "Hello <script>alert(1)</script> **world**\n\n\
                         <iframe src=\"https://evil.example\"></iframe>\n\n\
                         [click me](javascript:alert(2)) <img src=x onerror=\"alert(3)\">\n\n\
                         <a href=\"javascript:alert(4)\">raw link</a>\n\n[docs](https://example.com/docs)" }),
    )
    .await;
    let r = app.get("/kb/tricks").await;
    assert_eq!(r.status(), 200);
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html")));
    let html = r.text().await.expect("body");
    let lower = html.to_lowercase();
    for bad in ["<script", "javascript:", "onerror", "<iframe", "alert(3)"] {
        assert!(!lower.contains(bad), "{bad} in {html}");
    }
    assert!(
        html.contains("Tricks &lt;script&gt;"),
        "the title is text: {html}"
    );
    assert!(html.contains("<strong>world</strong>"), "{html}");
    assert!(
        html.contains(r#"href="https://example.com/docs""#),
        "{html}"
    );

    // drafts and unknown slugs have no page
    write_article(
        &app,
        &admin,
        json!({ "title": "Draft", "body": "x", "published": false }),
    )
    .await;
    assert_eq!(app.get("/kb/draft").await.status(), 404);
    assert_eq!(app.get("/kb/nope").await.status(), 404);
}
both!(
    markdown_safety,
    an_article_with_script_and_raw_html_renders_inert
);

async fn articles_are_for_admins_to_write_and_visitors_search_the_published_ones(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let admin = app.admin_token().await;
    help_center(&app, &admin).await;
    let agent = app.quick_staff_token("agent@desk.test", "agent").await;

    // an agent reads drafts, writes nothing; a visitor reads nothing of the staff API
    let r = app
        .http
        .get(format!("{}/api/kb/articles", app.url))
        .bearer_auth(&agent)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let all: Value = r.json().await.expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(3));
    let refused = app
        .post(
            "/api/kb/articles",
            Some(&agent),
            json!({ "title": "x", "body": "y" }),
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(app.get("/api/kb/articles").await.status(), 401);
    let refused = app
        .post(
            "/api/auto-replies",
            Some(&agent),
            json!({ "pattern": "x", "reply": "y" }),
        )
        .await;
    assert_eq!(refused.status(), 403);

    // slugs are unique; bad fields are refused
    let dup = app
        .post(
            "/api/kb/articles",
            Some(&admin),
            json!({ "title": "Again", "slug": "reset-password", "body": "y" }),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let bad = app
        .post(
            "/api/kb/articles",
            Some(&admin),
            json!({ "title": "x", "slug": "Not A Slug", "body": "y" }),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let bad = app
        .post(
            "/api/auto-replies",
            Some(&admin),
            json!({ "pattern": "/(unclosed/", "reply": "y" }),
        )
        .await;
    assert_eq!(bad.status(), 400);

    // public search: published only, with the matching passage as text
    let found = app.get_json("/api/kb/search?q=password").await;
    let results = found["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 1, "{found}");
    assert_eq!(results[0]["slug"], "reset-password");
    assert_eq!(results[0]["url"], "/kb/reset-password");
    assert_eq!(results[0]["title"], "Reset your password");
    let snippet = results[0]["snippet"].as_str().unwrap_or("");
    assert!(
        snippet.contains("Reset password") && !snippet.contains('<'),
        "{snippet}"
    );
    assert_eq!(
        app.get_json("/api/kb/search?q=").await,
        json!({ "results": [] })
    );

    // deleted: gone from search at once
    let reset_id = all
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["slug"] == "reset-password")
        .and_then(|a| a["id"].as_str())
        .expect("reset article")
        .to_string();
    let del = app
        .http
        .delete(format!("{}/api/kb/articles/{reset_id}", app.url))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(del.status(), 204);
    assert_eq!(
        app.get_json("/api/kb/search?q=password").await["results"],
        json!([])
    );

    // the console's page for all this is served with the pages' policy
    let page = app.get("/console/kb").await;
    assert_eq!(page.status(), 200);
    assert!(page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("script-src 'self'")));
    assert!(page
        .text()
        .await
        .unwrap_or_default()
        .contains("/static/kb.js"));
    assert_eq!(app.get("/static/kb.js").await.status(), 200);
}
both!(
    rest,
    articles_are_for_admins_to_write_and_visitors_search_the_published_ones
);

//! Message types (issue 17): `type` (`text` by default, `image`, `file`, `audio`, `video`)
//! and `fileUrl` for the non-text ones, stored with every message and read back the same way
//! on every path (the live `message`, the ack, `get_history`, the dashboard's history, REST).
//! A non-text message needs an `https:` URL or a path on this server; anything else is
//! `invalid_payload` and stores nothing.

use serde_json::{json, Value};

use crate::both;
use crate::common::Backend;
use crate::helpers::*;

const CAT: &str = "https://cdn.example.com/pets/cat%20photo.png";

/// The message with `seq` in a list of messages.
fn with_seq(list: &Value, seq: i64) -> Value {
    list.as_array()
        .and_then(|a| a.iter().find(|m| m["seq"] == seq))
        .cloned()
        .unwrap_or_else(|| panic!("no message {seq} in {list}"))
}

async fn an_image_message_is_stored_broadcast_and_read_back_with_its_type_and_url(
    backend: Backend,
) {
    let chat = assigned_chat(backend).await;
    let Chat { app, v1, s1, ad } = &chat;

    // No `content`: the file's name stands in for it.
    let sent = data(
        &v1.ack(
            "user_message",
            json!({ "sessionId": s1, "type": "image", "fileUrl": CAT }),
        )
        .await,
        "user_message image",
    );
    let expected = json!({ "type": "image", "fileUrl": CAT, "content": "cat photo.png",
                           "sender": "user" });
    assert_has(&sent, &expected, "ack");
    let seq = sent["seq"].as_i64().expect("seq");
    let live = next_where(ad, "message", "the image", |m| m["seq"] == seq).await;
    assert_has(&live, &expected, "live message to the agent");
    let own = next_where(v1, "message", "the image, echoed", |m| m["seq"] == seq).await;
    assert_has(&own, &expected, "live message to the sender");

    // An agent's file, with its own text, over "/admin".
    let reply = data(
        &ad.ack(
            "admin_message",
            json!({ "sessionId": s1, "content": "Your invoice", "type": "file",
                    "fileUrl": "/files/invoice.pdf" }),
        )
        .await,
        "admin_message file",
    );
    let reply_expected = json!({ "type": "file", "fileUrl": "/files/invoice.pdf",
                                 "content": "Your invoice", "sender": "admin" });
    assert_has(&reply, &reply_expected, "admin ack");
    let reply_seq = reply["seq"].as_i64().expect("seq");

    let history = data(
        &v1.ack("get_history", json!({ "sessionId": s1 })).await,
        "get_history",
    );
    assert_has(
        &with_seq(&history["messages"], seq),
        &expected,
        "get_history",
    );
    assert_has(
        &with_seq(&history["messages"], reply_seq),
        &reply_expected,
        "get_history",
    );

    let rest = Value::Array(app.history(s1).await);
    assert_has(&with_seq(&rest, seq), &expected, "GET /api/chats/:id");
    assert_has(
        &with_seq(&rest, reply_seq),
        &reply_expected,
        "GET /api/chats/:id",
    );

    let dash = app.staff_socket().await;
    dash.emit("get-messages", json!({ "sessionId": s1 }));
    let items = dash.next("messages-history").await;
    let item = with_seq(&items, seq);
    assert_has(&item, &expected, "dashboard history");
    assert_eq!(item["message"], "cat photo.png", "{item}");
}
both!(
    image_and_file_messages_keep_type_and_url_on_every_path,
    an_image_message_is_stored_broadcast_and_read_back_with_its_type_and_url
);

async fn a_text_message_is_of_type_text_without_a_file_url(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { app, v1, s1, ad } = &chat;
    let sent = data(
        &v1.ack(
            "user_message",
            json!({ "sessionId": s1, "content": "hello", "type": null, "fileUrl": null }),
        )
        .await,
        "user_message",
    );
    assert_eq!(sent["type"], "text", "{sent}");
    assert!(sent.get("fileUrl").is_none(), "{sent}");
    let seq = sent["seq"].as_i64().expect("seq");
    let live = next_where(ad, "message", "the text", |m| m["seq"] == seq).await;
    assert_eq!(live["type"], "text", "{live}");
    assert!(live.get("fileUrl").is_none(), "{live}");
    let stored = with_seq(&Value::Array(app.history(s1).await), seq);
    assert_eq!(stored["type"], "text", "{stored}");
    assert!(stored.get("fileUrl").is_none(), "{stored}");
}
both!(a_text_message_is_of_type_text_without_a_file_url);

/// Payloads that break the rule, each with what is wrong.
fn refused_payloads(sid: &str) -> Vec<(&'static str, Value)> {
    vec![
        (
            "javascript: URL",
            json!({ "type": "image", "fileUrl": "javascript:alert(1)" }),
        ),
        (
            "http: URL",
            json!({ "type": "image", "fileUrl": "http://cdn.example.com/a.png" }),
        ),
        (
            "protocol-relative URL",
            json!({ "type": "file", "fileUrl": "//evil.com/x" }),
        ),
        (
            "data: URL",
            json!({ "type": "image", "fileUrl": "data:image/png;base64,AAAA" }),
        ),
        (
            "credentials in the URL",
            json!({ "type": "file", "fileUrl": "https://a@evil.com/x" }),
        ),
        (
            "image without URL",
            json!({ "type": "image", "content": "look" }),
        ),
        ("unknown type", json!({ "type": "gif", "fileUrl": CAT })),
        (
            "text with a URL",
            json!({ "content": "hi", "fileUrl": CAT }),
        ),
        ("type not a string", json!({ "type": 3, "fileUrl": CAT })),
        (
            "fileUrl not a string",
            json!({ "type": "image", "fileUrl": { "href": CAT } }),
        ),
        (
            "a URL with a space",
            json!({ "type": "image", "fileUrl": "/a b.png" }),
        ),
    ]
    .into_iter()
    .map(|(why, mut p)| {
        p["sessionId"] = json!(sid);
        (why, p)
    })
    .collect()
}

async fn messages_that_break_the_file_rule_are_refused_and_store_nothing(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { app, v1, s1, ad } = &chat;
    for (why, payload) in refused_payloads(s1) {
        assert_err(
            &v1.ack("user_message", payload.clone()).await,
            "invalid_payload",
            &format!("user_message, {why}"),
        );
        assert_err(
            &ad.ack("admin_message", payload).await,
            "invalid_payload",
            &format!("admin_message, {why}"),
        );
    }
    // Without an ack: the `error` event, with the same code.
    v1.emit(
        "user_message",
        json!({ "sessionId": s1, "type": "video", "fileUrl": "ftp://x.example/v.mp4" }),
    );
    let e = v1.next("error").await;
    assert_eq!(e["code"], "invalid_payload", "{e}");
    assert_eq!(e["event"], "user_message", "{e}");

    none_on(
        &[("visitor", v1), ("agent", ad)],
        "message",
        "after refusals",
    )
    .await;
    let admin = app.admin_token().await;
    assert!(
        app.history_as(s1, &admin).await.is_empty(),
        "nothing stored"
    );
}
both!(
    refusals,
    messages_that_break_the_file_rule_are_refused_and_store_nothing
);

async fn rest_posts_file_messages_under_the_same_rule(backend: Backend) {
    let chat = assigned_chat(backend).await;
    let Chat { app, v1, s1, .. } = &chat;
    let admin = app.admin_token().await;
    let path = format!("/api/chats/{s1}/messages");

    let (status, body) = call(
        app,
        reqwest::Method::POST,
        &path,
        Some(&admin),
        Some(json!({ "type": "audio", "fileUrl": "https://cdn.example.com/v/note.ogg" })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let expected = json!({ "type": "audio", "fileUrl": "https://cdn.example.com/v/note.ogg",
                           "content": "note.ogg", "sender": "admin" });
    assert_has(&body, &expected, "POST answer");
    let seq = body["seq"].as_i64().expect("seq");
    let live = next_where(v1, "message", "the audio", |m| m["seq"] == seq).await;
    assert_has(&live, &expected, "live message to the visitor");

    for (why, mut payload) in refused_payloads(s1) {
        payload.as_object_mut().map(|o| o.remove("sessionId"));
        let (status, body) = call(
            app,
            reqwest::Method::POST,
            &path,
            Some(&admin),
            Some(payload),
        )
        .await;
        assert_eq!(status, 400, "{why}: {body}");
        assert_eq!(body["error"]["code"], "invalid_payload", "{why}: {body}");
    }
    let stored = app.history_as(s1, &admin).await;
    assert_eq!(stored.len(), 1, "only the valid post: {stored:?}");
}
both!(rest_posts_file_messages_under_the_same_rule);

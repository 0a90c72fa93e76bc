//! Attachments (issue 19), against a real server on SQLite and PostgreSQL: upload over REST
//! (multipart), send by `attachmentId` on socket.io, REST and `/ws`, receive on another
//! connection, download byte for byte by the participants and by nobody else, the type read
//! from the bytes, the size limit to the byte, rate limits and the session quota, erasing
//! (for everyone: nothing left in the database store or the directory; for the visitor:
//! hidden from the visitor only), and files kept across a restart.

mod common;

use std::time::Duration;

use common::ws::Ws;
use common::{Backend, SioClient, TestApp};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

/// A PNG of `w` x `h` pixels (an opaque gradient: every byte of it matters).
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, 7])
    });
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode a PNG");
    out
}

/// A small PDF-looking file (`%PDF-` is what its type is read from).
fn pdf(len: usize) -> Vec<u8> {
    let mut b = b"%PDF-1.7\n".to_vec();
    b.extend((0..len.saturating_sub(b.len())).map(|i| (i % 250) as u8));
    b
}

#[track_caller]
fn data(ack: &Value, what: &str) -> Value {
    assert_eq!(ack["ok"], true, "{what}: expected ok:true, got {ack}");
    ack["data"].clone()
}

/// `POST /api/chats/:sid/attachments` with one file; the status and JSON body.
async fn upload(
    app: &TestApp,
    sid: &str,
    token: Option<&str>,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name(name.to_string())
        .mime_str(content_type)
        .expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part);
    let mut rb = app
        .http
        .post(format!("{}/api/chats/{sid}/attachments", app.url))
        .multipart(form);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.expect("upload");
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

/// How a download asks.
enum As<'a> {
    Token(&'a str),
    SessionHeader(&'a str),
    SessionQuery(&'a str),
    Nobody,
}

async fn download(app: &TestApp, path: &str, who: As<'_>) -> reqwest::Response {
    let url = match who {
        As::SessionQuery(sid) => format!("{}{path}?sessionId={sid}", app.url),
        _ => format!("{}{path}", app.url),
    };
    let mut rb = app.http.get(url);
    match who {
        As::Token(t) => rb = rb.bearer_auth(t),
        As::SessionHeader(sid) => rb = rb.header("X-Session-Id", sid),
        As::SessionQuery(_) | As::Nobody => {}
    }
    rb.send().await.expect("download")
}

async fn bytes_of(app: &TestApp, path: &str, who: As<'_>) -> Vec<u8> {
    let r = download(app, path, who).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.bytes().await.expect("body").to_vec()
}

/// A visitor socket with a new session, and an admin socket on "/admin" that joined it.
async fn chat(app: &TestApp) -> (SioClient, String, SioClient, String) {
    let visitor = app.socket().await;
    let sid = app.open_session(&visitor).await;
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    data(
        &agent.ack("join_session", json!({ "sessionId": sid })).await,
        "join_session",
    );
    (visitor, sid, agent, token)
}

/// The next `message` on `s` with this `seq`.
async fn message_with_seq(s: &SioClient, seq: &Value) -> Value {
    for _ in 0..20 {
        match s.next_within("message", Duration::from_secs(10)).await {
            Some(m) if &m["seq"] == seq => return m,
            Some(_) => continue,
            None => break,
        }
    }
    panic!("no message {seq}");
}

async fn db_of(app: &TestApp) -> sea_orm::DatabaseConnection {
    sea_orm::Database::connect(&app.db_url)
        .await
        .expect("connect to the test database")
}

/// Rows of `attachments` and of `attachment_blobs`.
async fn stored_rows(app: &TestApp) -> (u64, u64) {
    let db = db_of(app).await;
    let rows = entity::attachment::Entity::find()
        .count(&db)
        .await
        .expect("count attachments");
    let blobs = entity::attachment_blob::Entity::find()
        .count(&db)
        .await
        .expect("count blobs");
    let _ = db.close().await;
    (rows, blobs)
}

fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

async fn a_visitors_screenshot_reaches_the_agent_who_downloads_it_byte_for_byte(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, agent, token) = chat(&app).await;
    let shot = png(640, 400);

    let (status, att) = upload(
        &app,
        &sid,
        None,
        "screen shot.png",
        "image/png",
        shot.clone(),
    )
    .await;
    assert_eq!(status, 201, "{att}");
    let id = att["id"].as_str().expect("id").to_string();
    let url = format!("/api/attachments/{id}");
    assert_eq!(
        att,
        json!({ "id": id, "name": "screen shot.png", "contentType": "image/png",
                "size": shot.len(), "url": url, "width": 640, "height": 400,
                "thumbnailUrl": format!("{url}/thumbnail") })
    );

    // Sent by id, without text: the type follows the file, the content is its name.
    let sent = data(
        &visitor
            .ack(
                "user_message",
                json!({ "sessionId": sid, "attachmentId": id }),
            )
            .await,
        "user_message with attachmentId",
    );
    let expected = json!({ "type": "image", "content": "screen shot.png", "fileUrl": url,
                           "attachment": att });
    assert_eq!(sent["type"], "image", "{sent}");
    assert_eq!(sent["attachment"], att, "{sent}");
    assert_eq!(sent["fileUrl"], url.as_str(), "{sent}");
    assert_eq!(sent["content"], "screen shot.png");
    let live = message_with_seq(&agent, &sent["seq"]).await;
    for k in ["type", "content", "fileUrl", "attachment"] {
        assert_eq!(live[k], expected[k], "live message to the agent: {live}");
    }

    // The agent downloads the original and the thumbnail.
    assert_eq!(bytes_of(&app, &url, As::Token(&token)).await, shot);
    let thumb = bytes_of(&app, &format!("{url}/thumbnail"), As::Token(&token)).await;
    let small = image::load_from_memory(&thumb).expect("the thumbnail is an image");
    assert_eq!((small.width(), small.height()), (320, 200));
    // So does the visitor, by its session id.
    assert_eq!(bytes_of(&app, &url, As::SessionHeader(&sid)).await, shot);
    assert_eq!(bytes_of(&app, &url, As::SessionQuery(&sid)).await, shot);

    // Every read path carries the attachment.
    let rest = app.history(&sid).await;
    let stored = rest
        .iter()
        .find(|m| m["seq"] == sent["seq"])
        .expect("in REST history");
    assert_eq!(stored["attachment"], att, "{stored}");
    let history = data(
        &visitor
            .ack("get_history", json!({ "sessionId": sid }))
            .await,
        "get_history",
    );
    assert_eq!(history["messages"][0]["attachment"], att);
    let dash = app.staff_socket().await;
    dash.emit("get-messages", json!({ "sessionId": sid }));
    let items = dash.next("messages-history").await;
    assert_eq!(items[0]["attachment"], att, "{items}");
    assert_eq!(items[0]["message"], "screen shot.png");
}
both!(
    a_visitors_screenshot_reaches_the_agent,
    a_visitors_screenshot_reaches_the_agent_who_downloads_it_byte_for_byte
);

async fn an_agents_pdf_goes_over_rest_and_downloads_as_a_sandboxed_attachment(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, _agent, token) = chat(&app).await;
    let file = pdf(50_000);
    let (status, att) = upload(
        &app,
        &sid,
        Some(&token),
        "invoice.pdf",
        "application/pdf",
        file.clone(),
    )
    .await;
    assert_eq!(status, 201, "{att}");
    assert_eq!(att["contentType"], "application/pdf");
    assert!(
        att.get("width").is_none() && att.get("thumbnailUrl").is_none(),
        "{att}"
    );
    let id = att["id"].as_str().expect("id");

    let r = app
        .post(
            &format!("/api/chats/{sid}/messages"),
            Some(&token),
            json!({ "content": "Your invoice", "attachmentId": id }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let stored: Value = r.json().await.expect("json");
    assert_eq!(stored["type"], "file");
    assert_eq!(stored["content"], "Your invoice");
    assert_eq!(stored["attachment"], att);
    let live = message_with_seq(&visitor, &stored["seq"]).await;
    assert_eq!(live["attachment"], att, "{live}");

    let url = format!("/api/attachments/{id}");
    let r = download(&app, &url, As::SessionQuery(&sid)).await;
    assert_eq!(r.status(), 200);
    let h = r.headers().clone();
    let header = |name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("content-type"), "application/pdf");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice%2Epdf"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
    assert_eq!(
        header("content-security-policy"),
        "default-src 'none'; sandbox"
    );
    assert!(
        header("cache-control").starts_with("private, max-age="),
        "{h:?}"
    );
    let etag = header("etag");
    assert!(!etag.is_empty());
    assert_eq!(r.bytes().await.expect("body").to_vec(), file);
    // A thumbnail only for images.
    assert_eq!(
        download(&app, &format!("{url}/thumbnail"), As::Token(&token))
            .await
            .status(),
        404
    );
    // Asked again with its ETag: not modified.
    let again = app
        .http
        .get(format!("{}{url}", app.url))
        .header("X-Session-Id", &sid)
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("GET");
    assert_eq!(again.status(), 304);
}
both!(
    an_agents_pdf_goes_over_rest,
    an_agents_pdf_goes_over_rest_and_downloads_as_a_sandboxed_attachment
);

async fn only_the_sessions_participants_read_or_send_its_attachments(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, _agent, _token) = chat(&app).await;
    let (_, att) = upload(&app, &sid, None, "a.png", "image/png", png(8, 8)).await;
    let id = att["id"].as_str().expect("id");
    let url = format!("/api/attachments/{id}");

    // Another visitor: its own session id is no key to this one.
    let other = app.socket().await;
    let other_sid = app.open_session(&other).await;
    assert_eq!(
        download(&app, &url, As::SessionHeader(&other_sid))
            .await
            .status(),
        404
    );
    assert_eq!(
        download(
            &app,
            &format!("{url}/thumbnail"),
            As::SessionQuery(&other_sid)
        )
        .await
        .status(),
        404
    );
    // Nor can it send the attachment in its own session.
    let refused = other
        .ack(
            "user_message",
            json!({ "sessionId": other_sid, "attachmentId": id }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "not_found", "{refused}");
    // No credential at all.
    let r = download(&app, &url, As::Nobody).await;
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");
    // A forged id.
    assert_eq!(
        download(
            &app,
            "/api/attachments/00000000000000000000000000000000",
            As::SessionHeader(&sid)
        )
        .await
        .status(),
        404
    );

    // A customer's session: that customer reads it with a token; another customer does
    // not, nor does someone who only knows the session id.
    let alice = app.register("alice@desk.test", "alice-password-1").await;
    let bob = app.register("bob@desk.test", "bob-password-12").await;
    let alice_socket = app.socket_as("/", &alice).await;
    let alice_sid = app.open_session(&alice_socket).await;
    let (status, own) = upload(
        &app,
        &alice_sid,
        Some(&alice),
        "mine.pdf",
        "application/pdf",
        pdf(100),
    )
    .await;
    assert_eq!(status, 201, "{own}");
    let own_url = format!("/api/attachments/{}", own["id"].as_str().expect("id"));
    assert_eq!(bytes_of(&app, &own_url, As::Token(&alice)).await, pdf(100));
    assert_eq!(
        download(&app, &own_url, As::Token(&bob)).await.status(),
        404
    );
    assert_eq!(
        download(&app, &own_url, As::SessionHeader(&alice_sid))
            .await
            .status(),
        404
    );
    assert_eq!(
        download(&app, &url, As::Token(&bob)).await.status(),
        404,
        "bob and the anonymous session"
    );
    // Nor may anyone but Alice upload into her session.
    let (status, body) = upload(&app, &alice_sid, None, "x.pdf", "application/pdf", pdf(100)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (403, json!("forbidden"))
    );
    let (status, _) = upload(
        &app,
        &alice_sid,
        Some(&bob),
        "x.pdf",
        "application/pdf",
        pdf(100),
    )
    .await;
    assert_eq!(status, 403);
    drop(visitor);
}
both!(
    only_participants_read_or_send,
    only_the_sessions_participants_read_or_send_its_attachments
);

async fn the_type_is_read_from_the_bytes(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, _agent, _token) = chat(&app).await;
    // A PNG renamed .pdf and declared as a PDF is stored as what it is: an image.
    let shot = png(20, 10);
    let (status, att) = upload(
        &app,
        &sid,
        None,
        "report.pdf",
        "application/pdf",
        shot.clone(),
    )
    .await;
    assert_eq!(status, 201, "{att}");
    assert_eq!(att["contentType"], "image/png");
    assert_eq!(
        (att["width"].clone(), att["height"].clone()),
        (json!(20), json!(10))
    );
    let sent = data(
        &visitor
            .ack(
                "user_message",
                json!({ "sessionId": sid, "attachmentId": att["id"], "content": "see" }),
            )
            .await,
        "send",
    );
    assert_eq!(sent["type"], "image");
    assert_eq!(sent["content"], "see");

    // HTML declared as an image, and HTML declared as text, are refused; nothing is kept.
    let (rows_before, blobs_before) = stored_rows(&app).await;
    let html = b"<html><body><script>alert(document.cookie)</script></body></html>".to_vec();
    for declared in ["image/png", "text/plain"] {
        let (status, body) = upload(&app, &sid, None, "cat.png", declared, html.clone()).await;
        assert_eq!(status, 415, "{declared}: {body}");
        assert_eq!(body["error"]["code"], "attachment_type_refused", "{body}");
    }
    // Text declared as an image, and an executable, are refused too.
    let (status, _) = upload(
        &app,
        &sid,
        None,
        "x.jpg",
        "image/jpeg",
        b"just words".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = upload(
        &app,
        &sid,
        None,
        "setup.pdf",
        "application/pdf",
        b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec(),
    )
    .await;
    assert_eq!(status, 415);
    assert_eq!(stored_rows(&app).await, (rows_before, blobs_before));

    // A message naming the attachment and also a type or a URL is refused.
    let refused = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "attachmentId": att["id"], "type": "file" }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "invalid_payload", "{refused}");
    let refused = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "attachmentId": "../etc" }),
        )
        .await;
    assert_eq!(refused["error"]["code"], "invalid_payload", "{refused}");
}
both!(the_type_is_read_from_the_bytes);

async fn one_byte_over_the_limit_is_refused_and_nothing_stays(backend: Backend) {
    const MAX: usize = 64 * 1024;
    let app = common::spawn_app_with(backend, |c| c.max_attachment_bytes = MAX as u64).await;
    let sid = app.open_session(&app.socket().await).await;
    let (status, body) = upload(
        &app,
        &sid,
        None,
        "at-limit.pdf",
        "application/pdf",
        pdf(MAX),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["size"], MAX);
    let before = stored_rows(&app).await;
    let (status, body) = upload(
        &app,
        &sid,
        None,
        "over.pdf",
        "application/pdf",
        pdf(MAX + 1),
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "attachment_too_large");
    // Far over: refused the same way (here by the request's body limit).
    let (status, body) = upload(&app, &sid, None, "far.pdf", "application/pdf", pdf(4 * MAX)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (413, json!("attachment_too_large"))
    );
    assert_eq!(
        stored_rows(&app).await,
        before,
        "nothing of the refused uploads is kept"
    );
    let (status, body) = upload(&app, &sid, None, "empty.txt", "text/plain", Vec::new()).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_payload"))
    );
}
both!(one_byte_over_the_limit_is_refused_and_nothing_stays);

async fn uploads_are_limited_per_session_per_ip_and_by_quota(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.attachment_uploads_per_session_per_min = 2;
        c.attachment_uploads_per_min = 5;
        c.attachment_session_quota_bytes = 25_000;
    })
    .await;
    let sid = app.open_session(&app.socket().await).await;
    for _ in 0..2 {
        assert_eq!(
            upload(&app, &sid, None, "a.pdf", "application/pdf", pdf(10_000))
                .await
                .0,
            201
        );
    }
    let (status, body) = upload(&app, &sid, None, "a.pdf", "application/pdf", pdf(100)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("rate_limited")),
        "{body}"
    );
    // The same address into other sessions: its own budget (5 a minute; the refusal above
    // spent one too) runs out next.
    let s2 = app.open_session(&app.socket().await).await;
    let s3 = app.open_session(&app.socket().await).await;
    // s2 has 25,000 bytes of quota: 10,000 fit, then 20,000 more do not.
    assert_eq!(
        upload(&app, &s2, None, "b.pdf", "application/pdf", pdf(10_000))
            .await
            .0,
        201
    );
    let (status, body) = upload(&app, &s2, None, "c.pdf", "application/pdf", pdf(20_000)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (413, json!("quota_exceeded")),
        "{body}"
    );
    let (status, body) = upload(&app, &s3, None, "d.pdf", "application/pdf", pdf(100)).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (429, json!("rate_limited")),
        "{body}"
    );
}
both!(uploads_are_limited_per_session_per_ip_and_by_quota);

/// Uploads an image and a PDF, sends both, and returns their URLs.
async fn two_files_sent(app: &TestApp, visitor: &SioClient, sid: &str, token: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for (name, ct, bytes) in [
        ("a.png", "image/png", png(400, 300)),
        ("b.pdf", "application/pdf", pdf(300_000)),
    ] {
        let (status, att) = upload(app, sid, Some(token), name, ct, bytes).await;
        assert_eq!(status, 201, "{att}");
        let r = app
            .post(
                &format!("/api/chats/{sid}/messages"),
                Some(token),
                json!({ "attachmentId": att["id"] }),
            )
            .await;
        assert_eq!(r.status(), 201);
        urls.push(att["url"].as_str().expect("url").to_string());
    }
    let (status, att) = upload(
        app,
        sid,
        None,
        "c.txt",
        "text/plain",
        b"visitor's notes".to_vec(),
    )
    .await;
    assert_eq!(status, 201, "{att}");
    data(
        &visitor
            .ack(
                "user_message",
                json!({ "sessionId": sid, "attachmentId": att["id"] }),
            )
            .await,
        "visitor sends a text file",
    );
    urls.push(att["url"].as_str().expect("url").to_string());
    urls
}

async fn an_admins_erase_leaves_nothing_in_the_database(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, _agent, token) = chat(&app).await;
    let urls = two_files_sent(&app, &visitor, &sid, &token).await;
    let (rows, blobs) = stored_rows(&app).await;
    assert_eq!(rows, 3);
    assert!(blobs >= 5, "file chunks and a thumbnail: {blobs}"); // 300 KB is two chunks
    let r = app
        .http
        .delete(format!("{}/api/chats/{sid}", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    assert_eq!(stored_rows(&app).await, (0, 0));
    for url in &urls {
        assert_eq!(
            download(&app, url, As::Token(&token)).await.status(),
            404,
            "{url}"
        );
    }
    assert!(app.history(&sid).await.is_empty());
}
both!(an_admins_erase_leaves_nothing_in_the_database);

async fn an_admins_erase_leaves_nothing_in_the_directory(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().to_string_lossy().into_owned();
    let app = common::spawn_app_with(backend, |c| {
        c.attachment_store = Some(format!("dir:{path}"))
    })
    .await;
    let (visitor, sid, _agent, token) = chat(&app).await;
    // An attachment of another session, which must stay.
    let other = app.open_session(&app.socket().await).await;
    let (_, kept) = upload(
        &app,
        &other,
        None,
        "kept.txt",
        "text/plain",
        b"keep me".to_vec(),
    )
    .await;
    let urls = two_files_sent(&app, &visitor, &sid, &token).await;
    assert_eq!(
        files_in(dir.path()).len(),
        5,
        "three files and a thumbnail besides the kept one: {:?}",
        files_in(dir.path())
    );
    assert_eq!(
        stored_rows(&app).await,
        (4, 0),
        "nothing in the database store"
    );
    // The admin's clear_history on the socket: the same erase as REST DELETE.
    let admin = app.socket_as("/admin", &token).await;
    data(
        &admin
            .ack("clear_history", json!({ "sessionId": sid }))
            .await,
        "clear_history",
    );
    let kept_id = kept["id"].as_str().expect("id").to_string();
    assert_eq!(files_in(dir.path()), vec![kept_id]);
    assert_eq!(stored_rows(&app).await, (1, 0));
    for url in &urls {
        assert_eq!(
            download(&app, url, As::Token(&token)).await.status(),
            404,
            "{url}"
        );
    }
    assert_eq!(
        bytes_of(
            &app,
            kept["url"].as_str().expect("url"),
            As::SessionHeader(&other)
        )
        .await,
        b"keep me"
    );
}
both!(an_admins_erase_leaves_nothing_in_the_directory);

async fn a_visitors_clear_hides_attachments_from_the_visitor_only(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (visitor, sid, _agent, token) = chat(&app).await;
    let (_, att) = upload(&app, &sid, None, "a.png", "image/png", png(4, 4)).await;
    data(
        &visitor
            .ack(
                "user_message",
                json!({ "sessionId": sid, "attachmentId": att["id"] }),
            )
            .await,
        "send",
    );
    data(
        &visitor
            .ack("clear_history", json!({ "sessionId": sid }))
            .await,
        "visitor's clear",
    );
    let url = att["url"].as_str().expect("url");
    assert_eq!(
        download(&app, url, As::SessionHeader(&sid)).await.status(),
        404
    );
    assert_eq!(
        download(&app, &format!("{url}/thumbnail"), As::SessionHeader(&sid))
            .await
            .status(),
        404
    );
    assert_eq!(
        bytes_of(&app, url, As::Token(&token)).await,
        png(4, 4),
        "staff still read it"
    );
    let again = visitor
        .ack(
            "user_message",
            json!({ "sessionId": sid, "attachmentId": att["id"] }),
        )
        .await;
    assert_eq!(again["error"]["code"], "not_found", "{again}");
    // Stored everywhere still (nothing is deleted by a visitor).
    assert_eq!(stored_rows(&app).await.0, 1);
}
both!(a_visitors_clear_hides_attachments_from_the_visitor_only);

async fn files_are_kept_across_a_restart(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("dir:{}", dir.path().display());
    for store in [None, Some(store)] {
        let s = store.clone();
        let app = common::spawn_app_with(backend, move |c| c.attachment_store = s).await;
        let sid = app.open_session(&app.socket().await).await;
        let shot = png(33, 44);
        let (status, att) = upload(&app, &sid, None, "a.png", "image/png", shot.clone()).await;
        assert_eq!(status, 201);
        let url = att["url"].as_str().expect("url").to_string();
        let app = app.restart(move |c| c.attachment_store = store).await;
        assert_eq!(bytes_of(&app, &url, As::SessionHeader(&sid)).await, shot);
        let thumb = bytes_of(&app, &format!("{url}/thumbnail"), As::SessionHeader(&sid)).await;
        assert!(image::load_from_memory(&thumb).is_ok());
    }
}
both!(files_are_kept_across_a_restart);

async fn a_plain_websocket_visitor_sends_an_attachment_by_id(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| c.ws_allow_anonymous = true).await;
    let mut ws = Ws::connect(&format!("ws://127.0.0.1:{}/ws", app.port)).await;
    let hello = ws.next("session").await;
    let sid = hello["sessionId"].as_str().expect("sessionId").to_string();
    let token = app.admin_token().await;
    let agent = app.socket_as("/admin", &token).await;
    data(
        &agent.ack("join_session", json!({ "sessionId": sid })).await,
        "join",
    );
    let (_, att) = upload(
        &app,
        &sid,
        None,
        "notes.txt",
        "text/plain",
        b"line one\n".to_vec(),
    )
    .await;
    ws.send(json!({ "type": "chat", "attachmentId": att["id"] }))
        .await;
    let sent = ws.next("sent").await;
    assert_eq!(sent["content"], "notes.txt");
    let live = message_with_seq(&agent, &sent["seq"]).await;
    assert_eq!(live["attachment"], att);
    assert_eq!(live["type"], "file");
    // The agent answers with it; the /ws visitor hears it with the attachment.
    let r = app
        .post(
            &format!("/api/chats/{sid}/messages"),
            Some(&token),
            json!({ "attachmentId": att["id"] }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let heard = ws.next("message").await;
    assert_eq!(heard["attachment"], att, "{heard}");
    assert_eq!(heard["messageType"], "file");
}
both!(a_plain_websocket_visitor_sends_an_attachment_by_id);

/// The `s3` store against an S3-compatible server named by `TEST_S3_ENDPOINT` (with
/// `TEST_S3_BUCKET`, which must exist, and `TEST_S3_KEY` / `TEST_S3_SECRET`): ignored unless
/// asked for with `--ignored`, since no S3 server is part of the test set-up. Run against
/// moto's server (`moto_server`, see README "Attachments"), never against AWS itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an S3-compatible server: TEST_S3_ENDPOINT, TEST_S3_BUCKET"]
async fn the_s3_store_keeps_streams_serves_and_erases_files() {
    use futures::StreamExt;
    use object_store::ObjectStore;
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| panic!("{k} is needed"));
    let (endpoint, bucket) = (var("TEST_S3_ENDPOINT"), var("TEST_S3_BUCKET"));
    let key = std::env::var("TEST_S3_KEY").unwrap_or_else(|_| "test".into());
    let secret = std::env::var("TEST_S3_SECRET").unwrap_or_else(|_| "test".into());
    let prefix = format!("chatdesk-test-{}/", uuid::Uuid::new_v4().simple());
    let (e, b, k, s, p) = (
        endpoint.clone(),
        bucket.clone(),
        key.clone(),
        secret.clone(),
        prefix.clone(),
    );
    let app = common::spawn_app_with(Backend::Sqlite, move |c| {
        c.attachment_store = Some("s3".into());
        c.attachment_s3_endpoint = Some(e);
        c.attachment_s3_bucket = Some(b);
        c.attachment_s3_access_key_id = Some(k);
        c.attachment_s3_secret_access_key = Some(s);
        c.attachment_s3_prefix = p;
        c.attachment_s3_allow_http = true;
    })
    .await;
    let (visitor, sid, _agent, token) = chat(&app).await;
    // Over one 5 MiB part: a multipart upload of two parts.
    let big = pdf(6 * 1024 * 1024 + 123);
    let (status, file) = upload(&app, &sid, None, "big.pdf", "application/pdf", big.clone()).await;
    assert_eq!(status, 201, "{file}");
    let (status, shot) = upload(&app, &sid, None, "a.png", "image/png", png(500, 250)).await;
    assert_eq!(status, 201, "{shot}");
    data(
        &visitor
            .ack(
                "user_message",
                json!({ "sessionId": sid, "attachmentId": file["id"] }),
            )
            .await,
        "send",
    );
    assert_eq!(
        bytes_of(&app, file["url"].as_str().expect("url"), As::Token(&token)).await,
        big
    );
    let thumb = bytes_of(
        &app,
        shot["thumbnailUrl"].as_str().expect("thumb"),
        As::SessionHeader(&sid),
    )
    .await;
    assert!(image::load_from_memory(&thumb).is_ok());

    let store = object_store::aws::AmazonS3Builder::new()
        .with_endpoint(&endpoint)
        .with_bucket_name(&bucket)
        .with_access_key_id(&key)
        .with_secret_access_key(&secret)
        .with_region("us-east-1")
        .with_allow_http(true)
        .with_virtual_hosted_style_request(false)
        .build()
        .expect("a client of the test bucket");
    let listed = |store: object_store::aws::AmazonS3, prefix: String| async move {
        let path = object_store::path::Path::from(prefix);
        let mut names: Vec<String> = store
            .list(Some(&path))
            .map(|m| m.map(|m| m.location.to_string()).unwrap_or_default())
            .collect()
            .await;
        names.sort();
        names
    };
    assert_eq!(
        listed(store.clone(), prefix.clone()).await.len(),
        3,
        "two files and a thumbnail"
    );
    let r = app
        .http
        .delete(format!("{}/api/chats/{sid}", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .expect("DELETE");
    assert_eq!(r.status(), 200);
    assert_eq!(listed(store, prefix).await, Vec::<String>::new());
    assert_eq!(stored_rows(&app).await, (0, 0));
}

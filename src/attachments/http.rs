//! REST of attachments: `POST /api/chats/:sessionId/attachments` (multipart, field `file`),
//! `GET /api/attachments/:id` and `GET /api/attachments/:id/thumbnail`. Each handler
//! decodes, calls this capability, and encodes; the headers of a download are set here.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{StreamExt, TryStreamExt};
use serde::Deserialize;

use super::{Reader, Upload};
use crate::auth::http::{ClientIp, QueryParams};
use crate::auth::MaybeSignedIn;
use crate::error::{AppError, AppResult};
use crate::messages::types::{Attachment, Sender};
use crate::sessions::Caller;
use crate::state::AppState;

/// Room for the multipart framing and small fields around the file.
const MULTIPART_OVERHEAD: usize = 64 * 1024;

/// The routes; an upload's body may be `max_attachment_bytes` and its framing (every other
/// request keeps `MAX_PAYLOAD_BYTES`).
pub fn router(max_attachment_bytes: u64) -> Router<AppState> {
    let body_limit = usize::try_from(max_attachment_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(MULTIPART_OVERHEAD);
    Router::new()
        .route(
            "/api/chats/{session_id}/attachments",
            post(upload).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route("/api/attachments/{id}", get(download))
        .route("/api/attachments/{id}/thumbnail", get(thumbnail))
}

/// A multipart error: past the body limit it is the file that is too large.
fn multipart_error(
    state: &AppState,
) -> impl Fn(axum::extract::multipart::MultipartError) -> AppError + '_ {
    move |e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::AttachmentTooLarge {
                max: state.attachments.max_bytes,
            }
        } else {
            AppError::InvalidPayload(format!("multipart body: {}", e.body_text()))
        }
    }
}

/// `POST /api/chats/:sessionId/attachments` (multipart/form-data, the file in field `file`):
/// stores the file and answers the attachment (201), which a message then names by
/// `attachmentId`. Allowed to whoever may write in the session: its visitor (the session
/// id in the path is the capability, as on the socket), its customer (bearer token), staff.
/// Upload a file into a session (multipart field `file`); answers `{id, name, contentType, size, url, width?, height?, thumbnailUrl?}`.
#[utoipa::path(post, path = "/api/chats/{session_id}/attachments", tag = "attachments", params(("session_id" = String, Path, description = "public session id")), request_body(content_type = "multipart/form-data", description = "field `file`: the file"), responses((status = 201, description = "the attachment"), (status = 400, description = "no `file` field, or an empty file"), (status = 403, description = "the session belongs to someone else"), (status = 404, description = "unknown session"), (status = 413, description = "`attachment_too_large` (MAX_ATTACHMENT_BYTES) or `quota_exceeded` (the session's quota)"), (status = 415, description = "`attachment_type_refused`: the bytes are not of an accepted type"), (status = 429, description = "`rate_limited`, per IP or per session")))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    MaybeSignedIn(identity): MaybeSignedIn,
    ClientIp(ip): ClientIp,
    Path(session_id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<(StatusCode, Json<Attachment>)> {
    let caller = Caller {
        identity,
        verified: None,
    };
    let session = crate::sessions::reach(&state.db, &caller, &session_id).await?;
    state.limits.upload(&ip, &session.id)?;
    let mut multipart = multipart.map_err(|e| AppError::InvalidPayload(e.body_text()))?;
    let too_large = multipart_error(&state);
    loop {
        let Some(field) = multipart.next_field().await.map_err(&too_large)? else {
            return Err(AppError::InvalidPayload(
                "the multipart field `file` is required".into(),
            ));
        };
        if field.name() != Some("file") {
            continue; // other fields are read past (the body limit bounds them)
        }
        let name = field.file_name().map(str::to_string);
        let declared = field.content_type().map(str::to_string);
        let upload = Upload {
            session: &session,
            side: if caller.is_staff() {
                Sender::Admin
            } else {
                Sender::User
            },
            uploader_id: caller.identity.as_ref().map(|i| i.account_id.clone()),
            name: name.as_deref(),
            declared_type: declared.as_deref(),
        };
        let body = field.map_err(&too_large).boxed();
        let attachment = super::upload(&state, upload, body).await?;
        return Ok((StatusCode::CREATED, Json(attachment)));
    }
}

/// How a visitor names its session on a download (a header is kept out of logs and
/// history; the query form is for `<img src>` and links).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DownloadQuery {
    #[serde(default)]
    session_id: Option<String>,
}

/// The header a visitor names its session with.
pub const SESSION_HEADER: &str = "x-session-id";

/// `GET /api/attachments/:id`: the file, for whoever may read its session (staff and
/// customers by token, a visitor by its session id in `X-Session-Id` or `?sessionId=`).
/// Download an attachment (token, or the visitor's session id in `X-Session-Id` / `?sessionId=`).
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "attachments", params(("id" = String, Path, description = "attachment id"), ("sessionId" = Option<String>, Query, description = "the visitor's session id (or header X-Session-Id)")), responses((status = 200, description = "the bytes; `Content-Disposition: attachment` except PNG, JPEG, GIF, WebP (inline); `X-Content-Type-Options: nosniff`; `Content-Security-Policy: default-src 'none'; sandbox`; `Cache-Control: private`; `ETag`"), (status = 304, description = "`If-None-Match` matched"), (status = 401, description = "no token and no session id"), (status = 404, description = "unknown, or not readable by this caller")))]
pub(crate) async fn download(
    State(state): State<AppState>,
    MaybeSignedIn(identity): MaybeSignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<DownloadQuery>,
) -> AppResult<Response> {
    serve(&state, identity, &id, &headers, q, false).await
}

/// `GET /api/attachments/:id/thumbnail`: an image's thumbnail (at most 320 pixels a side),
/// for the same readers as the file.
/// An image attachment's thumbnail (same access as the file).
#[utoipa::path(get, path = "/api/attachments/{id}/thumbnail", tag = "attachments", params(("id" = String, Path, description = "attachment id"), ("sessionId" = Option<String>, Query, description = "the visitor's session id (or header X-Session-Id)")), responses((status = 200, description = "a PNG or JPEG, inline, with the download's headers"), (status = 404, description = "not an image, unknown, or not readable by this caller")))]
pub(crate) async fn thumbnail(
    State(state): State<AppState>,
    MaybeSignedIn(identity): MaybeSignedIn,
    Path(id): Path<String>,
    headers: HeaderMap,
    QueryParams(q): QueryParams<DownloadQuery>,
) -> AppResult<Response> {
    serve(&state, identity, &id, &headers, q, true).await
}

async fn serve(
    state: &AppState,
    identity: Option<crate::auth::Identity>,
    id: &str,
    headers: &HeaderMap,
    q: DownloadQuery,
    thumb: bool,
) -> AppResult<Response> {
    let caller = Caller {
        identity,
        verified: None,
    };
    let session_id = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.session_id);
    let reader = Reader {
        caller: &caller,
        session_id: session_id.as_deref(),
    };
    let a = super::readable(state, id, reader).await?;
    let (key, content_type, length, etag) = if thumb {
        let (Some(key), Some(ct)) = (a.thumb_key.clone(), a.thumb_content_type.clone()) else {
            return Err(AppError::NotFound(
                "this attachment has no thumbnail".into(),
            ));
        };
        (key, ct, None, format!("\"{}-thumb\"", a.id))
    } else {
        (
            a.store_key.clone(),
            a.content_type.clone(),
            Some(a.size),
            format!("\"{}\"", a.id),
        )
    };
    let mut out = HeaderMap::new();
    set(&mut out, header::ETAG, etag.clone());
    set(
        &mut out,
        header::CACHE_CONTROL,
        format!("private, max-age={}", state.attachments.cache_secs),
    );
    set(&mut out, header::VARY, "Authorization, X-Session-Id".into());
    set(&mut out, header::X_CONTENT_TYPE_OPTIONS, "nosniff".into());
    set(
        &mut out,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; sandbox".into(),
    );
    let name = if thumb {
        format!("thumbnail-{}", a.name)
    } else {
        a.name.clone()
    };
    set(
        &mut out,
        header::CONTENT_DISPOSITION,
        super::types::content_disposition(&content_type, &name),
    );
    let not_modified = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| {
            given
                .split(',')
                .any(|t| t.trim() == etag || t.trim() == "*")
        });
    if not_modified {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let shown_type = if content_type == super::types::TEXT_PLAIN {
        "text/plain; charset=utf-8".to_string()
    } else {
        content_type
    };
    set(&mut out, header::CONTENT_TYPE, shown_type);
    if let Some(n) = length {
        set(&mut out, header::CONTENT_LENGTH, n.to_string());
    }
    let bytes = state.attachments.store.get(&key).await?;
    Ok((StatusCode::OK, out, Body::from_stream(bytes)).into_response())
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: String) {
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(name, v);
    }
}

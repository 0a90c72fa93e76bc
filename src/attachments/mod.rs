//! Attachments: files that visitors and staff send in a conversation (issue 19).
//!
//! A file is uploaded first (`POST /api/chats/:sessionId/attachments`, multipart field
//! `file`), by anyone who may write in the session; the answer is the attachment
//! (`messages::types::Attachment`), which a following `user_message` / `admin_message` /
//! REST message / `/ws` chat frame names by `attachmentId` (the conversation core finds it,
//! [`for_message`]). The message's type follows the file's content type.
//!
//! An upload streams: its first [`types::SNIFF_BYTES`] tell its type (from the bytes,
//! [`types::sniff`]), then the bytes go to the store ([`store::BlobStore`]) as they arrive,
//! counted against `MAX_ATTACHMENT_BYTES` and the session's quota; past either, the upload
//! stops and nothing stays stored. An image is then read back once to learn its size and
//! make its thumbnail ([`thumbnail`]), kept in the store beside it.
//!
//! A download (`GET /api/attachments/:id`, `/thumbnail`) is for whoever may read the
//! session ([`readable`]). Erasing a conversation for everyone removes its files, then
//! their rows ([`erase_session`]); a visitor's clear hides them from the visitor only.
//!
//! Below: `sessions` (who may reach a session), `auth`, `edge` (rate limits), `messages`
//! (the wire type). Above: the conversation core and the desk, which call in here.

pub mod http;
pub mod service;
pub mod store;
pub mod thumbnail;
pub mod types;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use crate::error::{AppError, AppResult};
use crate::messages::types::{Attachment, AttachmentId, Sender};
use crate::sessions::Caller;
use crate::state::AppState;
use store::{BlobStore, ByteStream};

/// An upload still `pending` after this long was cut short (a crash): the sweep removes it.
pub const PENDING_TTL: Duration = Duration::from_secs(3600);

/// Thumbnails made at once (each holds a whole image, decoded, in memory).
const THUMBNAILS_AT_ONCE: usize = 2;

/// The configured store and limits.
pub struct Attachments {
    pub store: Arc<dyn BlobStore>,
    pub max_bytes: u64,
    pub session_quota: u64,
    pub cache_secs: u64,
    thumbnails: tokio::sync::Semaphore,
}

impl Attachments {
    pub async fn from_config(
        config: &crate::config::Config,
        db: &sea_orm::DatabaseConnection,
    ) -> anyhow::Result<Arc<Self>> {
        let store = store::from_config(config, db).await?;
        if store.name() == "s3" {
            tracing::warn!(
                "ATTACHMENT_STORE=s3: attachments go to an S3-compatible bucket; chatdesk's \
                 tests do not run against a real S3 service"
            );
        }
        Ok(Arc::new(Attachments {
            store,
            max_bytes: config.max_attachment_bytes.max(1),
            session_quota: config.attachment_session_quota_bytes,
            cache_secs: config.attachment_cache_secs,
            thumbnails: tokio::sync::Semaphore::new(THUMBNAILS_AT_ONCE),
        }))
    }
}

/// The wire object of a ready attachment.
pub fn wire(m: &entity::attachment::Model) -> Attachment {
    let url = format!("/api/attachments/{}", m.id);
    Attachment {
        id: m.id.clone(),
        name: m.name.clone(),
        content_type: m.content_type.clone(),
        size: m.size,
        thumbnail_url: m.thumb_key.as_ref().map(|_| format!("{url}/thumbnail")),
        url,
        width: m.width.and_then(|w| u32::try_from(w).ok()),
        height: m.height.and_then(|h| u32::try_from(h).ok()),
    }
}

/// An upload as the adapter received it.
pub struct Upload<'a> {
    pub session: &'a entity::chat_session::Model,
    /// The side that uploads (`user`: the visitor or customer; `admin`: staff).
    pub side: Sender,
    pub uploader_id: Option<String>,
    /// The file name and content type the client declared (the type is only a hint: a file
    /// declared as an image must be one).
    pub name: Option<&'a str>,
    pub declared_type: Option<&'a str>,
}

/// Stores an upload streamed in `body` and returns the ready attachment. Refusals:
/// `invalid_payload` (empty), `attachment_type_refused`, `attachment_too_large`,
/// `quota_exceeded`; nothing is left stored after any of them.
pub async fn upload(
    state: &AppState,
    u: Upload<'_>,
    mut body: ByteStream<'_>,
) -> AppResult<Attachment> {
    let atts = &state.attachments;
    let mut prefix = BytesMut::new();
    while prefix.len() < types::SNIFF_BYTES {
        match body.next().await {
            Some(chunk) => prefix.extend_from_slice(&chunk?),
            None => break,
        }
    }
    if prefix.is_empty() {
        return Err(AppError::InvalidPayload("the file is empty".into()));
    }
    let content_type = match types::sniff(&prefix, u.declared_type) {
        Ok(t) => t,
        Err(e) => {
            drain(body).await;
            return Err(e);
        }
    };
    let held = u64::try_from(service::bytes_held(&state.db, &u.session.id).await?).unwrap_or(0);
    let room = atts.session_quota.saturating_sub(held);
    if room == 0 {
        drain(body).await;
        return Err(AppError::QuotaExceeded {
            quota: atts.session_quota,
        });
    }
    let id = types::new_id();
    service::insert_pending(
        &state.db,
        service::NewUpload {
            id: id.clone(),
            session_pk: u.session.id.clone(),
            name: types::clean_name(u.name),
            content_type: content_type.into(),
            store: atts.store.name(),
            uploader: u.side.as_str(),
            uploader_id: u.uploader_id,
        },
    )
    .await?;
    let whole = futures::stream::once(async move { Ok(prefix.freeze()) }).chain(body);
    let limits = Limits {
        max: atts.max_bytes,
        room,
        quota: atts.session_quota,
    };
    let stored =
        match store_and_describe(state, &id, content_type, limited(whole.boxed(), limits)).await {
            Ok(done) => done,
            Err(e) => {
                forget(state, &id).await;
                return Err(e);
            }
        };
    if !service::finish(&state.db, &id, stored).await? {
        forget(state, &id).await;
        return Err(AppError::NotFound(
            "the conversation was erased during the upload".into(),
        ));
    }
    let ready = service::find_ready(&state.db, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("attachment not found".into()))?;
    Ok(wire(&ready))
}

/// Writes the bytes, then, for an image, learns its size and stores its thumbnail.
async fn store_and_describe(
    state: &AppState,
    id: &str,
    content_type: &'static str,
    bytes: ByteStream<'_>,
) -> AppResult<service::Finished> {
    let atts = &state.attachments;
    let size = atts.store.put(id, bytes).await?;
    let mut done = service::Finished {
        size: i64::try_from(size).unwrap_or(i64::MAX),
        width: None,
        height: None,
        thumb: None,
    };
    if types::is_inline(content_type) {
        let thumb = make_thumbnail(state, id, size).await?;
        let key = format!("{id}.thumb");
        let data = Bytes::from(thumb.data);
        atts.store
            .put(&key, futures::stream::once(async move { Ok(data) }).boxed())
            .await?;
        done.width = i32::try_from(thumb.width).ok();
        done.height = i32::try_from(thumb.height).ok();
        done.thumb = Some((key, thumb.content_type));
    }
    Ok(done)
}

/// Reads an image back (at most `size` bytes) and makes its thumbnail, a few at a time.
async fn make_thumbnail(state: &AppState, id: &str, size: u64) -> AppResult<thumbnail::Thumbnail> {
    let atts = &state.attachments;
    let _turn = atts
        .thumbnails
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.into()))?;
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    let mut stream = atts.store.get(id).await?;
    while let Some(chunk) = stream.next().await {
        data.extend_from_slice(&chunk?);
    }
    tokio::task::spawn_blocking(move || thumbnail::make(&data))
        .await
        .map_err(|e| AppError::Internal(e.into()))?
}

/// How far an upload may go.
#[derive(Clone, Copy)]
struct Limits {
    max: u64,
    /// What the session's quota leaves.
    room: u64,
    quota: u64,
}

/// `bytes`, cut with `attachment_too_large` past `max` or `quota_exceeded` past `room`.
/// The rest of the request body is read (and dropped) before the error is given, so that
/// the client, still sending, reads the refusal instead of a reset connection; the
/// request's body limit bounds that.
fn limited(bytes: ByteStream<'_>, l: Limits) -> ByteStream<'_> {
    futures::stream::unfold(
        (bytes, 0u64, false),
        move |(mut inner, seen, done)| async move {
            if done {
                return None;
            }
            match inner.next().await {
                None => None,
                Some(Err(e)) => Some((Err(e), (inner, seen, true))),
                Some(Ok(chunk)) => {
                    let seen = seen + chunk.len() as u64;
                    if seen <= l.max.min(l.room) {
                        return Some((Ok(chunk), (inner, seen, false)));
                    }
                    let refusal = if seen > l.max {
                        AppError::AttachmentTooLarge { max: l.max }
                    } else {
                        AppError::QuotaExceeded { quota: l.quota }
                    };
                    while let Some(Ok(_)) = inner.next().await {}
                    Some((Err(refusal), (inner, seen, true)))
                }
            }
        },
    )
    .boxed()
}

/// Reads what is left of a refused upload (see [`limited`]).
async fn drain(mut body: ByteStream<'_>) {
    while let Some(Ok(_)) = body.next().await {}
}

/// Removes an upload that did not complete: its bytes, its thumbnail, its row.
async fn forget(state: &AppState, id: &str) {
    for key in [id.to_string(), format!("{id}.thumb")] {
        if let Err(e) = state.attachments.store.delete(&key).await {
            tracing::warn!(error = %e, key, "could not remove a refused upload's bytes");
        }
    }
    if let Err(e) = service::delete(&state.db, vec![id.to_string()]).await {
        tracing::warn!(error = %e, id, "could not remove a refused upload's row");
    }
}

/// The attachment a message in session `session_pk` names, written by `side`: it must be
/// ready, belong to that session, and (for the visitor side) not be hidden from the
/// visitor. Anything else is `not_found`.
pub async fn for_message(
    state: &AppState,
    session_pk: &str,
    side: Sender,
    id: &AttachmentId,
) -> AppResult<Attachment> {
    let found = service::find_ready(&state.db, id.as_str())
        .await?
        .filter(|a| a.chat_session_id == session_pk)
        .filter(|a| side == Sender::Admin || !a.visitor_hidden);
    found
        .map(|a| wire(&a))
        .ok_or_else(|| AppError::NotFound("attachment not found in this conversation".into()))
}

/// Who asks for a download: a token's identity, and the session id a visitor presents.
pub struct Reader<'a> {
    pub caller: &'a Caller,
    pub session_id: Option<&'a str>,
}

/// The attachment `id`, if `reader` may read its session: staff always; a customer (or
/// verified visitor) their own session's; anyone presenting an anonymous session's id
/// (its capability), that session's. Not for the visitor side once the visitor cleared it.
/// No credential at all is `unauthorized`; any other refusal is `not_found` (an id that
/// exists tells a stranger nothing more than one that does not).
pub async fn readable(
    state: &AppState,
    id: &str,
    reader: Reader<'_>,
) -> AppResult<entity::attachment::Model> {
    let staff = reader.caller.is_staff();
    if reader.caller.identity.is_none() && reader.session_id.is_none() {
        return Err(AppError::Unauthorized(
            "a token (Authorization: Bearer) or the session id (X-Session-Id or ?sessionId=) \
             is needed"
                .into(),
        ));
    }
    let not_found = || AppError::NotFound("attachment not found".into());
    let a = service::find_ready(&state.db, id)
        .await?
        .ok_or_else(not_found)?;
    if staff {
        return Ok(a);
    }
    let session = crate::sessions::service::find_by_pk(&state.db, &a.chat_session_id)
        .await?
        .ok_or_else(not_found)?;
    let owned = session.customer_id.is_some() || session.visitor_identity.is_some();
    let allowed = if owned {
        reader.caller.can_access(&session)
    } else {
        reader
            .session_id
            .is_some_and(|given| given.trim().eq_ignore_ascii_case(&session.session_id))
    };
    if !allowed || a.visitor_hidden {
        return Err(not_found());
    }
    Ok(a)
}

/// Erases every attachment of a session, for everyone: the files first, then the rows (a
/// failure leaves rows to retry with, never a file without its row). Returns how many.
pub async fn erase_session(state: &AppState, session_pk: &str) -> AppResult<u64> {
    let store = &state.attachments.store;
    let mut erased = Vec::new();
    for a in service::of_session(&state.db, session_pk).await? {
        if a.store != store.name() {
            tracing::warn!(id = %a.id, store = %a.store, "attachment kept: it is in another store than ATTACHMENT_STORE");
            continue;
        }
        store.delete(&a.store_key).await?;
        if let Some(thumb) = &a.thumb_key {
            store.delete(thumb).await?;
        }
        erased.push(a.id);
    }
    service::delete(&state.db, erased).await
}

/// Hides every attachment the session has now from its visitor (the visitor's own clear).
pub async fn hide_from_visitor(state: &AppState, session_pk: &str) -> AppResult<u64> {
    service::hide_from_visitor(&state.db, session_pk).await
}

/// Removes uploads cut short (pending for longer than [`PENDING_TTL`]) and what the store
/// left of interrupted writes. Run periodically.
pub async fn sweep(state: &AppState) {
    let before = chrono::Utc::now() - PENDING_TTL;
    match service::stale_pending(&state.db, before).await {
        Ok(stale) => {
            for a in stale {
                forget(state, &a.id).await;
            }
        }
        Err(e) => tracing::debug!(error = %e, "attachment sweep failed"),
    }
    state.attachments.store.sweep().await;
}

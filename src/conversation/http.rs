//! REST of a conversation: `GET /api/chats/:sessionId` (its messages, in order) and
//! `POST /api/chats/:sessionId/messages` (staff send). Each handler decodes, calls the
//! conversation core, and encodes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};

use super::{Outgoing, SessionRef, Viewer};
use crate::auth::http::{JsonBody, QueryParams};
use crate::auth::{MaybeSignedIn, Staff};
use crate::error::{AppError, AppResult};
use crate::messages::types::{ClientMsgId, Media, MessageDto, Sender};
use crate::sessions::service as sessions;
use crate::sessions::Caller;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chats/{session_id}", get(get_chat))
        .route("/api/chats/{session_id}/messages", post(post_message))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryQuery {
    pub after_seq: Option<i64>,
    pub limit: Option<u64>,
}

/// `GET /api/chats/:sessionId`: one page of that session's messages in `seq` order (`[]` if
/// unknown). The seed's unpaged form gets the first page too: at most `HISTORY_LIMIT`
/// messages and `RESPONSE_MAX_BYTES` of content. When more follow, the `X-Next-After`
/// header holds the last `seq` returned: ask again with `?afterSeq=` that value.
///
/// Who may read: as on the socket ([`Caller::can_access`]): an anonymous session by its id,
/// a customer's (or verified visitor's) session by that customer or staff; otherwise 403.
/// A visitor's read starts after the point where the visitor cleared the history.
/// A session's messages in seq order (`[]` when unknown). Query: afterSeq, limit. `X-Next-After` header: the afterSeq of the next page.
#[utoipa::path(get, path = "/api/chats/{session_id}", tag = "chats", params(("session_id" = String, Path, description = "public session id")), responses((status = 200, description = "array of messages; `X-Next-After` when more follow"), (status = 403, description = "the session belongs to someone else")))]
pub(crate) async fn get_chat(
    State(state): State<AppState>,
    MaybeSignedIn(identity): MaybeSignedIn,
    Path(session_id): Path<String>,
    QueryParams(q): QueryParams<HistoryQuery>,
) -> AppResult<(HeaderMap, Json<Vec<MessageDto>>)> {
    let Some(session) = sessions::find_by_session_id(&state.db, &session_id).await? else {
        return Ok((HeaderMap::new(), Json(Vec::new())));
    };
    let caller = Caller {
        identity,
        verified: None,
    };
    // The operator's legacy open mode lets tokenless consoles read, as on the staff endpoints.
    let legacy_console = caller.identity.is_none() && state.config.insecure_open_admin;
    if !caller.can_access(&session) && !legacy_console {
        return Err(AppError::Forbidden(
            "this session belongs to someone else".into(),
        ));
    }
    let viewer = Viewer::of(&caller);
    let page = super::missed(&state, &session, viewer, q.after_seq.unwrap_or(0), q.limit).await?;
    let mut headers = HeaderMap::new();
    if let (true, Some(last)) = (page.has_more, page.messages.last()) {
        headers.insert("x-next-after", last.seq.into());
    }
    Ok((headers, Json(page.dtos(&session.session_id))))
}

/// The body of `POST /api/chats/:sessionId/messages`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostMessage {
    /// Required: absent or null is refused with [`CONTENT_RULE`].
    #[serde(default, deserialize_with = "content")]
    content: Option<String>,
    #[serde(default)]
    client_msg_id: Option<ClientMsgId>,
    /// `type` and `fileUrl`, or `attachmentId`; a file message may come without `content`.
    #[serde(flatten)]
    media: Media,
    /// A private note: staff only, never shown to the visitor.
    #[serde(default)]
    private: bool,
}

const CONTENT_RULE: &str = "content must be a string";

fn content<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d).map_err(|_| serde::de::Error::custom(CONTENT_RULE))
}

/// `POST /api/chats/:sessionId/messages {content, clientMsgId?, type?, fileUrl?,
/// attachmentId?, private?}`: send as an agent (`type` image, file, audio or video needs
/// `fileUrl`, an https: URL or a path on this server; or `attachmentId` names a file uploaded
/// to this session, whose content type gives the type; `content` may then be left out;
/// `private: true` makes it a private note).
/// Send as an agent: `{content, clientMsgId?, type?, fileUrl?, attachmentId?, private?}`.
#[utoipa::path(post, path = "/api/chats/{session_id}/messages", tag = "chats", params(("session_id" = String, Path, description = "public session id")), security(("bearer" = [])), responses((status = 201, description = "the stored message"), (status = 200, description = "a retry: the message stored earlier with this clientMsgId"), (status = 400, description = "malformed session id or content"), (status = 404, description = "unknown session")))]
pub(crate) async fn post_message(
    State(state): State<AppState>,
    Staff(me): Staff,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<MessageDto>)> {
    let session = sessions::get_by_session_id(&state.db, &id).await?;
    let body: PostMessage = body.read()?;
    let content = match body.content {
        Some(c) => c,
        None if body.media.file_url.is_some() || body.media.attachment_id.is_some() => {
            String::new()
        }
        None => return Err(AppError::InvalidPayload(CONTENT_RULE.into())),
    };
    let draft = super::Draft::new(content, body.media, state.config.max_content_length)?;
    let (content, media) = super::compose(&state, &session.id, Sender::Admin, draft).await?;
    let out = if body.private {
        Outgoing::private_note(SessionRef::from(&session), content, &me)
    } else {
        Outgoing::staff(SessionRef::from(&session), content, &me)
    };
    let out = out.with_client_msg_id(body.client_msg_id).with_media(media);
    let stored = super::send(&state, out, None).await?;
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored.message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn message_bodies_keep_their_refusals() {
        assert_eq!(
            JsonBody::refusal::<PostMessage>(json!({ "content": 5 })),
            "content must be a string"
        );
        assert_eq!(
            JsonBody::refusal::<PostMessage>(json!({ "content": "x", "clientMsgId": 1.5 })),
            ClientMsgId::RULE
        );
        let ok = JsonBody(json!({ "content": "x", "clientMsgId": 7 }))
            .read::<PostMessage>()
            .ok()
            .map(|b| (b.content, b.client_msg_id.map(ClientMsgId::into_inner)));
        assert_eq!(ok, Some((Some("x".into()), Some("7".into()))));
        let missing = JsonBody(json!({})).read::<PostMessage>().ok();
        assert_eq!(missing.map(|b| b.content), Some(None));
        assert!(JsonBody::refusal::<PostMessage>(
            json!({ "type": "image", "fileUrl": "http://x.example/a" })
        )
        .starts_with("fileUrl must be"));
        let file = JsonBody(json!({ "type": "file", "fileUrl": "/f/a.pdf" }))
            .read::<PostMessage>()
            .ok()
            .map(|b| (b.content, b.media.kind));
        assert_eq!(
            file,
            Some((None, crate::messages::types::MessageKind::File))
        );
    }
}

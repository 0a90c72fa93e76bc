//! Wire shape of a message: the seed app's six fields, plus `seq`, `sessionId`, `type`,
//! (when the client gave one) `clientMsgId`, `fileUrl` for a message that carries a
//! file, and `attachment` for a file uploaded to this server ([`Attachment`]). Also the one
//! rule for a message's type and file ([`Media`]).

use std::borrow::Cow;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};

/// A client's own id for a message, which makes a retried send exactly-once: a non-empty
/// string of at most 128 characters without NUL, or an integer (kept as its decimal text).
/// The one definition of this rule, for every protocol (socket.io, REST, the plain WebSocket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    /// What a refused id is told.
    pub const RULE: &'static str =
        "clientMsgId must be a non-empty string of at most 128 characters, or an integer";

    /// `clientMsgId` as a JSON value: absent or null is none.
    pub fn from_json(v: Option<&serde_json::Value>) -> crate::error::AppResult<Option<Self>> {
        use serde_json::Value;
        let refused = || crate::error::AppError::InvalidPayload(Self::RULE.into());
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Self::parse(s).map(Some).ok_or_else(refused),
            Some(Value::Number(n)) if n.is_i64() || n.is_u64() => Ok(Some(Self(n.to_string()))),
            Some(_) => Err(refused()),
        }
    }

    fn parse(s: &str) -> Option<Self> {
        (!s.is_empty() && s.chars().count() <= 128 && !s.contains('\0')).then(|| Self(s.into()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl<'de> Deserialize<'de> for ClientMsgId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        ClientMsgId::from_json(Some(&v))
            .ok()
            .flatten()
            .ok_or_else(|| serde::de::Error::custom(ClientMsgId::RULE))
    }
}

/// Who wrote a message, from the conversation's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sender {
    User,
    Admin,
}

impl Sender {
    pub fn as_str(self) -> &'static str {
        match self {
            Sender::User => "user",
            Sender::Admin => "admin",
        }
    }
}

/// A message as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageDto {
    pub id: String,
    pub sender: String,
    pub content: String,
    pub created_at: String,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    pub chat_session_id: String,
    pub seq: i64,
    pub session_id: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_msg_id: Option<String>,
    /// Present (true) only on an assistant reply that was cut short.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub interrupted: bool,
    /// The account that wrote it, when one did as staff (absent for the visitor side and
    /// the assistant).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_id: Option<String>,
    /// `text`, `image`, `file`, `audio` or `video`; always sent (a room event written before
    /// the type existed reads as `text`).
    #[serde(rename = "type", default)]
    pub kind: MessageKind,
    /// The file of a non-text message; absent on text messages.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_url: Option<String>,
    /// A private note (staff only): always sent, `false` on every message a visitor sees.
    #[serde(default)]
    pub private: bool,
    /// The display name of the staff member who wrote it ("Anna"), as it was then; absent
    /// for the visitor's side, the assistant and legacy consoles.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub author_name: Option<String>,
    /// The uploaded file it carries (then `fileUrl` is its `url`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub attachment: Option<Attachment>,
    /// What produced an automatic message (`isAI: true`): `llm`, `kb` or `rule`; absent on
    /// people's messages.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<AiSource>,
}

/// What produced an automatic message: a model (`llm`), a knowledge-base article (`kb`), or
/// an auto-reply rule (`rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AiSource {
    Llm,
    Kb,
    Rule,
}

impl AiSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AiSource::Llm => "llm",
            AiSource::Kb => "kb",
            AiSource::Rule => "rule",
        }
    }

    /// The stored column's value (unknown values read as none).
    pub fn stored(s: Option<&str>) -> Option<Self> {
        match s? {
            "llm" => Some(AiSource::Llm),
            "kb" => Some(AiSource::Kb),
            "rule" => Some(AiSource::Rule),
            _ => None,
        }
    }
}

impl MessageDto {
    pub fn from_model(m: entity::message::Model, session_id: &str) -> Self {
        MessageDto {
            id: m.id,
            sender: m.sender,
            content: m.content,
            created_at: format_ts(&m.created_at),
            is_ai: m.is_ai,
            chat_session_id: m.chat_session_id,
            seq: m.seq,
            session_id: session_id.to_string(),
            client_msg_id: m.client_msg_id,
            interrupted: m.interrupted,
            author_id: m.author_id,
            kind: MessageKind::stored(&m.kind),
            file_url: m.file_url,
            private: m.private,
            author_name: m.author_name,
            attachment: Attachment::stored(m.attachment.as_deref()),
            source: AiSource::stored(m.source.as_deref()),
        }
    }
}

/// A file uploaded to this server, as messages carry it and as the upload answers it
/// (`POST /api/chats/:sessionId/attachments`): `{id, name, contentType, size, url, width?,
/// height?, thumbnailUrl?}`. `contentType` is read from the bytes, never taken from the
/// client; `width` and `height` (pixels) and `thumbnailUrl` are given for images only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// `/api/attachments/:id`: staff and customers read it with their token, a visitor
    /// with its session id (`X-Session-Id` header or `?sessionId=`).
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub thumbnail_url: Option<String>,
}

impl Attachment {
    /// The copy a stored message keeps (`messages.attachment`); anything unreadable is none.
    pub fn stored(json: Option<&str>) -> Option<Self> {
        serde_json::from_str(json?).ok()
    }

    /// The JSON kept with a message.
    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The message type of a file of this content type.
    pub fn kind(&self) -> MessageKind {
        MessageKind::of_content_type(&self.content_type)
    }
}

/// What a message is: text (the default), or a file of some kind at its `fileUrl`. The
/// seed 002 schema's `messages.type`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    #[default]
    Text,
    Image,
    File,
    Audio,
    Video,
}

impl MessageKind {
    /// What a refused type is told.
    pub const RULE: &'static str =
        "the message type must be one of text, image, file, audio, video";

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Text => "text",
            MessageKind::Image => "image",
            MessageKind::File => "file",
            MessageKind::Audio => "audio",
            MessageKind::Video => "video",
        }
    }

    /// The kind a client names (exactly, lowercase), if it is one.
    pub fn parse(s: &str) -> Option<Self> {
        [
            MessageKind::Text,
            MessageKind::Image,
            MessageKind::File,
            MessageKind::Audio,
            MessageKind::Video,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// The type of a message carrying a file of `content_type`: `image/*`, `audio/*`,
    /// `video/*` by their names, anything else `file`.
    pub fn of_content_type(content_type: &str) -> Self {
        match content_type.split('/').next() {
            Some("image") => MessageKind::Image,
            Some("audio") => MessageKind::Audio,
            Some("video") => MessageKind::Video,
            _ => MessageKind::File,
        }
    }

    /// The kind of a stored row (only this module writes the column; anything else reads
    /// as `text`).
    pub fn stored(s: &str) -> Self {
        Self::parse(s).unwrap_or_default()
    }
}

/// Longest `fileUrl` accepted, in bytes.
pub const MAX_FILE_URL: usize = 2048;

/// The URL of a message's file: an absolute `https://` URL with a host (no user name or
/// password in it), or a path on this server (`/uploads/a.png`; not `//host/...`, which a
/// browser reads as another host). At most [`MAX_FILE_URL`] bytes, without whitespace,
/// control characters or backslashes (which browsers read as slashes). Kept as the client
/// wrote it. Nothing else (`javascript:`, `data:`, `http:`, relative paths) can reach a
/// stored message, so the console and the widget can link to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileUrl(String);

impl FileUrl {
    /// What a refused URL is told.
    pub const RULE: &'static str = "fileUrl must be an https:// URL or a path on this server \
        starting with a single /, of at most 2048 characters, without spaces or control characters";

    pub fn parse(s: &str) -> Option<Self> {
        let plain = !s.is_empty()
            && s.len() <= MAX_FILE_URL
            && !s.contains('\\')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control());
        (plain && (Self::same_server(s) || Self::https(s))).then(|| FileUrl(s.to_string()))
    }

    /// A path on this server: joined to any base, it stays on that base's host.
    fn same_server(s: &str) -> bool {
        const BASE: &str = "https://this-server.invalid/";
        s.starts_with('/')
            && !s.starts_with("//")
            && url::Url::parse(BASE)
                .and_then(|base| base.join(s))
                .is_ok_and(|u| u.host_str() == Some("this-server.invalid"))
    }

    fn https(s: &str) -> bool {
        s.get(..8)
            .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
            && url::Url::parse(s).is_ok_and(|u| {
                u.scheme() == "https"
                    && u.host_str().is_some_and(|h| !h.is_empty())
                    && u.username().is_empty()
                    && u.password().is_none()
            })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }

    /// The file's name: the last segment of its path, percent-decoded (at most
    /// [`FILE_NAME_CHARS`] characters), if it has one.
    pub fn file_name(&self) -> Option<String> {
        let base = url::Url::parse("https://this-server.invalid/").ok()?;
        let url = base.join(&self.0).ok()?;
        let last = url.path_segments()?.rev().find(|s| !s.is_empty())?;
        let name = percent_encoding::percent_decode_str(last)
            .decode_utf8()
            .ok()?;
        let name: String = name.chars().take(FILE_NAME_CHARS).collect();
        (!name.trim().is_empty() && !name.chars().any(char::is_control)).then_some(name)
    }
}

impl<'de> Deserialize<'de> for FileUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d).map_err(|_| serde::de::Error::custom(FileUrl::RULE))?;
        FileUrl::parse(&s).ok_or_else(|| serde::de::Error::custom(FileUrl::RULE))
    }
}

/// Longest file name taken from a URL as a file message's content.
pub const FILE_NAME_CHARS: usize = 200;

/// A message's type and file, checked together; the one rule for every protocol (socket.io
/// `type` / `fileUrl`, REST the same, the plain WebSocket `messageType` / `fileUrl`):
/// - the type is one of [`MessageKind`]'s (absent or null: `text`);
/// - a non-text message needs a [`FileUrl`]; a text message must not have one (refused
///   rather than dropped, so that a client that meant to send a file learns it did not);
/// - `fileUrl` absent or null is no file.
///
/// Every refusal is `invalid_payload`. Read from a payload's `type` and `fileUrl` fields
/// (`#[serde(flatten)]`), or with [`Media::from_json`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "MediaFields")]
pub struct Media {
    pub kind: MessageKind,
    pub file_url: Option<FileUrl>,
    /// The uploaded file a message names by `attachmentId`, until the conversation core
    /// finds it (`conversation::attach`) and makes this [`Media::attached`].
    pub attachment_id: Option<AttachmentId>,
    /// The uploaded file, once found (never read from a payload; boxed: a payload's media
    /// stays small).
    pub attachment: Option<Box<Attachment>>,
}

/// `type`, `fileUrl` and `attachmentId` as they came.
#[derive(Deserialize)]
struct MediaFields {
    #[serde(rename = "type", default)]
    kind: Option<serde_json::Value>,
    #[serde(rename = "fileUrl", default)]
    file_url: Option<serde_json::Value>,
    #[serde(rename = "attachmentId", default)]
    attachment_id: Option<serde_json::Value>,
}

impl TryFrom<MediaFields> for Media {
    type Error = String;
    fn try_from(f: MediaFields) -> Result<Self, String> {
        Media::from_json(f.kind.as_ref(), f.file_url.as_ref())
            .and_then(|m| m.with_attachment_id(f.attachment_id.as_ref()))
            .map_err(|e| e.to_string())
    }
}

/// The id of an uploaded attachment as a message names it (`attachmentId`): 32 hex
/// digits, as the upload answered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentId(String);

impl AttachmentId {
    /// What a refused id is told.
    pub const RULE: &'static str = "attachmentId must be the id of an uploaded attachment";

    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase();
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then_some(AttachmentId(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Media {
    /// The rule, on decoded values.
    pub fn new(kind: MessageKind, file_url: Option<FileUrl>) -> AppResult<Self> {
        match (kind, &file_url) {
            (MessageKind::Text, Some(_)) => Err(AppError::InvalidPayload(
                "fileUrl is only for image, file, audio and video messages".into(),
            )),
            (kind, None) if kind != MessageKind::Text => Err(AppError::InvalidPayload(format!(
                "a message of type {} needs a fileUrl",
                kind.as_str()
            ))),
            _ => Ok(Media {
                kind,
                file_url,
                attachment_id: None,
                attachment: None,
            }),
        }
    }

    /// This (text) message naming an uploaded file by `attachmentId` (absent or null: none).
    /// The type of such a message follows its file: with an `attachmentId`, `type` and
    /// `fileUrl` must be left out (`invalid_payload`, as a file message without its file).
    pub fn with_attachment_id(mut self, id: Option<&serde_json::Value>) -> AppResult<Self> {
        use serde_json::Value;
        let id = match id {
            None | Some(Value::Null) => return Ok(self),
            Some(Value::String(s)) => AttachmentId::parse(s),
            Some(_) => None,
        }
        .ok_or_else(|| AppError::InvalidPayload(AttachmentId::RULE.into()))?;
        if self != Media::default() {
            return Err(AppError::InvalidPayload(
                "a message with an attachmentId takes its type from the file: leave type and \
                 fileUrl out"
                    .into(),
            ));
        }
        self.attachment_id = Some(id);
        Ok(self)
    }

    /// A message carrying `attachment`: its type follows the file's content type and its
    /// `fileUrl` is the attachment's `url` (for clients that know only `fileUrl`).
    pub fn attached(attachment: Attachment) -> Self {
        Media {
            kind: attachment.kind(),
            file_url: FileUrl::parse(&attachment.url),
            attachment_id: AttachmentId::parse(&attachment.id),
            attachment: Some(Box::new(attachment)),
        }
    }

    /// The rule, on a payload's JSON values (absent or null: not given).
    pub fn from_json(
        kind: Option<&serde_json::Value>,
        file_url: Option<&serde_json::Value>,
    ) -> AppResult<Self> {
        use serde_json::Value;
        let kind = match kind {
            None | Some(Value::Null) => MessageKind::Text,
            Some(Value::String(s)) => MessageKind::parse(s)
                .ok_or_else(|| AppError::InvalidPayload(MessageKind::RULE.into()))?,
            Some(_) => return Err(AppError::InvalidPayload(MessageKind::RULE.into())),
        };
        let file_url = match file_url {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(
                FileUrl::parse(s).ok_or_else(|| AppError::InvalidPayload(FileUrl::RULE.into()))?,
            ),
            Some(_) => return Err(AppError::InvalidPayload(FileUrl::RULE.into())),
        };
        Media::new(kind, file_url)
    }

    /// The content to store with this type and file: the client's text, or, when a file
    /// message comes without text (blank or absent), the file's name (else the type's
    /// name), so that a client that reads only `content` still shows something. A text
    /// message's content is returned as it is (and checked as always).
    pub fn content(&self, content: String) -> String {
        if let (Some(a), true) = (&self.attachment, content.trim().is_empty()) {
            return a.name.chars().take(FILE_NAME_CHARS).collect();
        }
        match &self.file_url {
            Some(url) if content.trim().is_empty() => url
                .file_name()
                .unwrap_or_else(|| self.kind.as_str().to_string()),
            _ => content,
        }
    }
}

/// A stored message with its session's id around it (the dashboards' `new-message`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionMessage<'a> {
    pub session_id: &'a str,
    pub message: &'a MessageDto,
}

/// How many characters of a message the session lists show.
pub const PREVIEW_CHARS: usize = 200;

/// The first [`PREVIEW_CHARS`] characters of a message's content.
pub fn preview(content: &str) -> &str {
    match content.char_indices().nth(PREVIEW_CHARS) {
        Some((end, _)) => &content[..end],
        None => content,
    }
}

/// `lastMessage`: a session's latest message as the session lists show it (content cut to
/// [`PREVIEW_CHARS`] characters). The summaries (`list_sessions`, `session_updated` after a
/// change, ...) give its `createdAt`; the `session_updated` of each new message does not
/// (its `lastMessageAt` says it), and keeps that shape.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LastMessage<'a> {
    pub seq: i64,
    pub sender: Cow<'a, str>,
    pub content: Cow<'a, str>,
    #[serde(rename = "isAI")]
    pub is_ai: bool,
    /// What produced an automatic message (`llm`, `kb`, `rule`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<AiSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
}

impl LastMessage<'static> {
    /// A stored message, with its `createdAt` (the summaries' shape).
    pub fn of_stored(m: entity::message::Model) -> Self {
        LastMessage {
            seq: m.seq,
            content: Cow::Owned(preview(&m.content).to_string()),
            sender: Cow::Owned(m.sender),
            is_ai: m.is_ai,
            source: AiSource::stored(m.source.as_deref()),
            created_at: Some(format_ts(&m.created_at)),
        }
    }
}

impl<'a> LastMessage<'a> {
    /// A message just stored, without `createdAt` (the shape of each new message's
    /// `session_updated`).
    pub fn of_new(m: &'a MessageDto) -> Self {
        LastMessage {
            seq: m.seq,
            sender: Cow::Borrowed(&m.sender),
            content: Cow::Borrowed(preview(&m.content)),
            is_ai: m.is_ai,
            source: m.source,
            created_at: None,
        }
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-24T10:30:05.000Z`.
pub fn format_ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Now, truncated to milliseconds so that what is stored equals what is sent.
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_serializes_with_seed_field_names() {
        let t = DateTime::parse_from_rfc3339("2024-12-13T10:30:05Z")
            .map(|t| t.with_timezone(&Utc))
            .ok();
        let m = MessageDto {
            id: "m1".into(),
            sender: "user".into(),
            content: "Hello!".into(),
            created_at: format_ts(&t.unwrap_or_default()),
            is_ai: false,
            chat_session_id: "c1".into(),
            seq: 1,
            session_id: "550e8400-e29b-41d4-a716-446655440000".into(),
            client_msg_id: None,
            interrupted: false,
            author_id: None,
            kind: MessageKind::Text,
            file_url: None,
            private: false,
            author_name: None,
            attachment: None,
            source: None,
        };
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(
            json,
            serde_json::json!({
                "id": "m1",
                "sender": "user",
                "content": "Hello!",
                "createdAt": "2024-12-13T10:30:05.000Z",
                "isAI": false,
                "chatSessionId": "c1",
                "seq": 1,
                "sessionId": "550e8400-e29b-41d4-a716-446655440000",
                "type": "text",
                "private": false
            })
        );
        let image = MessageDto {
            kind: MessageKind::Image,
            file_url: Some("https://cdn.example.com/cat.png".into()),
            ..m
        };
        let json = serde_json::to_value(&image).unwrap_or_default();
        assert_eq!(json["type"], "image");
        assert_eq!(json["fileUrl"], "https://cdn.example.com/cat.png");
    }
}

#[cfg(test)]
mod client_msg_id_tests {
    use super::ClientMsgId;
    use serde_json::json;

    #[test]
    fn one_rule_for_every_path() {
        let ok = |v: serde_json::Value| {
            ClientMsgId::from_json(Some(&v)).map(|o| o.map(ClientMsgId::into_inner))
        };
        assert_eq!(ok(json!("abc")).unwrap(), Some("abc".into()));
        assert_eq!(ok(json!(7)).unwrap(), Some("7".into()));
        assert_eq!(ok(json!(null)).unwrap(), None);
        assert_eq!(ok(json!("x".repeat(128))).unwrap(), Some("x".repeat(128)));
        for bad in [
            json!(1.5),
            json!(""),
            json!("x".repeat(129)),
            json!("a\u{0}b"),
            json!({}),
            json!([1]),
            json!(true),
        ] {
            assert!(ok(bad.clone()).is_err(), "{bad} accepted");
        }
        // the same through serde, as socket.io payloads are read
        assert!(serde_json::from_value::<ClientMsgId>(json!(1.5)).is_err());
        assert!(serde_json::from_value::<ClientMsgId>(json!(42)).is_ok());
    }
}

#[cfg(test)]
mod media_tests {
    use super::{FileUrl, Media, MessageKind};
    use serde_json::json;

    fn code(kind: serde_json::Value, url: serde_json::Value) -> Result<Media, &'static str> {
        Media::from_json(Some(&kind), Some(&url)).map_err(|e| e.code())
    }

    #[test]
    fn file_urls_are_https_or_paths_on_this_server() {
        for ok in [
            "https://cdn.example.com/cat.png",
            "HTTPS://cdn.example.com/a/b.pdf?x=1#f",
            "https://[::1]:8443/x",
            "/uploads/cat.png",
            "/a",
            "/",
        ] {
            assert!(FileUrl::parse(ok).is_some(), "{ok} refused");
        }
        let long = format!("https://cdn.example.com/{}", "a".repeat(2048));
        for bad in [
            "",
            "javascript:alert(1)",
            "JAVASCRIPT:alert(1)",
            "data:image/png;base64,AAAA",
            "http://cdn.example.com/cat.png",
            "//evil.com/x",
            "/\\evil.com/x",
            "\\\\evil.com\\x",
            "https:evil.com/x",
            "https:/evil.com/x",
            "https://",
            "https://user:pw@evil.com/x",
            "https://bank.example@evil.com/x",
            "https://cdn.example.com/a b.png",
            "https://cdn.example.com/a\nb.png",
            "/a\tb",
            "/a\u{0}b",
            " https://cdn.example.com/cat.png",
            "cat.png",
            "uploads/cat.png",
            "ftp://cdn.example.com/cat.png",
            long.as_str(),
        ] {
            assert!(FileUrl::parse(bad).is_none(), "{bad:?} accepted");
        }
        assert!(FileUrl::parse(&format!("/{}", "a".repeat(2047))).is_some());
        assert!(FileUrl::parse(&format!("/{}", "a".repeat(2048))).is_none());
    }

    #[test]
    fn one_rule_for_type_and_file() {
        let url = json!("https://cdn.example.com/cat.png");
        assert_eq!(
            code(json!("image"), url.clone()).map(|m| m.kind),
            Ok(MessageKind::Image)
        );
        for kind in ["file", "audio", "video"] {
            assert!(code(json!(kind), json!("/uploads/x")).is_ok(), "{kind}");
        }
        // text is the default; null is not given
        assert_eq!(Media::from_json(None, None).ok(), Some(Media::default()));
        assert_eq!(code(json!(null), json!(null)).ok(), Some(Media::default()));
        assert_eq!(
            code(json!("text"), json!(null)).ok(),
            Some(Media::default())
        );
        // refusals, all invalid_payload
        for (kind, url) in [
            (json!("image"), json!(null)), // a file type without a file
            (json!("text"), json!("https://x.example/a")), // a text with a file
            (json!(null), json!("https://x.example/a")), // (text by default)
            (json!("gif"), url.clone()),   // unknown type
            (json!("Image"), url.clone()), // types are lowercase
            (json!(3), url.clone()),       // not a string
            (json!("image"), json!(7)),
            (json!("image"), json!({ "href": "https://x.example/a" })),
            (json!("image"), json!("javascript:alert(1)")),
            (json!("file"), json!("http://x.example/a")),
            (json!("file"), json!("//evil.com/x")),
        ] {
            assert_eq!(
                code(kind.clone(), url.clone()).err(),
                Some("invalid_payload"),
                "{kind} {url}"
            );
        }
    }

    #[test]
    fn payloads_read_type_and_file_url_with_the_same_rule() {
        #[derive(Debug, serde::Deserialize)]
        struct Payload {
            #[allow(dead_code)]
            content: String,
            #[serde(flatten)]
            media: Media,
        }
        let p: Payload = serde_json::from_value(
            json!({ "content": "", "type": "video", "fileUrl": "/v/clip.mp4" }),
        )
        .expect("accepted");
        assert_eq!(p.media.kind, MessageKind::Video);
        assert_eq!(
            p.media.file_url.as_ref().map(FileUrl::as_str),
            Some("/v/clip.mp4")
        );
        let p: Payload = serde_json::from_value(json!({ "content": "hi" })).expect("accepted");
        assert_eq!(p.media, Media::default());
        let refused = serde_json::from_value::<Payload>(
            json!({ "content": "x", "type": "image", "fileUrl": "javascript:alert(1)" }),
        );
        assert!(refused.is_err_and(|e| e.to_string().contains("fileUrl must be")));
        assert!(
            serde_json::from_value::<Payload>(json!({ "content": "x", "type": "gif" })).is_err()
        );
    }

    #[test]
    fn a_file_message_without_text_is_named_after_its_file() {
        let media = |url: &str| Media::new(MessageKind::File, FileUrl::parse(url)).expect("valid");
        let m = media("https://cdn.example.com/docs/Q3%20report.pdf?sig=abc#p2");
        assert_eq!(m.content(String::new()), "Q3 report.pdf");
        assert_eq!(m.content("  ".into()), "Q3 report.pdf");
        assert_eq!(m.content("the report".into()), "the report");
        assert_eq!(media("/uploads/a/").content(String::new()), "a");
        assert_eq!(
            media("https://cdn.example.com").content(String::new()),
            "file"
        );
        assert_eq!(media("/x/%0A").content(String::new()), "file");
        let long = format!("/{}", "n".repeat(300));
        assert_eq!(media(&long).content(String::new()).chars().count(), 200);
        // a text message keeps its (blank) text: the content rule refuses it later
        assert_eq!(Media::default().content(" ".into()), " ");
    }
}

#[cfg(test)]
mod attachment_tests {
    use super::{Attachment, Media, MessageKind};
    use serde_json::json;

    fn att(content_type: &str) -> Attachment {
        Attachment {
            id: "0123456789abcdef0123456789abcdef".into(),
            name: "shot.png".into(),
            content_type: content_type.into(),
            size: 42,
            url: "/api/attachments/0123456789abcdef0123456789abcdef".into(),
            width: Some(3),
            height: Some(2),
            thumbnail_url: None,
        }
    }

    #[test]
    fn a_message_names_an_attachment_by_id_and_nothing_else() {
        let read = |v: serde_json::Value| {
            Media::from_json(v.get("type"), v.get("fileUrl"))
                .and_then(|m| m.with_attachment_id(v.get("attachmentId")))
        };
        let ok = read(json!({ "attachmentId": "0123456789ABCDEF0123456789abcdef" })).expect("ok");
        assert_eq!(
            ok.attachment_id.as_ref().map(|i| i.as_str()),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(
            read(json!({ "attachmentId": null })).ok(),
            Some(Media::default())
        );
        for bad in [
            json!({ "attachmentId": "../x" }),
            json!({ "attachmentId": 7 }),
            json!({ "attachmentId": "0123456789abcdef0123456789abcde" }),
            json!({ "attachmentId": "0123456789abcdef0123456789abcdef", "type": "image",
                    "fileUrl": "/a.png" }),
            json!({ "attachmentId": "0123456789abcdef0123456789abcdef", "fileUrl": null,
                    "type": "file", "x": 1 }),
        ] {
            assert_eq!(
                read(bad.clone()).err().map(|e| e.code()),
                Some("invalid_payload"),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_type_and_content_follow_the_attached_file() {
        let m = Media::attached(att("image/png"));
        assert_eq!(m.kind, MessageKind::Image);
        assert_eq!(
            m.file_url.as_ref().map(|u| u.as_str()),
            Some(att("x").url.as_str())
        );
        assert_eq!(m.content(String::new()), "shot.png");
        assert_eq!(m.content("look".into()), "look");
        for (ct, kind) in [
            ("application/pdf", MessageKind::File),
            ("text/plain", MessageKind::File),
            ("audio/mpeg", MessageKind::Audio),
            ("video/mp4", MessageKind::Video),
        ] {
            assert_eq!(Media::attached(att(ct)).kind, kind, "{ct}");
        }
        let json = serde_json::to_value(att("image/png")).unwrap_or_default();
        assert_eq!(
            json,
            json!({ "id": "0123456789abcdef0123456789abcdef", "name": "shot.png",
                    "contentType": "image/png", "size": 42,
                    "url": "/api/attachments/0123456789abcdef0123456789abcdef",
                    "width": 3, "height": 2 })
        );
        assert_eq!(
            Attachment::stored(Some(&att("a/b").to_stored())),
            Some(att("a/b"))
        );
        assert_eq!(Attachment::stored(Some("not json")), None);
    }
}

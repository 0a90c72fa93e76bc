//! Socket.io events of the seed protocol on "/": `init_session`, `user_message`,
//! `admin_message`. Each handler: decode -> service -> answer, in a few lines.

use serde::Deserialize;
use serde_json::Value;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, State, TryData};
use socketioxide::ParserError;
use tracing::Instrument;

use super::types::{InitAck, ReadSeq};
use crate::error::{AppError, AppResult};
use crate::messages::service::Stored;
use crate::messages::types::{MessageDto, Sender};
use crate::realtime::reply::Ack;
use crate::realtime::{self, parse};
use crate::state::AppState;

/// Registers this capability's events on a freshly connected socket.
pub fn register<A: Adapter>(s: &SocketRef<A>) {
    s.on("init_session", init_session::<A>);
    s.on("user_message", user_message::<A>);
    s.on("admin_message", admin_message::<A>);
}

async fn init_session<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    let span = realtime::span(&s);
    async move {
        match init(&s, data, &state).await {
            Ok(body) => ack.send_raw(&body),
            Err(e) => ack.fail(&s, "init_session", e),
        }
    }
    .instrument(span)
    .await
}

/// `init_session`: resume the session named by a well-formed, known `sessionId`, or start a
/// new one (a stale or malformed id recovers with `resumed: false`); join its room; with
/// `lastSeq`, return what the client missed.
async fn init<A: Adapter>(
    s: &SocketRef<A>,
    data: Result<Value, ParserError>,
    state: &AppState,
) -> AppResult<InitAck> {
    let payload = data.unwrap_or(Value::Null);
    let wanted_id = payload.get("sessionId").and_then(Value::as_str);
    let last_seq = payload
        .get("lastSeq")
        .and_then(Value::as_i64)
        .filter(|n| *n >= 0);

    let existing = match wanted_id {
        Some(id) => super::service::find_by_session_id(&state.db, id).await?,
        None => None,
    };
    let resumed = existing.is_some();
    let session = match existing {
        Some(sess) => sess,
        None => {
            let info = realtime::client(s);
            let new = super::service::NewSession {
                ip: info.ip,
                user_agent: info.user_agent,
                ..Default::default()
            };
            let sess = super::service::create(&state.db, new).await?;
            tracing::info!(session = %sess.session_id, "session created");
            sess
        }
    };
    // Join before reading history: whatever commits after the join arrives live, whatever
    // committed before is in the history; a message in both is deduped by `seq`.
    s.join(session.session_id.clone());
    realtime::joined(s).insert(&session.session_id, &session.id);

    let (messages, has_more) = match last_seq {
        Some(after) => {
            let (rows, more) = crate::messages::service::messages_after(
                &state.db,
                &session.id,
                after,
                state.config.history_limit,
            )
            .await?;
            let msgs = rows
                .into_iter()
                .map(|m| MessageDto::from_model(m, &session.session_id))
                .collect();
            (Some(msgs), Some(more))
        }
        None => (None, None),
    };
    Ok(InitAck {
        session_id: session.session_id,
        resumed,
        status: session.status,
        code: session.code,
        last_seq: session.last_seq,
        read_seq: ReadSeq {
            user: session.user_read_seq,
            admin: session.admin_read_seq,
        },
        messages,
        has_more,
    })
}

/// Payload of `user_message` / `admin_message`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendPayload {
    pub session_id: String,
    pub content: String,
    #[serde(default, deserialize_with = "client_msg_id")]
    pub client_msg_id: Option<String>,
}

/// `clientMsgId` may be a string or an integer; at most 128 characters.
fn client_msg_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.chars().count() <= 128 => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(serde::de::Error::custom(
            "clientMsgId must be a non-empty string of at most 128 characters",
        )),
    }
}

async fn user_message<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    let span = realtime::span(&s);
    async move {
        let result = send(&s, data, &state, Sender::User).await;
        ack.reply(&s, "user_message", result.map(|st| st.message));
    }
    .instrument(span)
    .await
}

async fn admin_message<A: Adapter>(
    s: SocketRef<A>,
    TryData(data): TryData<Value>,
    ack: Ack<A>,
    State(state): State<AppState>,
) {
    let span = realtime::span(&s);
    async move {
        let result = send(&s, data, &state, Sender::Admin).await;
        ack.reply(&s, "admin_message", result.map(|st| st.message));
    }
    .instrument(span)
    .await
}

/// The shared send path of both events.
async fn send<A: Adapter>(
    s: &SocketRef<A>,
    data: Result<Value, ParserError>,
    state: &AppState,
    sender: Sender,
) -> AppResult<Stored> {
    let p: SendPayload = parse(data)?;
    if uuid::Uuid::parse_str(&p.session_id).is_err() {
        return Err(AppError::InvalidPayload(
            "sessionId must be a UUID string".into(),
        ));
    }
    crate::messages::validate_content(&p.content, state.config.max_content_length)?;
    let session_pk = match realtime::joined(s).get(&p.session_id) {
        Some(pk) => pk,
        None => {
            super::service::find_by_session_id(&state.db, &p.session_id)
                .await?
                .ok_or(AppError::SessionNotFound)?
                .id
        }
    };
    let except = (!state.config.echo_to_sender).then_some(s.id);
    let new = crate::messages::service::NewMessage {
        session_pk,
        session_id: p.session_id.to_ascii_lowercase(),
        sender,
        content: p.content,
        is_ai: false,
        client_msg_id: p.client_msg_id,
        author_id: None,
    };
    state.writer.store(new, except).await
}

//! What is said around the messages: typing indicators and read watermarks.

use std::time::Duration;

use super::SessionRef;
use crate::desk::service::Reader;
use crate::desk::types::SessionUpdated;
use crate::error::{AppError, AppResult};
use crate::hub::Except;
use crate::messages::types::Sender;
use crate::sessions::types::{ReadAck, ReadReceipt, ReadSeq, Typing};
use crate::state::AppState;

/// `side` is typing (or stopped): the session's room hears `typing {sessionId, sender,
/// isTyping}` (all but `except`). An unrefreshed `true` is turned off by the server after
/// `TYPING_TIMEOUT_SECS`.
pub async fn typing(
    state: &AppState,
    session_id: &str,
    side: Sender,
    is_typing: bool,
    except: Option<Except>,
) {
    let generation = state.presence.typing(session_id, side.as_str());
    let payload = Typing::by(session_id, side, is_typing);
    state
        .hub
        .to_session(session_id, "typing", &payload, except)
        .await;
    if !is_typing {
        return;
    }
    let state = state.clone();
    let session_id = session_id.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(state.config.typing_timeout_secs)).await;
        if state
            .presence
            .typing_expired(&session_id, side.as_str(), generation)
        {
            let off = Typing::by(&session_id, side, false);
            state
                .hub
                .to_session(&session_id, "typing", &off, except)
                .await;
        }
    });
}

/// `reader` has read up to `seq`: the watermark moves forward (never back); the room hears
/// `read {sessionId, reader, seq}` when it moved, and agents the session's unread count when
/// the staff read.
pub async fn read(
    state: &AppState,
    s: &SessionRef,
    reader: Reader,
    seq: i64,
) -> AppResult<ReadAck> {
    if seq < 0 {
        return Err(AppError::InvalidPayload("seq must not be negative".into()));
    }
    let (stored, moved) = crate::desk::service::mark_read(&state.db, &s.pk, reader, seq).await?;
    if moved {
        let payload = ReadReceipt {
            session_id: s.id.clone(),
            reader,
            seq: stored,
        };
        state.hub.to_session(&s.id, "read", &payload, None).await;
        if reader == Reader::Admin {
            let now = crate::desk::service::load(&state.db, &s.pk).await?;
            let update = SessionUpdated::Read {
                session_id: &s.id,
                read_seq: ReadSeq {
                    user: now.user_read_seq,
                    admin: now.admin_read_seq,
                },
                unread: (now.last_seq - now.admin_read_seq).max(0),
            };
            state
                .hub
                .to_agents_about(SessionUpdated::EVENT, update.kind(), &s.id, &update)
                .await;
        }
    }
    Ok(ReadAck {
        reader,
        seq: stored,
    })
}

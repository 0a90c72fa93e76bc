//! Wire types of the assistant: a reply streamed to the session's room token by token.
//! `stream-start`, then one `stream-token` per piece of text (`index` from 0), then
//! `stream-end` with the stored message (none when nothing was stored). A socket that joins
//! meanwhile gets `stream-start` and the tokens so far.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::messages::types::MessageDto;

/// `stream-start {messageId, sessionId}`: a reply begins; `messageId` is the id the stored
/// message will have.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamStart<'a> {
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
}

/// `stream-token {messageId, sessionId, index, token}`: the next piece of the reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamToken<'a> {
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    pub index: usize,
    #[serde(borrow)]
    pub token: Cow<'a, str>,
}

/// `stream-end {messageId, sessionId, message}`: the reply is over; `message` is the stored
/// reply (`interrupted` when it was cut short), or null when nothing was stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StreamEnd<'a> {
    #[serde(borrow)]
    pub message_id: Cow<'a, str>,
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    pub message: Option<Cow<'a, MessageDto>>,
}

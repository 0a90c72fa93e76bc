//! Sending: a checked message goes to the group-commit writer, which gives it its `seq` in
//! the order it was handed over, stores it, broadcasts it and answers. A human of the staff
//! speaking stops the assistant; a visitor's stored message may wake it.

use crate::auth::Identity;
use crate::error::AppResult;
use crate::hub::Except;
use crate::messages::service::{NewMessage, Stored};
use crate::messages::types::{ClientMsgId, Media, Sender};
use crate::messages::writer::OnStored;
use crate::messages::Content;
use crate::state::AppState;

use super::SessionRef;

/// A message on its way into a conversation.
#[derive(Debug)]
pub struct Outgoing {
    pub session: SessionRef,
    pub side: Sender,
    /// The staff account that wrote it (none for the visitor side and legacy consoles).
    pub author_id: Option<String>,
    pub content: Content,
    pub client_msg_id: Option<ClientMsgId>,
    /// Its type and file (text, with none, by default).
    pub media: Media,
    /// Whether the stored message may wake the assistant: a visitor's own message does; a
    /// staff account writing on the visitor side, or an escalation's text, does not.
    pub wakes_assistant: bool,
}

impl Outgoing {
    /// The visitor side writes (and the assistant may answer).
    pub fn visitor(session: SessionRef, content: Content) -> Self {
        Outgoing {
            session,
            side: Sender::User,
            author_id: None,
            content,
            client_msg_id: None,
            media: Media::default(),
            wakes_assistant: true,
        }
    }

    /// A human of the staff writes as the desk (`admin`).
    pub fn staff(session: SessionRef, content: Content, author: &Identity) -> Self {
        Outgoing {
            session,
            side: Sender::Admin,
            author_id: (!author.legacy).then(|| author.account_id.clone()),
            content,
            client_msg_id: None,
            media: Media::default(),
            wakes_assistant: false,
        }
    }

    pub fn with_client_msg_id(mut self, id: Option<ClientMsgId>) -> Self {
        self.client_msg_id = id;
        self
    }

    pub fn with_media(mut self, media: Media) -> Self {
        self.media = media;
        self
    }

    /// The writer's message, and the session the assistant may answer in once it is stored.
    fn prepare(self, state: &AppState) -> (NewMessage, Option<String>) {
        if let (Sender::Admin, Some(ai)) = (self.side, &state.assistant) {
            ai.cancel(&self.session.pk); // a human speaks: the assistant stops and stays quiet
        }
        let wake = (self.side == Sender::User && self.wakes_assistant && state.assistant.is_some())
            .then(|| self.session.pk.clone());
        let new = NewMessage::new(
            self.session.pk,
            self.session.id,
            self.side,
            self.content.into_inner(),
        );
        let mut new = new.with_media(self.media);
        new.client_msg_id = self.client_msg_id.map(ClientMsgId::into_inner);
        new.author_id = self.author_id;
        (new, wake)
    }
}

/// Stores `out` and resolves once it is committed and broadcast (to everyone in the
/// session's room but `except`).
pub async fn send(state: &AppState, out: Outgoing, except: Option<Except>) -> AppResult<Stored> {
    let (new, wake) = out.prepare(state);
    let stored = state.writer.store(new, except).await?;
    if let Some(pk) = wake.filter(|_| !stored.duplicate) {
        crate::assistant::visitor_wrote(state, &pk);
    }
    Ok(stored)
}

/// Queues `out` now, in the caller's order, without waiting: `then` is called once with
/// the outcome, by the writer after the commit, or right away when the queue refuses it.
pub fn submit(state: &AppState, out: Outgoing, except: Option<Except>, then: OnStored) {
    let (new, wake) = out.prepare(state);
    let then: OnStored = match wake {
        Some(pk) => {
            let state = state.clone();
            Box::new(move |result: AppResult<Stored>| {
                if matches!(&result, Ok(stored) if !stored.duplicate) {
                    crate::assistant::visitor_wrote(&state, &pk);
                }
                then(result)
            })
        }
        None => then,
    };
    if let Err((e, then)) = state.writer.submit_then(new, except, then) {
        then(Err(e));
    }
}

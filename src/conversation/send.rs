//! Sending: a checked message goes to the group-commit writer, which gives it its `seq` in
//! the order it was handed over, stores it, broadcasts it and answers. A human of the staff
//! speaking stops the assistant; a visitor's stored message may wake it.

use crate::auth::Identity;
use crate::error::{AppError, AppResult};
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
    /// Its display name, shown with the message (`authorName`).
    pub author_name: Option<String>,
    pub content: Content,
    pub client_msg_id: Option<ClientMsgId>,
    /// Its type and file (text, with none, by default).
    pub media: Media,
    /// Whether the stored message may wake the assistant: a visitor's own message does; a
    /// staff account writing on the visitor side, or an escalation's text, does not.
    pub wakes_assistant: bool,
    /// A private note: staff-only, see [`Outgoing::private_note`].
    pub private: bool,
}

impl Outgoing {
    /// The visitor side writes (and the assistant may answer).
    pub fn visitor(session: SessionRef, content: Content) -> Self {
        Outgoing {
            session,
            side: Sender::User,
            author_id: None,
            author_name: None,
            content,
            client_msg_id: None,
            media: Media::default(),
            wakes_assistant: true,
            private: false,
        }
    }

    /// A human of the staff writes as the desk (`admin`).
    pub fn staff(session: SessionRef, content: Content, author: &Identity) -> Self {
        Outgoing {
            session,
            side: Sender::Admin,
            author_id: (!author.legacy).then(|| author.account_id.clone()),
            author_name: (!author.legacy && !author.name.is_empty()).then(|| author.name.clone()),
            content,
            client_msg_id: None,
            media: Media::default(),
            wakes_assistant: false,
            private: false,
        }
    }

    /// A private note by a human of the staff: stored in the conversation with its `seq`,
    /// seen by the staff alone (never the visitor's side, any plain-WebSocket or seed
    /// protocol, or the assistant), and it neither stops the assistant nor counts as the
    /// desk's first response.
    pub fn private_note(session: SessionRef, content: Content, author: &Identity) -> Self {
        Outgoing {
            private: true,
            ..Outgoing::staff(session, content, author)
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
        if let (Sender::Admin, false, Some(ai)) = (self.side, self.private, &state.assistant) {
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
        new.private = self.private;
        new.author_name = self.author_name;
        (new, wake)
    }
}

/// A clientMsgId is one per session, whoever writes: a visitor's retry that names the key of
/// a private note is refused, never answered with the note.
fn keep_notes_private(side: Sender, result: AppResult<Stored>) -> AppResult<Stored> {
    match result {
        Ok(stored) if stored.duplicate && stored.message.private && side == Sender::User => Err(
            AppError::Conflict("clientMsgId is already used in this session".into()),
        ),
        other => other,
    }
}

/// Stores `out` and resolves once it is committed and broadcast (to everyone in the
/// session's room but `except`).
pub async fn send(state: &AppState, out: Outgoing, except: Option<Except>) -> AppResult<Stored> {
    let side = out.side;
    let (new, wake) = out.prepare(state);
    let stored = keep_notes_private(side, state.writer.store(new, except).await)?;
    if let Some(pk) = wake.filter(|_| !stored.duplicate) {
        crate::assistant::visitor_wrote(state, &pk);
    }
    Ok(stored)
}

/// Queues `out` now, in the caller's order, without waiting: `then` is called once with
/// the outcome, by the writer after the commit, or right away when the queue refuses it.
pub fn submit(state: &AppState, out: Outgoing, except: Option<Except>, then: OnStored) {
    let side = out.side;
    let (new, wake) = out.prepare(state);
    let then: OnStored = Box::new(move |result| then(keep_notes_private(side, result)));
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

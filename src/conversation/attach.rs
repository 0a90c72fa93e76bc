//! A message's text and file as a client sent them, checked in two steps: what needs no
//! database at once ([`Draft::new`], in the socket's reader for socket.io), then, for a
//! message naming an uploaded file by `attachmentId`, the file itself ([`compose`]): it
//! must be a ready attachment of the same session (and, for the visitor side, not hidden
//! by the visitor's clear). The stored message's type follows the file's content type, its
//! `fileUrl` is the attachment's `url`, and its content is the caption, or the file's name
//! for clients that read only `content`.

use crate::error::AppResult;
use crate::messages::types::{AttachmentId, Media, Sender};
use crate::messages::Content;
use crate::state::AppState;

/// A message before its attachment is found.
#[derive(Debug)]
pub enum Draft {
    /// Nothing left to look up.
    Ready { content: Content, media: Media },
    /// Names an uploaded file; `caption` is the client's text (checked; none when blank).
    Attaching {
        caption: Option<Content>,
        id: AttachmentId,
    },
}

impl Draft {
    /// Checks `content` and `media` as far as they can be without the database: the content
    /// rule (a blank content is fine only with a file), the type and file rule.
    pub fn new(content: String, media: Media, max: usize) -> AppResult<Self> {
        match media.attachment_id.clone() {
            Some(id) => {
                let caption = if content.trim().is_empty() {
                    None
                } else {
                    Some(Content::parse(content, max)?)
                };
                Ok(Draft::Attaching { caption, id })
            }
            None => Ok(Draft::Ready {
                content: Content::parse(media.content(content), max)?,
                media,
            }),
        }
    }

    /// Whether [`compose`] has a file to look up.
    pub fn is_ready(&self) -> bool {
        matches!(self, Draft::Ready { .. })
    }
}

/// The content and media of a draft written by `side` in the session `session_pk`: an
/// attachment it names is found (`not_found` otherwise) and described.
pub async fn compose(
    state: &AppState,
    session_pk: &str,
    side: Sender,
    draft: Draft,
) -> AppResult<(Content, Media)> {
    match draft {
        Draft::Ready { content, media } => Ok((content, media)),
        Draft::Attaching { caption, id } => {
            let attachment = crate::attachments::for_message(state, session_pk, side, &id).await?;
            let max = state.config.max_content_length;
            let content = match caption {
                Some(c) => c,
                None => Content::parse(attachment.name.chars().take(max).collect(), max)?,
            };
            Ok((content, Media::attached(attachment)))
        }
    }
}

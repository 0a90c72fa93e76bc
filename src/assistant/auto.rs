//! Automatic answers without a model (`AI_PROVIDER=none`, the default when no model is
//! configured), as seed 000's server gives them. To the visitor's latest message, in order:
//! 1. the first active auto-reply rule that matches answers with its reply (`source: rule`);
//! 2. else the best published article, when it is relevant enough, answers with its title,
//!    a short excerpt and its link (`source: kb`);
//! 3. else the visitor is told an agent will answer (`KB_NO_MATCH_MESSAGE`, `source: kb`)
//!    and the session goes to the queue, as a request for a human does.
//!
//! Only in sessions the assistant may speak in (`may_answer`: open, switch allowing), and
//! only when the desk has a rule or an article at all (`assistant::visitor_wrote`).

use std::sync::Arc;

use super::{hand_over, Assistant};
use crate::messages::service::NewMessage;
use crate::messages::types::{AiSource, Sender};
use crate::state::AppState;

/// Answers the visitor's latest message of `session`.
pub async fn answer(state: &AppState, ai: &Arc<Assistant>, session: &entity::chat_session::Model) {
    let latest = match crate::messages::service::messages_before(
        &state.db,
        &session.id,
        None,
        1,
        crate::messages::service::Audience::Public,
    )
    .await
    {
        Ok((rows, _)) => rows.into_iter().next(),
        Err(e) => {
            tracing::warn!(error = %e, "auto-reply could not read the conversation");
            return;
        }
    };
    let Some(question) = latest.filter(|m| m.sender == Sender::User.as_str() && !m.is_ai) else {
        return;
    };
    match reply_to(state, &question.content) {
        Some((reply, source)) => say(state, session, reply, source).await,
        None => {
            say(state, session, ai.no_match.clone(), AiSource::Kb).await;
            hand_over(state, &session.id).await;
        }
    }
}

/// The automatic answer to `question`, if a rule or an article gives one.
pub fn reply_to(state: &AppState, question: &str) -> Option<(String, AiSource)> {
    if let Some(reply) = state.kb.rule_reply(question) {
        return Some((reply, AiSource::Rule));
    }
    let article = state.kb.best_article(question)?;
    Some((
        format!(
            "{}\n{}\nRead more: {}",
            article.title, article.text, article.link
        ),
        AiSource::Kb,
    ))
}

/// Stores and broadcasts an automatic message of the desk.
pub async fn say(
    state: &AppState,
    session: &entity::chat_session::Model,
    content: String,
    source: AiSource,
) {
    let mut m = NewMessage::new(
        session.id.clone(),
        session.session_id.clone(),
        Sender::Admin,
        content,
    );
    m.is_ai = true;
    m.source = Some(source);
    if let Err(e) = state.writer.store(m, None).await {
        tracing::warn!(error = %e, "automatic answer not stored");
    }
}

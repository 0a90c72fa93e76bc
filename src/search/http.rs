//! `GET /api/search` (staff).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::service;
use super::types::{snippet, terms, Hit, Results, SearchQuery, MAX_QUERY};
use crate::auth::http::QueryParams;
use crate::auth::Staff;
use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;
use crate::sessions::types::Cursor;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/search", get(search))
}

/// Hits per page when the caller names no `limit`, and the most it may name.
const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 100;

/// Messages (and visitors) matching `q`, newest first (staff).
#[utoipa::path(get, path = "/api/search", tag = "search", params(("q" = String, Query, description = "words to find (web-search syntax on PostgreSQL), or a session code, IP address or visitor identifier"), ("limit" = Option<u64>, Query, description = "hits per page, default 20, at most 100"), ("before" = Option<String>, Query, description = "`nextBefore` of the previous page")), security(("bearer" = [])), responses((status = 200, description = "`{results, nextBefore?}`", body = Results), (status = 400, description = "no query, or one over 200 characters"), (status = 401, description = "no staff token"), (status = 403, description = "not staff")))]
pub(crate) async fn search(
    State(state): State<AppState>,
    Staff(_me): Staff,
    QueryParams(p): QueryParams<SearchQuery>,
) -> AppResult<Json<Results>> {
    let q = p.q.as_deref().map(str::trim).unwrap_or("");
    let words = terms(q);
    if words.is_empty() {
        return Err(AppError::InvalidPayload(
            "q must hold a word to search for".into(),
        ));
    }
    if q.chars().count() > MAX_QUERY {
        return Err(AppError::InvalidPayload(format!(
            "q has at most {MAX_QUERY} characters"
        )));
    }
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let before = Cursor::parse(p.before.as_deref(), "before")?;

    let mut results = Vec::new();
    // Who the visitor is: on the first page only, before the messages.
    if before.is_none() && !q.contains(char::is_whitespace) {
        for s in service::sessions_of_visitor(&state.db, q, limit).await? {
            let (snippet, highlights) = snippet(&visitor_line(&s), &words);
            results.push(Hit {
                kind: "session",
                session_id: s.session_id,
                code: s.code,
                message_id: None,
                seq: None,
                sender: None,
                private: false,
                snippet,
                highlights,
                created_at: format_ts(&s.created_at),
            });
        }
    }
    let (rows, more) = service::messages(&state.db, q, before.as_ref(), limit).await?;
    // Conversations that hold every word only across several messages: on the first page,
    // after the visitors and before the messages.
    let spread = if before.is_none() && is_plain(q) {
        service::spread_over_messages(&state.db, &words, &rows, limit).await?
    } else {
        Vec::new()
    };
    let pks: Vec<String> = rows
        .iter()
        .map(|m| m.chat_session_id.clone())
        .chain(spread.iter().map(|parts| parts[0].chat_session_id.clone()))
        .collect();
    let sessions = service::sessions_by_pk(&state.db, &pks).await?;
    for parts in spread {
        let Some(s) = sessions.get(&parts[0].chat_session_id) else {
            continue;
        };
        let (snippet, highlights) = joined_snippet(&parts, &words);
        results.push(Hit {
            kind: "conversation",
            session_id: s.session_id.clone(),
            code: s.code.clone(),
            message_id: None,
            seq: None,
            sender: None,
            private: parts.iter().any(|m| m.private),
            snippet,
            highlights,
            created_at: format_ts(&parts[0].created_at),
        });
    }
    let next_before = rows
        .last()
        .filter(|_| more)
        .map(|m| Cursor::encode(&m.created_at, &m.id));
    for m in rows {
        let Some(s) = sessions.get(&m.chat_session_id) else {
            continue;
        };
        let (snippet, highlights) = snippet(&m.content, &words);
        results.push(Hit {
            kind: "message",
            session_id: s.session_id.clone(),
            code: s.code.clone(),
            message_id: Some(m.id),
            seq: Some(m.seq),
            sender: Some(m.sender),
            private: m.private,
            snippet,
            highlights,
            created_at: format_ts(&m.created_at),
        });
    }
    Ok(Json(Results {
        results,
        next_before,
    }))
}

/// The most words a query may have for the search across messages.
const SPREAD_MAX_WORDS: usize = 5;

/// A query of two to five plain words: no phrase, `or` or `-word`, whose meaning is about
/// one message.
fn is_plain(q: &str) -> bool {
    let words: Vec<&str> = q.split_whitespace().collect();
    (2..=SPREAD_MAX_WORDS).contains(&words.len())
        && !q.contains('"')
        && words
            .iter()
            .all(|w| !w.starts_with('-') && !w.eq_ignore_ascii_case("or"))
}

/// The snippets of several messages of one conversation, oldest first, joined by " · ",
/// with the highlights moved to where each lands.
fn joined_snippet(parts: &[entity::message::Model], words: &[String]) -> (String, Vec<[usize; 2]>) {
    const SEP: &str = " · ";
    let mut out = String::new();
    let mut ranges = Vec::new();
    for m in parts.iter().rev() {
        if !out.is_empty() {
            out.push_str(SEP);
        }
        let offset = out.chars().count();
        let (text, marks) = snippet(&m.content, words);
        out.push_str(&text);
        ranges.extend(marks.into_iter().map(|[a, b]| [a + offset, b + offset]));
    }
    (out, ranges)
}

/// What a session hit shows: its code, IP address and identifier.
fn visitor_line(s: &entity::chat_session::Model) -> String {
    let mut parts = vec![format!("Session {}", s.code)];
    if let Some(ip) = &s.ip {
        parts.push(format!("IP {ip}"));
    }
    if let Some(v) = &s.visitor_identity {
        parts.push(format!("identifier {v}"));
    }
    parts.join(" · ")
}

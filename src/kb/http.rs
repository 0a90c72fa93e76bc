//! Knowledge-base REST and pages:
//! - `GET /api/kb/articles` (staff: drafts too), `GET /api/kb/articles/:id` (staff),
//!   `POST /api/kb/articles`, `PATCH` and `DELETE /api/kb/articles/:id` (admins);
//! - `GET /api/kb/search?q=&limit=` (anyone: published articles only);
//! - `GET /kb/:slug` (anyone: a published article as a page, rendered safely);
//! - `GET /api/auto-replies` (staff), `POST`, `PATCH` and `DELETE /api/auto-replies/:id`
//!   (admins).
//!
//! Every write updates this node's index or rules before it answers, and tells the other
//! nodes ([`super::Knowledge::changed`]).

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::types::{
    article_path, ArticleDto, ArticleFields, ArticleInput, AutoReplyDto, AutoReplyFields,
    AutoReplyInput, SearchQuery, SearchResult, SearchResults,
};
use super::{service, Change};
use crate::auth::http::{JsonBody, QueryParams};
use crate::auth::{AdminOnly, Identity, Staff};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/kb/articles", get(list_articles).post(create_article))
        .route(
            "/api/kb/articles/{id}",
            get(get_article)
                .patch(update_article)
                .delete(delete_article),
        )
        .route("/api/kb/search", get(search))
        .route("/kb/{slug}", get(article_page))
        .route("/api/auto-replies", get(list_rules).post(create_rule))
        .route(
            "/api/auto-replies/{id}",
            axum::routing::patch(update_rule).delete(delete_rule),
        )
}

fn author(me: &Identity) -> Option<String> {
    (!me.legacy).then(|| me.account_id.clone())
}

fn no_article() -> AppError {
    AppError::NotFound("article not found".into())
}

/// Every article, drafts included (staff).
#[utoipa::path(get, path = "/api/kb/articles", tag = "knowledge base", security(("bearer" = [])), responses((status = 200, description = "articles, newest change first")))]
pub(crate) async fn list_articles(
    State(state): State<AppState>,
    _staff: Staff,
) -> AppResult<Json<Vec<ArticleDto>>> {
    let rows = service::articles(&state.db, true).await?;
    Ok(Json(rows.into_iter().map(ArticleDto::of).collect()))
}

/// One article, draft or not (staff).
#[utoipa::path(get, path = "/api/kb/articles/{id}", tag = "knowledge base", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "the article"), (status = 404, description = "no such article")))]
pub(crate) async fn get_article(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> AppResult<Json<ArticleDto>> {
    let row = service::article(&state.db, &id)
        .await?
        .ok_or_else(no_article)?;
    Ok(Json(ArticleDto::of(row)))
}

/// Writes an article: `{title, slug?, body, tags?, published?}` (admins).
#[utoipa::path(post, path = "/api/kb/articles", tag = "knowledge base", security(("bearer" = [])), responses((status = 201, description = "the stored article"), (status = 400, description = "invalid fields"), (status = 409, description = "slug taken")))]
pub(crate) async fn create_article(
    State(state): State<AppState>,
    AdminOnly(me): AdminOnly,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<ArticleDto>)> {
    let fields = ArticleFields::merge(None, body.read::<ArticleInput>()?)?;
    let row = service::create_article(&state.db, fields, author(&me)).await?;
    state.kb.changed(Change::Article(row.id.clone())).await?;
    Ok((StatusCode::CREATED, Json(ArticleDto::of(row))))
}

/// Changes an article: any of `{title, slug, body, tags, published}` (admins).
#[utoipa::path(patch, path = "/api/kb/articles/{id}", tag = "knowledge base", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "the stored article"), (status = 404, description = "no such article"), (status = 409, description = "slug taken")))]
pub(crate) async fn update_article(
    State(state): State<AppState>,
    AdminOnly(me): AdminOnly,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<ArticleDto>> {
    let current = service::article(&state.db, &id)
        .await?
        .ok_or_else(no_article)?;
    let fields = ArticleFields::merge(Some(ArticleFields::of(&current)), body.read()?)?;
    let row = service::update_article(&state.db, current, fields, author(&me)).await?;
    state.kb.changed(Change::Article(row.id.clone())).await?;
    Ok(Json(ArticleDto::of(row)))
}

/// Deletes an article (admins).
#[utoipa::path(delete, path = "/api/kb/articles/{id}", tag = "knowledge base", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 404, description = "no such article")))]
pub(crate) async fn delete_article(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if !service::delete_article(&state.db, &id).await? {
        return Err(no_article());
    }
    state.kb.changed(Change::Article(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Searches the published articles: `{results: [{title, slug, url, snippet, score}]}`.
#[utoipa::path(get, path = "/api/kb/search", tag = "knowledge base", params(("q" = String, Query, description = "the words to find"), ("limit" = Option<usize>, Query, description = "1 to 50, default 10")), responses((status = 200, description = "best first")))]
pub(crate) async fn search(
    State(state): State<AppState>,
    QueryParams(q): QueryParams<SearchQuery>,
) -> AppResult<Json<SearchResults>> {
    if q.q.chars().count() > 500 {
        return Err(AppError::InvalidPayload(
            "q is longer than 500 characters".into(),
        ));
    }
    let hits = state.kb.search(&q.q, q.limit.unwrap_or(10))?;
    Ok(Json(SearchResults {
        results: hits
            .into_iter()
            .map(|h| SearchResult {
                url: article_path(&h.slug),
                title: h.title,
                slug: h.slug,
                snippet: h.snippet,
                score: h.score,
            })
            .collect(),
    }))
}

/// The article page's policy: no script at all, styles only from the page itself, images
/// only over https, no framing, no form posts, no base URL change.
const ARTICLE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src https:; \
                           frame-ancestors 'none'; form-action 'none'; base-uri 'none'";

const ARTICLE_STYLE: &str = "body{font:16px/1.6 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}\
img{max-width:100%}pre{overflow:auto;background:#f5f5f5;padding:.75rem}code{background:#f5f5f5}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}";

/// A published article as a page (`/kb/:slug`).
pub(crate) async fn article_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Response {
    let found = match service::article_by_slug(&state.db, &slug).await {
        Ok(Some(a)) if a.published => a,
        Ok(_) => {
            return page(
                StatusCode::NOT_FOUND,
                "Not found",
                "<p>No such article.</p>",
            )
        }
        Err(e) => return e.into_response(),
    };
    let body = format!(
        "<article><h1>{}</h1>\n{}</article>",
        escape(&found.title),
        super::render::to_html(&found.body)
    );
    page(StatusCode::OK, &found.title, &body)
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{ARTICLE_STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ARTICLE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Text as HTML text.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn no_rule() -> AppError {
    AppError::NotFound("auto-reply rule not found".into())
}

/// Every auto-reply rule, in the order they are tried (staff).
#[utoipa::path(get, path = "/api/auto-replies", tag = "knowledge base", security(("bearer" = [])), responses((status = 200, description = "rules, oldest first")))]
pub(crate) async fn list_rules(
    State(state): State<AppState>,
    _staff: Staff,
) -> AppResult<Json<Vec<AutoReplyDto>>> {
    let rows = service::rules(&state.db).await?;
    Ok(Json(rows.into_iter().map(AutoReplyDto::of).collect()))
}

/// Adds a rule `{pattern, reply, active?}` (admins).
#[utoipa::path(post, path = "/api/auto-replies", tag = "knowledge base", security(("bearer" = [])), responses((status = 201, description = "the stored rule"), (status = 400, description = "invalid pattern or reply")))]
pub(crate) async fn create_rule(
    State(state): State<AppState>,
    _admin: AdminOnly,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<AutoReplyDto>)> {
    let fields = AutoReplyFields::merge(None, body.read::<AutoReplyInput>()?)?;
    let row = service::create_rule(&state.db, fields).await?;
    state.kb.changed(Change::Rules).await?;
    Ok((StatusCode::CREATED, Json(AutoReplyDto::of(row))))
}

/// Changes a rule: any of `{pattern, reply, active}` (admins).
#[utoipa::path(patch, path = "/api/auto-replies/{id}", tag = "knowledge base", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 200, description = "the stored rule"), (status = 404, description = "no such rule")))]
pub(crate) async fn update_rule(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<AutoReplyDto>> {
    let current = service::rule(&state.db, &id).await?.ok_or_else(no_rule)?;
    let base = AutoReplyFields {
        pattern: current.pattern.clone(),
        reply: current.reply.clone(),
        active: current.active,
    };
    let fields = AutoReplyFields::merge(Some(base), body.read()?)?;
    let row = service::update_rule(&state.db, current, fields).await?;
    state.kb.changed(Change::Rules).await?;
    Ok(Json(AutoReplyDto::of(row)))
}

/// Deletes a rule (admins).
#[utoipa::path(delete, path = "/api/auto-replies/{id}", tag = "knowledge base", params(("id" = String, Path)), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 404, description = "no such rule")))]
pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    _admin: AdminOnly,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if !service::delete_rule(&state.db, &id).await? {
        return Err(no_rule());
    }
    state.kb.changed(Change::Rules).await?;
    Ok(StatusCode::NO_CONTENT)
}

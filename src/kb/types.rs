//! Wire types of the knowledge base (`/api/kb/...`) and of the auto-reply rules
//! (`/api/auto-replies`), camelCase, separate from the stored rows.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;

/// Longest title, slug and body accepted, and most tags.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_SLUG_CHARS: usize = 128;
pub const MAX_BODY_BYTES: usize = 200_000;
pub const MAX_TAGS: usize = 20;
pub const MAX_TAG_CHARS: usize = 40;
pub const MAX_REPLY_CHARS: usize = 4000;

/// An article as staff see it (`GET /api/kb/articles`, `POST`, `PATCH`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ArticleDto {
    pub id: String,
    pub title: String,
    pub slug: String,
    /// Markdown.
    pub body: String,
    pub tags: Vec<String>,
    pub published: bool,
    /// The article's page (`/kb/:slug`; a draft's page is not found).
    pub url: String,
    pub created_at: String,
    pub updated_at: String,
}

impl ArticleDto {
    pub fn of(m: entity::kb_article::Model) -> Self {
        ArticleDto {
            url: article_path(&m.slug),
            tags: stored_tags(&m.tags),
            id: m.id,
            title: m.title,
            slug: m.slug,
            body: m.body,
            published: m.published,
            created_at: format_ts(&m.created_at),
            updated_at: format_ts(&m.updated_at),
        }
    }
}

/// The path of an article's page.
pub fn article_path(slug: &str) -> String {
    format!("/kb/{slug}")
}

/// The tags column (a JSON array); anything else reads as none.
pub fn stored_tags(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// `POST /api/kb/articles {title, slug?, body, tags?, published?}` (a missing slug is made
/// from the title), and `PATCH /api/kb/articles/:id` with any of them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArticleInput {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub body: Option<String>,
    pub tags: Option<Vec<String>>,
    pub published: Option<bool>,
}

/// An article's fields, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleFields {
    pub title: String,
    pub slug: String,
    pub body: String,
    pub tags: Vec<String>,
    pub published: bool,
}

impl ArticleFields {
    /// `input` over `base` (an update) or over nothing (a creation: title and body required).
    pub fn merge(base: Option<ArticleFields>, input: ArticleInput) -> AppResult<ArticleFields> {
        let creating = base.is_none();
        let base = base.unwrap_or(ArticleFields {
            title: String::new(),
            slug: String::new(),
            body: String::new(),
            tags: Vec::new(),
            published: false,
        });
        let title = input
            .title
            .map(|t| t.trim().to_string())
            .unwrap_or(base.title);
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(AppError::InvalidPayload(format!(
                "title must be 1 to {MAX_TITLE_CHARS} characters"
            )));
        }
        let body = match input.body {
            Some(b) => b,
            None if creating => {
                return Err(AppError::InvalidPayload("body is required".into()));
            }
            None => base.body,
        };
        if body.len() > MAX_BODY_BYTES {
            return Err(AppError::InvalidPayload(format!(
                "body is longer than {MAX_BODY_BYTES} bytes"
            )));
        }
        let slug = match input.slug {
            Some(s) => check_slug(s.trim())?,
            None if creating => slugify(&title)?,
            None => base.slug,
        };
        let tags = match input.tags {
            Some(t) => check_tags(t)?,
            None => base.tags,
        };
        Ok(ArticleFields {
            title,
            slug,
            body,
            tags,
            published: input.published.unwrap_or(base.published),
        })
    }

    pub fn of(m: &entity::kb_article::Model) -> Self {
        ArticleFields {
            title: m.title.clone(),
            slug: m.slug.clone(),
            body: m.body.clone(),
            tags: stored_tags(&m.tags),
            published: m.published,
        }
    }
}

/// A slug: lower-case letters and digits in words joined by `-`.
pub fn check_slug(s: &str) -> AppResult<String> {
    let ok = !s.is_empty()
        && s.len() <= MAX_SLUG_CHARS
        && s.split('-').all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if ok {
        Ok(s.to_string())
    } else {
        Err(AppError::InvalidPayload(format!(
            "slug must be lower-case letters and digits joined by '-', at most {MAX_SLUG_CHARS} characters"
        )))
    }
}

/// A slug made from a title (its ASCII letters and digits).
pub fn slugify(title: &str) -> AppResult<String> {
    let words: Vec<String> = title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut slug = String::new();
    for w in words {
        if slug.len() + w.len() + 1 > MAX_SLUG_CHARS {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&w);
    }
    if slug.is_empty() {
        return Err(AppError::InvalidPayload(
            "slug is required when the title has no ASCII letters or digits".into(),
        ));
    }
    Ok(slug)
}

fn check_tags(tags: Vec<String>) -> AppResult<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in tags {
        let t = t.trim().to_string();
        if t.is_empty() || t.chars().count() > MAX_TAG_CHARS {
            return Err(AppError::InvalidPayload(format!(
                "a tag must be 1 to {MAX_TAG_CHARS} characters"
            )));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(AppError::InvalidPayload(format!("at most {MAX_TAGS} tags")));
    }
    Ok(out)
}

/// `GET /api/kb/search?q=&limit=`.
#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
    pub limit: Option<usize>,
}

/// `GET /api/kb/search` -> `{results: [...]}`: published articles only, best first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchResults {
    pub results: Vec<SearchResult>,
}

/// One search result: the article's title, slug and page, and the passage that matched as
/// plain text.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SearchResult {
    pub title: String,
    pub slug: String,
    pub url: String,
    pub snippet: String,
    pub score: f32,
}

/// An auto-reply rule.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AutoReplyDto {
    pub id: String,
    pub pattern: String,
    pub reply: String,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl AutoReplyDto {
    pub fn of(m: entity::auto_reply::Model) -> Self {
        AutoReplyDto {
            id: m.id,
            pattern: m.pattern,
            reply: m.reply,
            active: m.active,
            created_at: format_ts(&m.created_at),
            updated_at: format_ts(&m.updated_at),
        }
    }
}

/// `POST /api/auto-replies {pattern, reply, active?}`, `PATCH /api/auto-replies/:id` with
/// any of them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoReplyInput {
    pub pattern: Option<String>,
    pub reply: Option<String>,
    pub active: Option<bool>,
}

/// A rule's fields, checked (the pattern compiles).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoReplyFields {
    pub pattern: String,
    pub reply: String,
    pub active: bool,
}

impl AutoReplyFields {
    pub fn merge(base: Option<AutoReplyFields>, input: AutoReplyInput) -> AppResult<Self> {
        let (pattern, reply, active) = match base {
            Some(b) => (
                input.pattern.unwrap_or(b.pattern),
                input.reply.unwrap_or(b.reply),
                input.active.unwrap_or(b.active),
            ),
            None => (
                input
                    .pattern
                    .ok_or_else(|| AppError::InvalidPayload("pattern is required".into()))?,
                input
                    .reply
                    .ok_or_else(|| AppError::InvalidPayload("reply is required".into()))?,
                input.active.unwrap_or(true),
            ),
        };
        let pattern = pattern.trim().to_string();
        super::rules::compile(&pattern)?;
        let reply = reply.trim().to_string();
        if reply.is_empty() || reply.chars().count() > MAX_REPLY_CHARS {
            return Err(AppError::InvalidPayload(format!(
                "reply must be 1 to {MAX_REPLY_CHARS} characters"
            )));
        }
        Ok(AutoReplyFields {
            pattern,
            reply,
            active,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slugs() {
        assert_eq!(
            slugify("Reset your password!").ok(),
            Some("reset-your-password".into())
        );
        assert!(slugify("Đổi mật khẩu").is_ok_and(|s| s == "i-m-t-kh-u"));
        assert!(slugify("ĐĐ").is_err());
        assert!(check_slug("Bad Slug").is_err());
        assert!(check_slug("a--b").is_err());
        assert!(check_slug("good-slug-2").is_ok());
    }

    #[test]
    fn creating_needs_title_and_body_and_makes_a_slug() {
        let input: ArticleInput =
            serde_json::from_value(json!({ "title": "Refunds", "body": "text" })).expect("input");
        let f = ArticleFields::merge(None, input).expect("fields");
        assert_eq!((f.slug.as_str(), f.published), ("refunds", false));
        let no_body: ArticleInput =
            serde_json::from_value(json!({ "title": "Refunds" })).expect("input");
        assert!(ArticleFields::merge(None, no_body).is_err());
        assert!(serde_json::from_value::<ArticleInput>(json!({ "titel": "x" })).is_err());
    }

    #[test]
    fn article_wire_shape() {
        let t = chrono::DateTime::from_timestamp_millis(0).unwrap_or_default();
        let dto = ArticleDto::of(entity::kb_article::Model {
            id: "a1".into(),
            slug: "refunds".into(),
            title: "Refunds".into(),
            body: "**Yes**".into(),
            tags: r#"["billing"]"#.into(),
            published: true,
            author_id: None,
            created_at: t,
            updated_at: t,
        });
        assert_eq!(
            serde_json::to_value(dto).unwrap_or_default(),
            json!({ "id": "a1", "title": "Refunds", "slug": "refunds", "body": "**Yes**",
                    "tags": ["billing"], "published": true, "url": "/kb/refunds",
                    "createdAt": "1970-01-01T00:00:00.000Z",
                    "updatedAt": "1970-01-01T00:00:00.000Z" })
        );
    }
}

//! Wire types of satisfaction ratings.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;

/// The longest comment a visitor may leave, in characters.
pub const MAX_COMMENT_CHARS: usize = 2000;

/// `rating_request {sessionId}`: the visitor is asked to rate the session's resolution.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatingRequest {
    pub session_id: String,
}

impl RatingRequest {
    pub const EVENT: &'static str = "rating_request";
}

/// A rating as checked: 1 to 5, and a comment (trimmed; an empty one is none).
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    pub rating: i16,
    pub comment: Option<String>,
}

impl Score {
    /// Checks `rating` (an integer 1-5, `invalid_payload` otherwise) and `comment` (a string
    /// of at most [`MAX_COMMENT_CHARS`], `content_too_long` beyond).
    pub fn parse(rating: &Value, comment: Option<&Value>) -> AppResult<Score> {
        let rating = rating
            .as_i64()
            .filter(|r| (1..=5).contains(r))
            .ok_or_else(|| {
                AppError::InvalidPayload("rating must be an integer from 1 to 5".into())
            })?;
        let comment = match comment {
            None | Some(Value::Null) => None,
            Some(Value::String(c)) => {
                let c = c.trim();
                if c.chars().count() > MAX_COMMENT_CHARS {
                    return Err(AppError::ContentTooLong {
                        max: MAX_COMMENT_CHARS,
                    });
                }
                (!c.is_empty()).then(|| c.to_string())
            }
            Some(_) => return Err(AppError::InvalidPayload("comment must be a string".into())),
        };
        Ok(Score {
            rating: rating as i16,
            comment,
        })
    }
}

/// The payload of `rate_session {sessionId, rating, comment?}` (socket.io); the fields are
/// checked by [`Score::parse`].
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RatePayload {
    pub session_id: String,
    #[serde(default)]
    pub rating: Value,
    #[serde(default)]
    pub comment: Option<Value>,
}

/// A session's rating as staff see it in summaries: `{rating, comment?, createdAt}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRating {
    pub rating: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub created_at: String,
}

impl From<&entity::session_rating::Model> for SessionRating {
    fn from(m: &entity::session_rating::Model) -> Self {
        SessionRating {
            rating: m.rating,
            comment: m.comment.clone(),
            created_at: format_ts(&m.created_at),
        }
    }
}

/// The answer to `rate_session`: `{sessionId, rating, comment?, createdAt}`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rated {
    pub session_id: String,
    #[serde(flatten)]
    pub rating: SessionRating,
}

/// One rating in `GET /api/ratings`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RatingEntry {
    pub id: String,
    pub session_id: String,
    pub code: String,
    pub rating: i16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The assignee who resolved the session, if any.
    pub agent_id: Option<String>,
    /// The resolution rated.
    pub resolved_at: String,
    pub created_at: String,
}

impl RatingEntry {
    /// A stored rating of `session` (also the `data` of the `rating.created` webhook).
    pub fn of(
        r: &entity::session_rating::Model,
        session: Option<&entity::chat_session::Model>,
    ) -> Self {
        RatingEntry {
            id: r.id.clone(),
            session_id: session.map(|s| s.session_id.clone()).unwrap_or_default(),
            code: session.map(|s| s.code.clone()).unwrap_or_default(),
            rating: r.rating,
            comment: r.comment.clone(),
            agent_id: r.agent_id.clone(),
            resolved_at: format_ts(&r.resolved_at),
            created_at: format_ts(&r.created_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_rating_is_an_integer_from_one_to_five() {
        for ok in 1..=5 {
            assert_eq!(
                Score::parse(&json!(ok), None).map(|s| s.rating).ok(),
                Some(ok)
            );
        }
        for bad in [
            json!(0),
            json!(6),
            json!(-1),
            json!(4.5),
            json!("5"),
            json!(null),
            json!(true),
        ] {
            let e = Score::parse(&bad, None).expect_err("refused");
            assert_eq!(e.code(), "invalid_payload", "{bad}");
        }
    }

    #[test]
    fn a_comment_is_trimmed_optional_and_limited() {
        let s = Score::parse(&json!(4), Some(&json!("  quick and kind  "))).expect("ok");
        assert_eq!(s.comment.as_deref(), Some("quick and kind"));
        assert_eq!(
            Score::parse(&json!(4), Some(&json!("  ")))
                .expect("ok")
                .comment,
            None
        );
        assert_eq!(
            Score::parse(&json!(4), Some(&json!(null)))
                .expect("ok")
                .comment,
            None
        );
        let long = "é".repeat(MAX_COMMENT_CHARS + 1);
        let e = Score::parse(&json!(4), Some(&json!(long))).expect_err("too long");
        assert_eq!(e.code(), "content_too_long");
        let e = Score::parse(&json!(4), Some(&json!(7))).expect_err("not a string");
        assert_eq!(e.code(), "invalid_payload");
    }
}

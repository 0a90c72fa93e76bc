//! Canned responses on the wire, and the rule for short codes.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;

/// The longest short code, in characters.
pub const MAX_CODE: usize = 32;
/// `scope` of the desk's shared responses (a personal one's scope is its owner's id).
pub const SHARED: &str = "shared";

/// A canned response as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Canned {
    pub id: String,
    pub short_code: String,
    pub content: String,
    pub shared: bool,
    /// Who created it (a personal one's owner).
    pub owner_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<entity::canned_response::Model> for Canned {
    fn from(m: entity::canned_response::Model) -> Self {
        Canned {
            shared: m.scope == SHARED,
            id: m.id,
            short_code: m.short_code,
            content: m.content,
            owner_id: m.owner_id,
            created_at: format_ts(&m.created_at),
            updated_at: format_ts(&m.updated_at),
        }
    }
}

/// A short code: `a-z`, `0-9`, `-` and `_`, 1 to 32 of them, compared in lower case; a
/// leading `/` (as typed in the reply box) is not part of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortCode(String);

impl ShortCode {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let code = raw.trim();
        let code = code.strip_prefix('/').unwrap_or(code).to_ascii_lowercase();
        let ok = !code.is_empty()
            && code.len() <= MAX_CODE
            && code
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok {
            Ok(ShortCode(code))
        } else {
            Err(AppError::InvalidPayload(format!(
                "shortCode must be 1 to {MAX_CODE} of a-z, 0-9, - and _"
            )))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `POST /api/canned-responses`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewCanned {
    pub short_code: String,
    pub content: String,
    #[serde(default)]
    pub shared: bool,
}

/// `PATCH /api/canned-responses/:id`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CannedPatch {
    #[serde(default)]
    pub short_code: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub shared: Option<bool>,
}

/// `GET /api/canned-responses?q=`.
#[derive(Debug, Deserialize, Default)]
pub struct CannedQuery {
    /// A prefix of the short code (a leading `/` is ignored).
    pub q: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_codes_are_lower_case_slugs_without_the_slash() {
        let ok = |s: &str| ShortCode::parse(s).ok().map(|c| c.as_str().to_string());
        assert_eq!(ok("/Hello").as_deref(), Some("hello"));
        assert_eq!(ok(" refund_policy-2 ").as_deref(), Some("refund_policy-2"));
        assert_eq!(ok(&"a".repeat(MAX_CODE)).map(|c| c.len()), Some(MAX_CODE));
        for bad in ["", "/", "two words", "héllo", "a/b", "<b>"] {
            assert!(ShortCode::parse(bad).is_err(), "{bad}");
        }
        assert!(ShortCode::parse(&"a".repeat(MAX_CODE + 1)).is_err());
    }
}

//! Labels on the wire, and the rules for their names and colours.

use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::messages::types::format_ts;

/// The longest label name, in characters.
pub const MAX_NAME: usize = 50;
/// How many labels one session may carry.
pub const MAX_PER_SESSION: usize = 20;
/// The colour a label gets when none is given.
pub const DEFAULT_COLOR: &str = "#6b7280";

/// A label as clients see it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Label {
    pub id: String,
    pub name: String,
    pub color: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<entity::label::Model> for Label {
    fn from(m: entity::label::Model) -> Self {
        Label {
            id: m.id,
            name: m.name,
            color: m.color,
            created_at: format_ts(&m.created_at),
            updated_at: format_ts(&m.updated_at),
        }
    }
}

/// A label's name: trimmed, 1 to 50 characters, no control characters. Names are unique
/// whatever their case ([`LabelName::norm`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelName(String);

impl LabelName {
    pub fn parse(raw: &str) -> AppResult<Self> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(AppError::InvalidPayload(
                "a label name must not be empty".into(),
            ));
        }
        if name.chars().count() > MAX_NAME {
            return Err(AppError::InvalidPayload(format!(
                "a label name has at most {MAX_NAME} characters"
            )));
        }
        if name.chars().any(char::is_control) {
            return Err(AppError::InvalidPayload(
                "a label name must not contain control characters".into(),
            ));
        }
        Ok(LabelName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form names are compared in.
    pub fn norm(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A colour: `#rrggbb` (stored lower case).
pub fn color(raw: &str) -> AppResult<String> {
    let c = raw.trim();
    let hex = c.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.chars().all(|ch| ch.is_ascii_hexdigit()) {
        Ok(c.to_ascii_lowercase())
    } else {
        Err(AppError::InvalidPayload(
            "color must be #rrggbb (six hex digits)".into(),
        ))
    }
}

/// `POST /api/labels`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLabel {
    pub name: String,
    #[serde(default)]
    pub color: Option<String>,
}

/// `PATCH /api/labels/:id`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelPatch {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub color: Option<String>,
}

/// `PUT /api/chats/:sessionId/labels` and socket `set_labels`: every label the session
/// should have, by name.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLabels {
    #[serde(default)]
    pub session_id: Option<String>,
    pub labels: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_compared_without_case() {
        let n = LabelName::parse("  Billing  ").map(|n| (n.as_str().to_string(), n.norm()));
        assert_eq!(n.ok(), Some(("Billing".to_string(), "billing".to_string())));
        assert!(LabelName::parse("   ").is_err());
        assert!(LabelName::parse(&"é".repeat(MAX_NAME)).is_ok());
        assert!(LabelName::parse(&"é".repeat(MAX_NAME + 1)).is_err());
        assert!(LabelName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn colours_are_six_hex_digits() {
        assert_eq!(color("#A0b1C2").ok().as_deref(), Some("#a0b1c2"));
        for bad in ["a0b1c2", "#abc", "#gggggg", "red", "#a0b1c2ff", ""] {
            assert!(color(bad).is_err(), "{bad}");
        }
    }
}

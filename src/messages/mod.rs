//! Messages: how a message is validated, stored (group commit, gap-free `seq`,
//! exactly-once by `clientMsgId`) and read back as history.

pub mod service;
mod store_pg;
mod store_sqlite;
pub mod types;
pub mod writer;

use crate::error::{AppError, AppResult};

/// A message's text, checked by [`validate_content`]: the one way content enters the core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(String);

impl Content {
    /// `content` if it is non-empty, at most `max` characters and without NUL.
    pub fn parse(content: String, max: usize) -> AppResult<Self> {
        validate_content(&content, max)?;
        Ok(Content(content))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Checks message content: a non-empty string of at most `max` characters, without NUL.
/// Every path that stores a message calls this (socket.io, REST, the plain WebSocket).
pub fn validate_content(content: &str, max: usize) -> AppResult<()> {
    if content.trim().is_empty() {
        return Err(AppError::InvalidPayload("content must not be empty".into()));
    }
    // PostgreSQL's text types cannot hold U+0000: refused here, as `invalid_payload` on both
    // databases, before it can fail (and split up) a group-commit batch.
    if content.contains('\0') {
        return Err(AppError::InvalidPayload(
            "content must not contain NUL characters".into(),
        ));
    }
    if content.chars().count() > max {
        return Err(AppError::ContentTooLong { max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_rules() {
        assert!(validate_content("hi", 10).is_ok());
        assert_eq!(
            validate_content("  ", 10).map_err(|e| e.code()),
            Err("invalid_payload")
        );
        assert!(validate_content("ééééé", 5).is_ok());
        assert_eq!(
            validate_content("a\0b", 10).map_err(|e| e.code()),
            Err("invalid_payload")
        );
        assert_eq!(
            validate_content("123456", 5).map_err(|e| e.code()),
            Err("content_too_long")
        );
    }
}

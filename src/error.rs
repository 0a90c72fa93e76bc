//! One error type for the whole server. Each variant has a stable wire code (socket acks and
//! `error` events) and an HTTP status (REST). Internal errors are logged with their context
//! and reach clients only as `internal`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    InvalidPayload(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("session not found")]
    SessionNotFound,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// A rating of a session that is not resolved (`not_resolved`).
    #[error("{0}")]
    NotResolved(String),
    /// This resolution of the session is rated already (`already_rated`).
    #[error("this resolution of the session is rated already")]
    AlreadyRated,
    /// An email address that is not one (`invalid_email`).
    #[error("{0}")]
    InvalidEmail(String),
    #[error("content is longer than {max} characters")]
    ContentTooLong { max: usize },
    #[error("the file is larger than {max} bytes")]
    AttachmentTooLarge { max: u64 },
    #[error("{0}")]
    AttachmentTypeRefused(String),
    #[error("this conversation's attachments would exceed {quota} bytes")]
    QuotaExceeded { quota: u64 },
    #[error("too many requests; retry in {retry_after_ms} ms")]
    RateLimited { retry_after_ms: u64 },
    #[error("server is overloaded; retry shortly")]
    Overloaded,
    #[error("database unavailable")]
    Unavailable,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// The `{code, message}` object clients see.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// A REST error: `{error: {code, message, retryAfterMs?}}`.
#[derive(Debug, Serialize)]
pub struct ErrorResponse<'a> {
    pub error: &'a ErrorBody,
}

impl AppError {
    /// The stable wire code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::InvalidPayload(_) | AppError::PayloadTooLarge => "invalid_payload",
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::SessionNotFound => "session_not_found",
            AppError::NotFound(_) => "not_found",
            AppError::Conflict(_) => "conflict",
            AppError::NotResolved(_) => "not_resolved",
            AppError::AlreadyRated => "already_rated",
            AppError::InvalidEmail(_) => "invalid_email",
            AppError::ContentTooLong { .. } => "content_too_long",
            AppError::AttachmentTooLarge { .. } => "attachment_too_large",
            AppError::AttachmentTypeRefused(_) => "attachment_type_refused",
            AppError::QuotaExceeded { .. } => "quota_exceeded",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::Overloaded | AppError::Unavailable => "overloaded",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::InvalidPayload(_)
            | AppError::ContentTooLong { .. }
            | AppError::InvalidEmail(_) => StatusCode::BAD_REQUEST,
            AppError::PayloadTooLarge
            | AppError::AttachmentTooLarge { .. }
            | AppError::QuotaExceeded { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::AttachmentTypeRefused(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::SessionNotFound | AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict(_) | AppError::NotResolved(_) | AppError::AlreadyRated => {
                StatusCode::CONFLICT
            }
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Overloaded | AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The body clients see; internal details are logged here, never sent.
    pub fn body(&self) -> ErrorBody {
        if let AppError::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        ErrorBody {
            code: self.code(),
            message: self.to_string(),
            retry_after_ms: match self {
                AppError::RateLimited { retry_after_ms } => Some(*retry_after_ms),
                _ => None,
            },
        }
    }
}

impl From<sea_orm::DbErr> for AppError {
    fn from(e: sea_orm::DbErr) -> Self {
        use sea_orm::DbErr;
        match &e {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                tracing::warn!(error = %e, "database unavailable");
                AppError::Unavailable
            }
            _ => AppError::Internal(e.into()),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = self.body();
        let mut resp = (status, axum::Json(ErrorResponse { error: &body })).into_response();
        if let Some(ms) = body.retry_after_ms {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;

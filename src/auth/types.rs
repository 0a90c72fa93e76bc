//! Wire types of the account REST (`/api/auth/*`, `/api/agents`). An account as clients see
//! it is [`UserDto`](super::UserDto).

use serde::Serialize;

use super::UserDto;
use crate::error::ErrorBody;
use crate::messages::types::format_ts;

/// `{token, user}`: the answer to login, registration and set-up.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub token: String,
    pub user: UserDto,
}

/// The answer to `POST /api/auth/verify`: `{valid: true, user}` or `{valid: false, error}`.
#[derive(Debug, Serialize)]
pub struct Verification {
    pub valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserDto>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

impl Verification {
    pub fn valid(user: UserDto) -> Self {
        Verification {
            valid: true,
            user: Some(user),
            error: None,
        }
    }

    pub fn invalid(error: ErrorBody) -> Self {
        Verification {
            valid: false,
            user: None,
            error: Some(error),
        }
    }
}

/// `{user}`: the answer to `GET /api/auth/me`.
#[derive(Debug, Serialize)]
pub struct Me {
    pub user: UserDto,
}

/// `{ok: true}`: done, nothing to say (`POST /api/auth/logout`).
#[derive(Debug, Serialize)]
pub struct Done {
    pub ok: bool,
}

/// A staff account as admins see it (`/api/agents`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StaffAccount {
    pub id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub name: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: String,
    pub last_login_at: Option<String>,
}

impl From<&entity::account::Model> for StaffAccount {
    fn from(a: &entity::account::Model) -> Self {
        StaffAccount {
            id: a.id.clone(),
            email: a.email.clone(),
            username: a.username.clone(),
            name: a.name.clone(),
            role: a.role.clone(),
            disabled: a.disabled,
            created_at: format_ts(&a.created_at),
            last_login_at: a.last_login_at.as_ref().map(format_ts),
        }
    }
}

//! Accounts and authentication. Staff (`admin`, `agent`) and registered customers sign in
//! with a password (argon2id) and get a JWT (HS256); the token is checked on every use:
//! signature, expiry, revocation (logout), and the account still enabled and unchanged.
//! REST handlers take the `Staff`, `AdminOnly` or `SignedIn` extractors; sockets are
//! authenticated once, in the namespace's connect middleware.
//!
//! Public registration creates customers only. A desk's first admin comes from
//! `ADMIN_EMAIL`/`ADMIN_PASSWORD` at start-up, from `chatdesk agent create --role admin`, or
//! from the one-time set-up token a node prints in its log when it starts on a desk without
//! an admin (`POST /api/auth/setup`, see [`Auth::offer_setup`]).

pub mod cli;
pub mod http;
pub mod password;
pub mod service;
pub mod tokens;
pub mod types;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRequestParts;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use tokens::{Claims, JwtKeys};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
    Customer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Customer => "customer",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            "customer" => Some(Role::Customer),
            _ => None,
        }
    }
    /// Support staff: admins and agents.
    pub fn is_staff(self) -> bool {
        matches!(self, Role::Admin | Role::Agent)
    }
}

/// An authenticated person (or, in legacy open mode, an anonymous console).
#[derive(Debug, Clone)]
pub struct Identity {
    pub account_id: String,
    pub role: Role,
    pub name: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
    /// True for the token-less identity of `INSECURE_OPEN_ADMIN`.
    pub legacy: bool,
}

impl Identity {
    pub fn is_staff(&self) -> bool {
        self.role.is_staff()
    }
    /// The stand-in identity of a token-less console in legacy open mode.
    pub fn legacy_console() -> Identity {
        Identity {
            account_id: String::new(),
            role: Role::Agent,
            name: "legacy console".into(),
            email: None,
            username: None,
            jti: String::new(),
            expires_at: Utc::now(),
            legacy: true,
        }
    }
    pub fn user(&self) -> UserDto {
        UserDto {
            id: self.account_id.clone(),
            email: self.email.clone(),
            username: self.username.clone(),
            name: self.name.clone(),
            role: self.role.as_str().into(),
        }
    }
}

/// An account as clients see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UserDto {
    pub id: String,
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    pub name: String,
    pub role: String,
}

impl From<&entity::account::Model> for UserDto {
    fn from(a: &entity::account::Model) -> Self {
        UserDto {
            id: a.id.clone(),
            email: a.email.clone(),
            username: a.username.clone(),
            name: a.name.clone(),
            role: a.role.clone(),
        }
    }
}

/// Token keys and lifetime, and the set-up token of a desk without an admin.
pub struct Auth {
    keys: JwtKeys,
    ttl: Duration,
    /// SHA-256 of the one-time set-up token, while one is on offer. Only the hash is kept,
    /// and only in memory: each start of a node without an admin offers a new token, and a
    /// token is gone once used (or once an admin exists, checked at use).
    setup: Mutex<Option<[u8; 32]>>,
}

impl Auth {
    pub fn new(secret: &[u8], ttl: Duration) -> Arc<Auth> {
        Arc::new(Auth {
            keys: JwtKeys::new(secret),
            ttl,
            setup: Mutex::new(None),
        })
    }

    /// Offers a new one-time set-up token (replacing any earlier one) and returns it.
    pub fn offer_setup(&self) -> String {
        use rand::RngCore;
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let token = hex::encode(bytes);
        if let Ok(mut slot) = self.setup.lock() {
            *slot = Some(digest(&token));
        }
        token
    }

    /// Spends the set-up token if `given` is it: true once, false ever after (and for any
    /// other string). The comparison is of SHA-256 digests, so its timing tells nothing
    /// about the token.
    pub fn redeem_setup(&self, given: &str) -> bool {
        use subtle::ConstantTimeEq;
        let Ok(mut slot) = self.setup.lock() else {
            return false;
        };
        match *slot {
            Some(expected) if bool::from(expected.ct_eq(&digest(given))) => {
                *slot = None;
                true
            }
            _ => false,
        }
    }

    /// Puts back a token spent by a set-up that then failed (e.g. the email was taken).
    pub fn restore_setup(&self, token: &str) {
        if let Ok(mut slot) = self.setup.lock() {
            if slot.is_none() {
                *slot = Some(digest(token));
            }
        }
    }

    /// Withdraws the set-up token (the desk has an admin now).
    pub fn withdraw_setup(&self) {
        if let Ok(mut slot) = self.setup.lock() {
            *slot = None;
        }
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// Issues a token for `account`.
pub fn issue(state: &AppState, account: &entity::account::Model) -> AppResult<String> {
    let now = Utc::now().timestamp();
    let claims = Claims {
        sub: account.id.clone(),
        role: account.role.clone(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat: now,
        exp: now + state.auth.ttl.as_secs() as i64,
        ver: account.token_version,
    };
    state.auth.keys.sign(&claims)
}

/// Checks a token completely: signature and algorithm, expiry, revocation, and that the
/// account exists, is enabled and has not been changed in a way that revokes old tokens.
pub async fn authenticate(state: &AppState, token: &str) -> AppResult<Identity> {
    let claims = state.auth.keys.verify(token)?;
    if service::is_revoked(&state.db, &claims.jti).await? {
        return Err(AppError::Unauthorized("token has been revoked".into()));
    }
    let account = service::find(&state.db, &claims.sub)
        .await?
        .ok_or_else(|| AppError::Unauthorized("account no longer exists".into()))?;
    if account.disabled {
        return Err(AppError::Unauthorized("account is disabled".into()));
    }
    if account.token_version != claims.ver || account.role != claims.role {
        return Err(AppError::Unauthorized("token has been revoked".into()));
    }
    let role =
        Role::parse(&account.role).ok_or_else(|| AppError::Unauthorized("unknown role".into()))?;
    Ok(Identity {
        account_id: account.id,
        role,
        name: account.name,
        email: account.email,
        username: account.username,
        jti: claims.jti,
        expires_at: DateTime::from_timestamp(claims.exp, 0).unwrap_or_else(Utc::now),
        legacy: false,
    })
}

/// The bearer token of an `Authorization` header, if any. A `Bearer` header with nothing
/// after it gives an empty token, which callers refuse: a token that is present is never
/// treated as absent.
pub fn bearer(headers: &::http::HeaderMap) -> Option<String> {
    let v = headers
        .get(::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

/// The `token` query parameter of a URI, if any (`?token=` gives an empty token, refused by
/// callers like any other invalid one).
pub fn query_token(uri: &::http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == "token").then(|| percent_decode(v))
    })
}

/// A socket's token: handshake `auth: {token}`, `?token=` or `Authorization: Bearer`.
/// A missing or null `auth.token` means none; a token that is given but is not a non-empty
/// string is refused, never downgraded to no token.
pub fn socket_token(
    auth: Option<&serde_json::Value>,
    parts: &::http::request::Parts,
) -> AppResult<Option<String>> {
    use serde_json::Value;
    let token = match auth.and_then(|a| a.get("token")) {
        None | Some(Value::Null) => query_token(&parts.uri).or_else(|| bearer(&parts.headers)),
        Some(Value::String(t)) => Some(t.trim().trim_start_matches("Bearer ").trim().to_string()),
        Some(_) => return Err(AppError::Unauthorized("token must be a string".into())),
    };
    match token {
        Some(t) if t.is_empty() => Err(AppError::Unauthorized("token is empty".into())),
        token => Ok(token),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Logs a staff action taken without a token in legacy open mode.
pub fn warn_legacy(action: &str) {
    tracing::warn!(
        action,
        "INSECURE_OPEN_ADMIN: staff action allowed without a token"
    );
}

/// Any signed-in account, from `Authorization: Bearer`. A present but invalid token is a 401.
pub struct SignedIn(pub Identity);

/// Optional identity: no header is fine, an invalid token is a 401 (never downgraded).
pub struct MaybeSignedIn(pub Option<Identity>);

/// A staff member (admin or agent), or the legacy console in open mode.
pub struct Staff(pub Identity);

/// An admin.
pub struct AdminOnly(pub Identity);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut ::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        match bearer(&parts.headers) {
            None => Ok(MaybeSignedIn(None)),
            Some(t) => Ok(MaybeSignedIn(Some(authenticate(state, &t).await?))),
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut ::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        match MaybeSignedIn::from_request_parts(parts, state).await?.0 {
            Some(id) => Ok(SignedIn(id)),
            None => Err(AppError::Unauthorized(
                "sign in first: Authorization: Bearer <token>".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut ::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        match MaybeSignedIn::from_request_parts(parts, state).await?.0 {
            Some(id) if id.is_staff() => Ok(Staff(id)),
            Some(_) => Err(AppError::Forbidden("staff only".into())),
            None if state.config.insecure_open_admin => {
                warn_legacy(parts.uri.path());
                Ok(Staff(Identity::legacy_console()))
            }
            None => Err(AppError::Unauthorized(
                "staff token required: Authorization: Bearer <token>".into(),
            )),
        }
    }
}

impl FromRequestParts<AppState> for AdminOnly {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut ::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        match MaybeSignedIn::from_request_parts(parts, state).await?.0 {
            Some(id) if id.role == Role::Admin => Ok(AdminOnly(id)),
            Some(_) => Err(AppError::Forbidden("admins only".into())),
            None => Err(AppError::Unauthorized(
                "admin token required: Authorization: Bearer <token>".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_tokens_in_query_and_header() {
        let uri: ::http::Uri = "/socket.io/?EIO=4&token=abc%2Edef&transport=websocket"
            .parse()
            .expect("uri");
        assert_eq!(query_token(&uri).as_deref(), Some("abc.def"));
        let mut h = ::http::HeaderMap::new();
        h.insert(
            ::http::header::AUTHORIZATION,
            "Bearer xyz".parse().expect("hv"),
        );
        assert_eq!(bearer(&h).as_deref(), Some("xyz"));
        h.insert(
            ::http::header::AUTHORIZATION,
            "Basic xyz".parse().expect("hv"),
        );
        assert_eq!(bearer(&h), None);
        h.insert(::http::header::AUTHORIZATION, "Bearer".parse().expect("hv"));
        assert_eq!(bearer(&h).as_deref(), Some(""), "present but empty");
        let uri: ::http::Uri = "/socket.io/?EIO=4&token=".parse().expect("uri");
        assert_eq!(query_token(&uri).as_deref(), Some(""), "present but empty");
    }
}

/// Visitor identity verification: `identifierHash` must be the hex HMAC-SHA256 of
/// `identifier` under `VISITOR_HMAC_SECRET` (compared in constant time).
pub fn verify_visitor(secret: &str, identifier: &str, identifier_hash: &str) -> bool {
    use hmac::{Hmac, Mac};
    let Ok(given) = hex::decode(identifier_hash.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(identifier.as_bytes());
    mac.verify_slice(&given).is_ok()
}

#[cfg(test)]
mod visitor_tests {
    use super::*;

    #[test]
    fn visitor_hmac_is_checked() {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").expect("key");
        mac.update(b"user-42");
        let good = hex::encode(mac.finalize().into_bytes());
        assert!(verify_visitor("s3cret", "user-42", &good));
        assert!(!verify_visitor("s3cret", "user-43", &good));
        assert!(!verify_visitor("other", "user-42", &good));
        assert!(!verify_visitor("s3cret", "user-42", "zz"));
    }
}

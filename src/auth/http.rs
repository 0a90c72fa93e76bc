//! REST of accounts: `/api/auth/*` (login, register, verify, me, logout) and the admin-only
//! staff management `/api/agents`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::service::{self, AccountPatch, NewAccount};
use super::types::{Done, Me, StaffAccount, TokenResponse, Verification};
use super::{password, AdminOnly, Role, SignedIn, UserDto};
use crate::error::{AppError, AppResult};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/register", post(register))
        .route("/api/auth/setup", post(setup))
        .route("/api/auth/verify", post(verify))
        .route("/api/auth/me", get(me))
        .route("/api/auth/logout", post(logout))
        .route("/api/agents", get(list_agents).post(create_agent))
        .route("/api/agents/{id}", patch(update_agent).delete(delete_agent))
}

/// The client's IP address (peer, or `X-Forwarded-For` behind a trusted proxy).
pub struct ClientIp(pub String);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, AppError> {
        let info = crate::edge::client::ClientInfo::from_parts(parts, state.config.trust_proxy);
        Ok(ClientIp(info.ip.unwrap_or_else(|| "unknown".into())))
    }
}

/// Reads a JSON body as a `Value`, with `invalid_payload` for anything that is not JSON.
pub struct JsonBody(pub Value);

impl<S: Send + Sync> axum::extract::FromRequest<S> for JsonBody {
    type Rejection = AppError;
    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, AppError> {
        match Json::<Value>::from_request(req, state).await {
            Ok(Json(v)) if v.is_object() => Ok(JsonBody(v)),
            Ok(_) => Err(AppError::InvalidPayload(
                "body must be a JSON object".into(),
            )),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(AppError::PayloadTooLarge),
            Err(e) => Err(AppError::InvalidPayload(e.body_text())),
        }
    }
}

impl JsonBody {
    /// The body as a typed request; `invalid_payload` with serde's reason (or the field's
    /// own message) when it does not fit. Read where the handler is ready for it, so that
    /// what the handler checks first (the session named in the path) is still reported
    /// first.
    pub fn read<T: serde::de::DeserializeOwned>(self) -> AppResult<T> {
        serde_json::from_value(self.0).map_err(|e| AppError::InvalidPayload(e.to_string()))
    }

    /// Why `body` is refused as a `T` (tests of request bodies).
    #[cfg(test)]
    pub fn refusal<T: serde::de::DeserializeOwned + std::fmt::Debug>(
        body: serde_json::Value,
    ) -> String {
        match JsonBody(body).read::<T>() {
            Ok(b) => panic!("accepted: {b:?}"),
            Err(e) => e.to_string(),
        }
    }
}

/// Reads query parameters into `T`, with `invalid_payload` for a value that does not fit.
/// A parameter with an empty value (`?status=&limit=`, as a URL template filled with nothing
/// gives) counts as not given.
pub struct QueryParams<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AppError;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, AppError> {
        let given: Vec<&str> = parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| kv.split_once('=').is_some_and(|(_, v)| !v.is_empty()))
            .collect();
        let uri: http::Uri = format!("/?{}", given.join("&"))
            .parse()
            .map_err(|_| AppError::InvalidPayload("query string is malformed".into()))?;
        axum::extract::Query::try_from_uri(&uri)
            .map(|axum::extract::Query(q)| QueryParams(q))
            .map_err(|e| AppError::InvalidPayload(e.body_text()))
    }
}

/// Deserializers of the bodies' optional text fields: absent or null is none; anything but
/// a string is refused with `<name> must be a string`.
macro_rules! text_fields {
    ($($f:ident: $name:literal),* $(,)?) => {$(
        fn $f<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
            Option::<String>::deserialize(d)
                .map_err(|_| serde::de::Error::custom(concat!($name, " must be a string")))
        }
    )*};
}

text_fields!(
    t_email: "email", t_username: "username", t_login: "login", t_user_email: "user_email",
    t_user_name: "user_name", t_password: "password", t_user_password: "user_password",
    t_name: "name", t_full_name: "fullName", t_user_fullname: "user_fullname",
    t_display_name: "displayName", t_token: "token", t_role: "role",
);

/// The first of `names` the body holds (the names a field goes by, in order of preference).
fn first<const N: usize>(names: [&Option<String>; N]) -> Option<&str> {
    names.into_iter().find_map(|n| n.as_deref())
}

/// `POST /api/auth/login`: the login goes by `email`, `username`, `login` or the seeds'
/// `user_email`; the password by `password` or `user_password`.
#[derive(Debug, Deserialize)]
struct LoginBody {
    #[serde(default, deserialize_with = "t_email")]
    email: Option<String>,
    #[serde(default, deserialize_with = "t_username")]
    username: Option<String>,
    #[serde(default, deserialize_with = "t_login")]
    login: Option<String>,
    #[serde(default, deserialize_with = "t_user_email")]
    user_email: Option<String>,
    #[serde(default, deserialize_with = "t_password")]
    password: Option<String>,
    #[serde(default, deserialize_with = "t_user_password")]
    user_password: Option<String>,
}

/// `POST /api/auth/register`, with the seeds' names beside chatdesk's.
#[derive(Debug, Deserialize)]
struct RegisterBody {
    #[serde(default, deserialize_with = "t_email")]
    email: Option<String>,
    #[serde(default, deserialize_with = "t_user_email")]
    user_email: Option<String>,
    #[serde(default, deserialize_with = "t_username")]
    username: Option<String>,
    #[serde(default, deserialize_with = "t_user_name")]
    user_name: Option<String>,
    #[serde(default, deserialize_with = "t_name")]
    name: Option<String>,
    #[serde(default, rename = "fullName", deserialize_with = "t_full_name")]
    full_name: Option<String>,
    #[serde(default, deserialize_with = "t_user_fullname")]
    user_fullname: Option<String>,
    #[serde(default, rename = "displayName", deserialize_with = "t_display_name")]
    display_name: Option<String>,
    #[serde(default, deserialize_with = "t_password")]
    password: Option<String>,
    #[serde(default, deserialize_with = "t_user_password")]
    user_password: Option<String>,
}

/// `POST /api/auth/setup {token, email, password, name?}`.
#[derive(Debug, Deserialize)]
struct SetupBody {
    #[serde(default, deserialize_with = "t_token")]
    token: Option<String>,
    #[serde(default, deserialize_with = "t_email")]
    email: Option<String>,
    #[serde(default, deserialize_with = "t_name")]
    name: Option<String>,
    #[serde(default, deserialize_with = "t_password")]
    password: Option<String>,
}

/// `POST /api/agents {email or username, password, role?, name?}`.
#[derive(Debug, Deserialize)]
struct NewAgentBody {
    #[serde(default, deserialize_with = "t_email")]
    email: Option<String>,
    #[serde(default, deserialize_with = "t_username")]
    username: Option<String>,
    #[serde(default, deserialize_with = "t_password")]
    password: Option<String>,
    #[serde(default, deserialize_with = "t_role")]
    role: Option<String>,
    #[serde(default, deserialize_with = "t_name")]
    name: Option<String>,
}

/// `PATCH /api/agents/:id {name?, role?, disabled?, password?}`.
#[derive(Debug, Deserialize)]
struct AgentPatchBody {
    #[serde(default, deserialize_with = "t_name")]
    name: Option<String>,
    #[serde(default, deserialize_with = "t_role")]
    role: Option<String>,
    #[serde(default, deserialize_with = "disabled")]
    disabled: Option<bool>,
    #[serde(default, deserialize_with = "t_password")]
    password: Option<String>,
}

/// `POST /api/auth/verify {token?}` (a body that is not this shape counts as none).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub(crate) struct VerifyBody {
    #[serde(default)]
    token: Option<String>,
}

fn disabled<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d)
        .map_err(|_| serde::de::Error::custom("disabled must be a boolean"))
}

fn token_response(state: &AppState, account: &entity::account::Model) -> AppResult<TokenResponse> {
    let token = super::issue(state, account)?;
    Ok(TokenResponse {
        token,
        user: UserDto::from(account),
    })
}

/// `POST /api/auth/login {email or username, password}` -> `{token, user}`.
/// `{email or username, password}`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", responses((status = 200, description = "`{token, user}`"), (status = 401, description = "wrong credentials"), (status = 429, description = "too many attempts")))]
pub(crate) async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonBody,
) -> AppResult<Json<TokenResponse>> {
    let b: LoginBody = body.read()?;
    let login = first([&b.email, &b.username, &b.login, &b.user_email])
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| AppError::InvalidPayload("email or username is required".into()))?
        .to_string();
    let pass = first([&b.password, &b.user_password])
        .ok_or_else(|| AppError::InvalidPayload("password is required".into()))?
        .to_string();
    let account = sign_in(&state, &ip, &login, pass).await?;
    Ok(Json(token_response(&state, &account)?))
}

/// Checks a login (email or username) and password from `ip`, within the login rate limits;
/// the account when they are right. Every protocol's login calls this.
pub(crate) async fn sign_in(
    state: &AppState,
    ip: &str,
    login: &str,
    pass: String,
) -> AppResult<entity::account::Model> {
    storable("email or username", login)?;
    state.limits.login(ip, login).await?;
    let account = service::find_by_login(&state.db, login).await?;
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().into());
    let ok = password::verify(pass, hash).await;
    let account = match account {
        Some(a) if ok && !a.disabled => a,
        Some(a) if ok && a.disabled => {
            return Err(AppError::Unauthorized("account is disabled".into()))
        }
        _ => {
            tracing::info!("login failed");
            return Err(AppError::Unauthorized(
                "wrong email/username or password".into(),
            ));
        }
    };
    service::touch_login(&state.db, &account.id).await?;
    tracing::info!(account = %account.id, role = %account.role, "login");
    Ok(account)
}

/// `POST /api/auth/register`: a customer account, always (a desk's first admin comes from
/// `ADMIN_EMAIL`, the CLI or `POST /api/auth/setup`, never from a public form).
/// Accepts `{email, username, name, password}` and the seed systems' field names
/// (`user_email`, `user_password`, `user_fullname`).
/// Create a customer account. Accepts the seed field names too.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", responses((status = 201, description = "`{token, user}`"), (status = 400, description = "invalid input"), (status = 409, description = "email or username taken"), (status = 429, description = "too many registrations")))]
pub(crate) async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<TokenResponse>)> {
    let b: RegisterBody = body.read()?;
    let email = first([&b.email, &b.user_email]);
    let username = first([&b.username, &b.user_name]);
    let name = first([&b.name, &b.full_name, &b.user_fullname, &b.display_name]);
    let pass = first([&b.password, &b.user_password]);
    let account = register_customer(
        &state,
        &ip,
        Registration {
            email,
            username,
            name,
            password: pass,
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(token_response(&state, &account)?)))
}

/// What a customer registers with (each protocol reads its own field names).
pub(crate) struct Registration<'a> {
    pub email: Option<&'a str>,
    pub username: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
}

/// Creates a customer account from `ip`, within the registration rate limit, after the
/// checks every protocol's registration shares.
pub(crate) async fn register_customer(
    state: &AppState,
    ip: &str,
    r: Registration<'_>,
) -> AppResult<entity::account::Model> {
    state.limits.registration(ip)?;
    let email = r.email.map(str::trim).filter(|s| !s.is_empty());
    let username = r.username.map(str::trim).filter(|s| !s.is_empty());
    let name = r.name.map(str::trim).filter(|s| !s.is_empty());
    let pass = r
        .password
        .ok_or_else(|| AppError::InvalidPayload("password is required".into()))?;
    if email.is_none() && username.is_none() {
        return Err(AppError::InvalidPayload(
            "email or username is required".into(),
        ));
    }
    validate_identity(email, username)?;
    if let Some(n) = name {
        storable("name", n)?;
    }
    password::validate(pass)?;
    let display = name
        .or(username)
        .or(email)
        .unwrap_or("customer")
        .chars()
        .take(128)
        .collect();
    let account = service::create(
        &state.db,
        NewAccount {
            email: email.map(String::from),
            username: username.map(String::from),
            name: display,
            role: Role::Customer,
            password_hash: password::hash(pass.to_string()).await?,
        },
    )
    .await?;
    tracing::info!(account = %account.id, role = %account.role, "account registered");
    Ok(account)
}

/// Refuses text PostgreSQL cannot store (U+0000), so that both databases answer
/// `invalid_payload` instead of PostgreSQL failing with an internal error.
fn storable(what: &str, value: &str) -> AppResult<()> {
    if value.contains('\0') {
        return Err(AppError::InvalidPayload(format!(
            "{what} must not contain NUL characters"
        )));
    }
    Ok(())
}

/// `POST /api/auth/setup {token, email, password, name?}`: the desk's first admin, with the
/// one-time set-up token its node printed in the log at start. The token works once, and
/// only while the desk has no admin; input is checked before the token is spent.
/// Create the first admin with the one-time set-up token from the server's log.
#[utoipa::path(post, path = "/api/auth/setup", tag = "auth", responses((status = 201, description = "`{token, user}`: the first admin"), (status = 400, description = "invalid input"), (status = 401, description = "wrong or spent set-up token"), (status = 409, description = "the desk already has an admin, or the email is taken"), (status = 429, description = "too many attempts")))]
pub(crate) async fn setup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<TokenResponse>)> {
    state.limits.setup(&ip)?;
    let b: SetupBody = body.read()?;
    let token = b
        .token
        .as_deref()
        .ok_or_else(|| AppError::InvalidPayload("token is required".into()))?;
    let email = b
        .email
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| AppError::InvalidPayload("email is required".into()))?;
    validate_identity(Some(email), None)?;
    let name = b
        .name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("Administrator");
    storable("name", name)?;
    let pass = b
        .password
        .as_deref()
        .ok_or_else(|| AppError::InvalidPayload("password is required".into()))?;
    password::validate(pass)?;
    if !state.auth.redeem_setup(token) {
        tracing::info!("set-up refused: wrong or spent token");
        return Err(AppError::Unauthorized(
            "the set-up token is wrong or has been used".into(),
        ));
    }
    // Another node's token may have made an admin meanwhile.
    if service::count_admins(&state.db).await? > 0 {
        state.auth.withdraw_setup();
        return Err(AppError::Conflict("this desk already has an admin".into()));
    }
    let created = async {
        service::create(
            &state.db,
            NewAccount {
                email: Some(email.to_string()),
                username: None,
                name: name.chars().take(128).collect(),
                role: Role::Admin,
                password_hash: password::hash(pass.to_string()).await?,
            },
        )
        .await
    }
    .await;
    let account = match created {
        Ok(a) => a,
        Err(e) => {
            state.auth.restore_setup(token);
            return Err(e);
        }
    };
    tracing::info!(account = %account.id, "first admin created with the set-up token");
    Ok((StatusCode::CREATED, Json(token_response(&state, &account)?)))
}

fn validate_identity(email: Option<&str>, username: Option<&str>) -> AppResult<()> {
    let odd = |c: char| c.is_whitespace() || c.is_control();
    if let Some(e) = email {
        let ok = e.len() <= 254
            && e.split_once('@')
                .is_some_and(|(a, b)| !a.is_empty() && b.contains('.') && !b.starts_with('.'));
        if !ok || e.chars().any(odd) {
            return Err(AppError::InvalidPayload("email is not valid".into()));
        }
    }
    if let Some(u) = username {
        if u.len() > 64 || u.contains('@') || u.chars().any(odd) {
            return Err(AppError::InvalidPayload(
                "username: at most 64 characters, no spaces or @".into(),
            ));
        }
    }
    Ok(())
}

/// `POST /api/auth/verify` (token in the body or the header) -> `{valid, user}`.
/// Check a token (body `{token}` or the header).
#[utoipa::path(post, path = "/api/auth/verify", tag = "auth", responses((status = 200, description = "`{valid, user}`")))]
pub(crate) async fn verify(
    State(state): State<AppState>,
    headers: http::HeaderMap,
    body: Option<Json<VerifyBody>>,
) -> Json<Verification> {
    let token = body
        .and_then(|Json(b)| b.token)
        .or_else(|| super::bearer(&headers));
    let Some(token) = token else {
        let none = AppError::Unauthorized("no token given".into());
        return Json(Verification::invalid(none.body()));
    };
    match super::authenticate(&state, &token).await {
        Ok(id) => Json(Verification::valid(id.user())),
        Err(e) => Json(Verification::invalid(e.body())),
    }
}

/// `GET /api/auth/me` -> `{user}`.
/// The signed-in account.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])), responses((status = 200, description = "`{user}`"), (status = 401, description = "not signed in")))]
pub(crate) async fn me(SignedIn(id): SignedIn) -> Json<Me> {
    Json(Me { user: id.user() })
}

/// `POST /api/auth/logout`: revokes the presented token.
/// Revoke the presented token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = [])), responses((status = 200, description = "`{ok: true}`"), (status = 401, description = "not signed in")))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    SignedIn(id): SignedIn,
) -> AppResult<Json<Done>> {
    sign_out(&state, &id).await?;
    Ok(Json(Done { ok: true }))
}

/// Revokes the token `id` signed in with; its open sockets close (on every node).
pub(crate) async fn sign_out(state: &AppState, id: &super::Identity) -> AppResult<()> {
    service::revoke(&state.db, &id.jti, &id.account_id, id.expires_at).await?;
    state.hub.revoke(crate::hub::token_room(&id.jti)).await;
    tracing::info!(account = %id.account_id, "logout");
    Ok(())
}

/// Staff accounts (admin).
#[utoipa::path(get, path = "/api/agents", tag = "agents", security(("bearer" = [])), responses((status = 200, description = "array of staff accounts"), (status = 403, description = "not an admin")))]
pub(crate) async fn list_agents(
    State(state): State<AppState>,
    AdminOnly(_admin): AdminOnly,
) -> AppResult<Json<Vec<StaffAccount>>> {
    let list = service::list_staff(&state.db).await?;
    Ok(Json(list.iter().map(StaffAccount::from).collect()))
}

fn staff_role(v: Option<&str>) -> AppResult<Option<Role>> {
    match v {
        None => Ok(None),
        Some(r) => match Role::parse(r) {
            Some(role) if role.is_staff() => Ok(Some(role)),
            _ => Err(AppError::InvalidPayload(
                "role must be \"agent\" or \"admin\"".into(),
            )),
        },
    }
}

/// Create a staff account (admin): `{email or username, name, role, password}`.
#[utoipa::path(post, path = "/api/agents", tag = "agents", security(("bearer" = [])), responses((status = 201, description = "the account"), (status = 403, description = "not an admin"), (status = 409, description = "taken")))]
pub(crate) async fn create_agent(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    body: JsonBody,
) -> AppResult<(StatusCode, Json<StaffAccount>)> {
    let b: NewAgentBody = body.read()?;
    let email = b.email.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let username = b
        .username
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    if email.is_none() && username.is_none() {
        return Err(AppError::InvalidPayload(
            "email or username is required".into(),
        ));
    }
    validate_identity(email, username)?;
    let pass = b
        .password
        .as_deref()
        .ok_or_else(|| AppError::InvalidPayload("password is required".into()))?;
    password::validate(pass)?;
    let role = staff_role(b.role.as_deref())?.unwrap_or(Role::Agent);
    let name = b
        .name
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or(username)
        .or(email)
        .unwrap_or("agent");
    storable("name", name)?;
    let account = service::create(
        &state.db,
        NewAccount {
            email: email.map(String::from),
            username: username.map(String::from),
            name: name.chars().take(128).collect(),
            role,
            password_hash: password::hash(pass.to_string()).await?,
        },
    )
    .await?;
    tracing::info!(by = %admin.account_id, account = %account.id, role = %account.role, "staff account created");
    Ok((StatusCode::CREATED, Json(StaffAccount::from(&account))))
}

/// Change a staff account (admin): `{name?, role?, disabled?, password?}`.
#[utoipa::path(patch, path = "/api/agents/{id}", tag = "agents", params(("id" = String, Path, description = "account id")), security(("bearer" = [])), responses((status = 200, description = "the account"), (status = 404, description = "unknown account")))]
pub(crate) async fn update_agent(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Path(id): Path<String>,
    body: JsonBody,
) -> AppResult<Json<StaffAccount>> {
    let current = service::find(&state.db, &id)
        .await?
        .ok_or_else(|| AppError::NotFound("no such account".into()))?;
    let b: AgentPatchBody = body.read()?;
    let disabled = b.disabled;
    let password_hash = match b.password.as_deref() {
        Some(p) => {
            password::validate(p)?;
            Some(password::hash(p.to_string()).await?)
        }
        None => None,
    };
    let name = b.name.as_deref();
    if let Some(n) = name {
        storable("name", n)?;
    }
    let patch = AccountPatch {
        name: name.map(|s| s.trim().chars().take(128).collect()),
        role: staff_role(b.role.as_deref())?,
        disabled,
        password_hash,
    };
    if id == admin.account_id && (patch.disabled == Some(true) || patch.role == Some(Role::Agent)) {
        return Err(AppError::Conflict(
            "you cannot disable or demote yourself".into(),
        ));
    }
    let password_changed = patch.password_hash.is_some();
    let role_before = current.role.clone();
    let updated = service::update(&state.db, current, patch).await?;
    // Open sockets keep no powers the account lost: disabled, demoted or promoted (its
    // tokens name the old role), or a new password (its tokens are void).
    if updated.disabled || updated.role != role_before || password_changed {
        state
            .hub
            .revoke(crate::hub::account_room(&updated.id))
            .await;
    }
    tracing::info!(by = %admin.account_id, account = %updated.id, "staff account updated");
    Ok(Json(StaffAccount::from(&updated)))
}

/// Delete an account (admin).
#[utoipa::path(delete, path = "/api/agents/{id}", tag = "agents", params(("id" = String, Path, description = "account id")), security(("bearer" = [])), responses((status = 204, description = "deleted"), (status = 404, description = "unknown account")))]
pub(crate) async fn delete_agent(
    State(state): State<AppState>,
    AdminOnly(admin): AdminOnly,
    Path(id): Path<String>,
) -> AppResult<StatusCode> {
    if id == admin.account_id {
        return Err(AppError::Conflict("you cannot delete yourself".into()));
    }
    if !service::delete(&state.db, &id).await? {
        return Err(AppError::NotFound("no such account".into()));
    }
    state.hub.revoke(crate::hub::account_room(&id)).await;
    tracing::info!(by = %admin.account_id, account = %id, "account deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_take_every_name_a_field_goes_by() {
        let b = JsonBody(json!({ "user_email": "a@b.c", "user_password": "pw" }))
            .read::<LoginBody>()
            .ok();
        let b = b.as_ref();
        assert_eq!(
            b.and_then(|b| first([&b.email, &b.username, &b.login, &b.user_email])),
            Some("a@b.c")
        );
        assert_eq!(
            b.and_then(|b| first([&b.password, &b.user_password])),
            Some("pw")
        );
        let r = JsonBody(json!({ "email": null, "fullName": "Ana", "password": "x" }))
            .read::<RegisterBody>()
            .ok();
        assert_eq!(r.as_ref().and_then(|r| r.email.as_deref()), None);
        assert_eq!(r.as_ref().and_then(|r| r.full_name.as_deref()), Some("Ana"));
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_in_the_refusal() {
        assert_eq!(
            JsonBody::refusal::<LoginBody>(json!({ "email": 5, "password": "x" })),
            "email must be a string"
        );
        assert_eq!(
            JsonBody::refusal::<RegisterBody>(json!({ "user_fullname": [], "password": "x" })),
            "user_fullname must be a string"
        );
        assert_eq!(
            JsonBody::refusal::<AgentPatchBody>(json!({ "disabled": "yes" })),
            "disabled must be a boolean"
        );
        assert_eq!(
            JsonBody::refusal::<NewAgentBody>(json!({ "role": 1 })),
            "role must be a string"
        );
    }
}

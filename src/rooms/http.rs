//! REST of seed 004 under `/api/v1` (auth, rooms, messages, status) and the route of its
//! WebSocket. Handlers extract, call the rooms core (`super`), and answer in the seed's
//! `{success, message, data}` shape; every refusal, the extractors' included, is rendered by
//! [`V1Error`] as `{success: false, message, error}`.

use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{
    Answer, AuthData, CreateRoomBody, Failure, JoinByCodeBody, LoginBody, MemberView, MessageView,
    MessagesQuery, PostMessageBody, RegisterBody, RoomView, StatusView, UserView,
};
use crate::auth::http::{ClientIp, QueryParams, Registration};
use crate::auth::SignedIn;
use crate::edge::client::ClientInfo;
use crate::error::AppError;
use crate::state::AppState;

/// The WebSocket's path.
pub const WS_PATH: &str = crate::edge::guard::ROOMS_WS_PATH;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/register", post(register))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/rooms", get(list_rooms).post(create_room))
        .route("/api/v1/rooms/join-by-code", post(join_by_code))
        .route("/api/v1/rooms/{room_id}/join", post(join_room))
        .route("/api/v1/rooms/{room_id}/leave", post(leave_room))
        .route("/api/v1/rooms/{room_id}/members", get(members))
        .route(
            "/api/v1/rooms/{room_id}/messages",
            get(list_messages).post(post_message),
        )
        .route("/api/v1/chat/rooms/{room_id}/status", get(status))
        .route(WS_PATH, get(super::ws::upgrade))
}

/// An [`AppError`] in seed 004's shape: `{success: false, message, error, retry_after_ms?}`
/// with the error's HTTP status (and `Retry-After` for `429`).
pub struct V1Error(pub AppError);

impl From<AppError> for V1Error {
    fn from(e: AppError) -> Self {
        V1Error(e)
    }
}

impl From<sea_orm::DbErr> for V1Error {
    fn from(e: sea_orm::DbErr) -> Self {
        V1Error(e.into())
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body = Failure::of(&self.0);
        let mut resp = (self.0.status(), Json(&body)).into_response();
        if let Some(ms) = body.retry_after_ms {
            let secs = ms.div_ceil(1000).max(1);
            if let Ok(v) = http::HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

type V1Result<T> = Result<(StatusCode, Json<Answer<T>>), V1Error>;

fn ok<T: Serialize>(message: &'static str, data: T) -> V1Result<T> {
    Ok((StatusCode::OK, Json(Answer::ok(message, data))))
}

/// Any chatdesk extractor, its refusal rendered in seed 004's shape.
pub struct V1<E>(pub E);

impl<E> FromRequestParts<AppState> for V1<E>
where
    E: FromRequestParts<AppState, Rejection = AppError>,
{
    type Rejection = V1Error;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &AppState,
    ) -> Result<Self, V1Error> {
        E::from_request_parts(parts, state)
            .await
            .map(V1)
            .map_err(V1Error)
    }
}

/// A JSON body read into `T`: `400` when it is not JSON or does not fit `T` (serde's reason),
/// `413` past `MAX_PAYLOAD_BYTES`. Nothing is done with a body that does not fit.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = V1Error;
    async fn from_request(req: Request, state: &S) -> Result<Self, V1Error> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    V1Error(AppError::PayloadTooLarge)
                } else {
                    V1Error(AppError::InvalidPayload(e.body_text()))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(Body)
            .map_err(|e| V1Error(AppError::InvalidPayload(format!("invalid body: {e}"))))
    }
}

/// The `{roomID}` of a path: an integer, else `400`.
pub struct RoomId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for RoomId {
    type Rejection = V1Error;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, V1Error> {
        let bad = || {
            V1Error(AppError::InvalidPayload(
                "room id must be an integer".into(),
            ))
        };
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| bad())?;
        raw.trim().parse().map(RoomId).map_err(|_| bad())
    }
}

fn auth_data(state: &AppState, account: &entity::account::Model) -> Result<AuthData, V1Error> {
    Ok(AuthData {
        token: crate::auth::issue(state, account)?,
        user: UserView::from(account),
    })
}

/// `POST /api/v1/auth/register {user_email, user_password, user_fullname}` -> `201`,
/// `data: {token, user}` (a customer, `user_role: "Member"`).
async fn register(
    State(state): State<AppState>,
    V1(ClientIp(ip)): V1<ClientIp>,
    Body(b): Body<RegisterBody>,
) -> V1Result<AuthData> {
    let account = crate::auth::http::register_customer(
        &state,
        &ip,
        Registration {
            email: Some(&b.user_email),
            username: None,
            name: Some(&b.user_fullname),
            password: Some(&b.user_password),
        },
    )
    .await?;
    let data = auth_data(&state, &account)?;
    Ok((
        StatusCode::CREATED,
        Json(Answer::ok("User registered successfully", data)),
    ))
}

/// `POST /api/v1/auth/login {user_email, user_password}` -> `data: {token, user}`.
async fn login(
    State(state): State<AppState>,
    V1(ClientIp(ip)): V1<ClientIp>,
    Body(b): Body<LoginBody>,
) -> V1Result<AuthData> {
    if b.user_email.trim().is_empty() {
        return Err(AppError::InvalidPayload("user_email is required".into()).into());
    }
    let account = crate::auth::http::sign_in(&state, &ip, &b.user_email, b.user_password).await?;
    ok("Login successful", auth_data(&state, &account)?)
}

/// `POST /api/v1/auth/logout`: the token is revoked (its WebSockets close).
async fn logout(State(state): State<AppState>, V1(SignedIn(me)): V1<SignedIn>) -> V1Result<()> {
    crate::auth::http::sign_out(&state, &me).await?;
    Ok((
        StatusCode::OK,
        Json(Answer::done("Logged out successfully")),
    ))
}

/// `GET /api/v1/rooms`: the caller's rooms.
async fn list_rooms(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
) -> V1Result<Vec<RoomView>> {
    ok(
        "Rooms retrieved successfully",
        super::list(&state, &me).await?,
    )
}

/// `POST /api/v1/rooms {room_name, room_is_direct_chat?}` -> `201`, the room.
async fn create_room(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    client: ClientInfo,
    Body(b): Body<CreateRoomBody>,
) -> V1Result<RoomView> {
    let room = super::create(
        &state,
        &me,
        client.ip,
        client.user_agent,
        &b.room_name,
        b.room_is_direct_chat,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Answer::ok("Room created successfully", room)),
    ))
}

/// `POST /api/v1/rooms/join-by-code {room_code}` -> the room.
async fn join_by_code(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    V1(ClientIp(ip)): V1<ClientIp>,
    Body(b): Body<JoinByCodeBody>,
) -> V1Result<RoomView> {
    let room = super::join_by_code(&state, &me, &ip, &b.room_code).await?;
    ok("Joined room successfully", room)
}

/// `POST /api/v1/rooms/{roomID}/join` -> the room.
async fn join_room(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
) -> V1Result<RoomView> {
    let r = super::join(&state, &me, id).await?;
    let view = RoomView::new(&r.room, &r.session, Some(r.member.member_role.clone()));
    ok("Joined room successfully", view)
}

/// `POST /api/v1/rooms/{roomID}/leave`.
async fn leave_room(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
) -> V1Result<()> {
    super::leave(&state, &me, id).await?;
    Ok((StatusCode::OK, Json(Answer::done("Left room successfully"))))
}

/// `GET /api/v1/rooms/{roomID}/members`.
async fn members(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
) -> V1Result<Vec<MemberView>> {
    ok(
        "Members retrieved successfully",
        super::members(&state, &me, id).await?,
    )
}

/// `GET /api/v1/rooms/{roomID}/messages?limit=&offset=`: in `message_id` order.
async fn list_messages(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
    V1(QueryParams(q)): V1<QueryParams<MessagesQuery>>,
) -> V1Result<Vec<MessageView>> {
    let list = super::messages(&state, &me, id, q.limit, q.offset).await?;
    ok("Messages retrieved successfully", list)
}

/// `POST /api/v1/rooms/{roomID}/messages {content}` -> `201`, the stored message.
async fn post_message(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
    Body(b): Body<PostMessageBody>,
) -> V1Result<MessageView> {
    let room = super::open(&state, &me, id).await?;
    let stored = super::post_message(&state, &me, &room, b.content).await?;
    let m = stored.message;
    let view = MessageView {
        message_id: m.seq,
        room_id: id,
        content: m.content,
        user_uuid: me.account_id.clone(),
        user_fullname: me.name.clone(),
        user_email: me.email.clone(),
        created_at: m.created_at,
    };
    Ok((
        StatusCode::CREATED,
        Json(Answer::ok("Message sent successfully", view)),
    ))
}

/// `GET /api/v1/chat/rooms/{roomID}/status`: who is connected (on this node).
async fn status(
    State(state): State<AppState>,
    V1(SignedIn(me)): V1<SignedIn>,
    RoomId(id): RoomId,
) -> V1Result<StatusView> {
    ok(
        "Room status retrieved successfully",
        super::status(&state, &me, id).await?,
    )
}

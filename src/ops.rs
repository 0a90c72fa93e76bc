//! Operations endpoints: `GET /health` (alive), `GET /ready` (database and, when configured,
//! Redis reachable), `GET /metrics` (Prometheus), `GET /api/stats` and
//! `GET /api/websocket/info` (as the seed chatbot server has them), and
//! `GET /api/openapi.json`, generated from the handlers' annotations (utoipa).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Serialize;
use utoipa::OpenApi;

use crate::error::AppResult;
use crate::sessions::types::SessionStatus;
use crate::state::AppState;

/// Live counters of this node.
pub struct Stats {
    pub started: Instant,
    pub visitors: AtomicI64,
    pub agents: AtomicI64,
    pub websockets: AtomicI64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            visitors: AtomicI64::new(0),
            agents: AtomicI64::new(0),
            websockets: AtomicI64::new(0),
        }
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/api/stats", get(stats))
        .route("/api/websocket/info", get(websocket_info))
        .route("/api/openapi.json", get(openapi))
}

/// Alive.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "`{\"status\":\"ok\"}`")))]
pub(crate) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Ready to serve: the database (and Redis, when configured) answer.
#[utoipa::path(get, path = "/ready", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "a dependency is unreachable")))]
pub(crate) async fn ready(State(state): State<AppState>) -> impl IntoResponse {
    let db_ok = state.db.ping().await.is_ok();
    let redis = match &state.redis {
        Some(r) => Some(r.is_healthy().await),
        None => None,
    };
    let ok = db_ok && redis.unwrap_or(true);
    let body = Readiness {
        status: if ok { "ready" } else { "not_ready" },
        checks: Checks {
            database: if db_ok { "ok" } else { "unreachable" },
            redis: match redis {
                Some(true) => "ok",
                Some(false) => "unreachable",
                None => "not_configured",
            },
        },
    };
    (
        if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        Json(body),
    )
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus metrics")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let s = &state.stats;
    metrics::gauge!("chatdesk_connected_visitors").set(s.visitors.load(Ordering::Relaxed) as f64);
    metrics::gauge!("chatdesk_connected_agents").set(s.agents.load(Ordering::Relaxed) as f64);
    metrics::gauge!("chatdesk_connected_websockets")
        .set(s.websockets.load(Ordering::Relaxed) as f64);
    metrics::gauge!("chatdesk_write_queue").set(state.writer.queued() as f64);
    let text = crate::metrics::install()
        .map(|h| h.render())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// Counts of this desk.
#[utoipa::path(get, path = "/api/stats", tag = "operations", responses((status = 200, description = "uptime, connections, sessions by status")))]
pub(crate) async fn stats(State(state): State<AppState>) -> AppResult<Json<DeskStats>> {
    use entity::chat_session;
    let mut sessions = BTreeMap::new();
    for st in SessionStatus::ALL {
        let n = chat_session::Entity::find()
            .filter(chat_session::Column::Status.eq(st.as_str()))
            .count(&state.db)
            .await?;
        sessions.insert(st, n);
    }
    let s = &state.stats;
    Ok(Json(DeskStats {
        uptime_seconds: s.started.elapsed().as_secs(),
        connections: Connections::of(s),
        agents_online: state.presence.online_agents().await.len(),
        sessions,
        write_queue: state.writer.queued(),
        assistant: state.assistant.as_ref().is_some_and(|a| a.has_model()),
    }))
}

/// How to connect.
#[utoipa::path(get, path = "/api/websocket/info", tag = "operations", responses((status = 200, description = "endpoints and transports")))]
pub(crate) async fn websocket_info(State(state): State<AppState>) -> Json<WebsocketInfo> {
    Json(WebsocketInfo {
        socketio: SocketIoInfo {
            path: "/socket.io/",
            namespaces: crate::hub::NAMESPACES,
            transports: state.config.transport_names(),
            auth: "handshake auth {token}, ?token= or Authorization: Bearer",
        },
        websocket: PlainWebSocketInfo {
            path: "/ws",
            aliases: ["/"],
            auth: "?token= or Authorization: Bearer",
            anonymous: state.config.ws_allow_anonymous,
        },
        conversations: ConversationsInfo {
            path: "/ws/chat",
            auth: "?token= or Authorization: Bearer (else closed with 1008)",
        },
        connections: Connections::of(&state.stats),
        max_payload_bytes: state.config.max_payload_bytes,
    })
}

/// `GET /health`: `{status: "ok"}`.
#[derive(Debug, Serialize)]
pub struct Health {
    pub status: &'static str,
}

/// `GET /ready`: `{status: ready | not_ready, checks: {database, redis}}`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: &'static str,
    pub checks: Checks,
}

/// Each dependency: `ok`, `unreachable`, or (Redis) `not_configured`.
#[derive(Debug, Serialize)]
pub struct Checks {
    pub database: &'static str,
    pub redis: &'static str,
}

/// `GET /api/stats`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskStats {
    pub uptime_seconds: u64,
    pub connections: Connections,
    pub agents_online: usize,
    /// How many sessions have each status (every status named, zero included).
    pub sessions: BTreeMap<SessionStatus, u64>,
    pub write_queue: usize,
    pub assistant: bool,
}

/// This node's open connections.
#[derive(Debug, Serialize)]
pub struct Connections {
    pub visitors: i64,
    pub agents: i64,
    pub websockets: i64,
}

impl Connections {
    fn of(s: &Stats) -> Self {
        Connections {
            visitors: s.visitors.load(Ordering::Relaxed),
            agents: s.agents.load(Ordering::Relaxed),
            websockets: s.websockets.load(Ordering::Relaxed),
        }
    }
}

/// `GET /api/websocket/info`: how to connect.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebsocketInfo {
    pub socketio: SocketIoInfo,
    pub websocket: PlainWebSocketInfo,
    /// Seed 002's dialect: one connection per person, every conversation they take part in.
    pub conversations: ConversationsInfo,
    pub connections: Connections,
    pub max_payload_bytes: usize,
}

/// Seed 002's plain-WebSocket dialect.
#[derive(Debug, Serialize)]
pub struct ConversationsInfo {
    pub path: &'static str,
    pub auth: &'static str,
}

/// The socket.io endpoint.
#[derive(Debug, Serialize)]
pub struct SocketIoInfo {
    pub path: &'static str,
    pub namespaces: [&'static str; 2],
    pub transports: Vec<&'static str>,
    pub auth: &'static str,
}

/// The plain WebSocket endpoint.
#[derive(Debug, Serialize)]
pub struct PlainWebSocketInfo {
    pub path: &'static str,
    pub aliases: [&'static str; 1],
    pub auth: &'static str,
    pub anonymous: bool,
}

#[derive(OpenApi)]
#[openapi(
    info(title = "chatdesk", description = "Support-desk chat server: REST API. The real-time protocol (socket.io events, plain WebSocket) is described in the README."),
    paths(
        health, ready, metrics, stats, websocket_info, openapi,
        crate::sessions::http::list_chats, crate::sessions::http::my_chats, crate::conversation::http::get_chat,
        crate::desk::http::patch_chat, crate::conversation::http::post_message, crate::desk::http::delete_chat,
        crate::auth::http::login, crate::auth::http::register, crate::auth::http::setup, crate::auth::http::verify, crate::auth::http::me,
        crate::auth::http::logout, crate::auth::http::list_agents, crate::auth::http::create_agent,
        crate::auth::http::update_agent, crate::auth::http::delete_agent,
        crate::labels::http::list_labels, crate::labels::http::create_label, crate::labels::http::update_label,
        crate::labels::http::delete_label, crate::desk::http::put_labels,
        crate::canned::http::list_canned, crate::canned::http::create_canned, crate::canned::http::update_canned,
        crate::canned::http::delete_canned, crate::search::http::search,
        crate::attachments::http::upload, crate::attachments::http::download, crate::attachments::http::thumbnail,
        crate::kb::http::list_articles, crate::kb::http::get_article, crate::kb::http::create_article,
        crate::kb::http::update_article, crate::kb::http::delete_article, crate::kb::http::search,
        crate::kb::http::list_rules, crate::kb::http::create_rule, crate::kb::http::update_rule,
        crate::kb::http::delete_rule, crate::reports::http::report,
        crate::desk::http::get_summary, crate::csat::http::list_ratings,
        crate::hours::http::get_hours, crate::hours::http::put_hours,
        crate::webhooks::http::list_webhooks, crate::webhooks::http::create_webhook,
        crate::webhooks::http::update_webhook, crate::webhooks::http::delete_webhook,
        crate::webhooks::http::list_deliveries, crate::webhooks::http::retry_delivery,
    ),
    modifiers(&BearerAuth),
    tags((name = "chats"), (name = "attachments"), (name = "auth"), (name = "agents"), (name = "labels"), (name = "canned-responses"), (name = "search"), (name = "reports"), (name = "knowledge base"), (name = "ratings"), (name = "settings"), (name = "webhooks"), (name = "operations"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations", responses((status = 200, description = "OpenAPI 3 document")))]
pub(crate) async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

//! HTTP guards in front of everything (REST, socket.io, WebSocket upgrades):
//! the `Origin` allow-list (CORS headers alone do not protect a WebSocket upgrade, and
//! socketioxide checks no `Origin`), the per-IP rate of new socket connections, and a
//! request span that records the path but never the query string (tokens travel there).

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;

use crate::config::TrustedHops;
use crate::error::AppError;
use crate::state::AppState;

/// Refuses foreign origins. It sits outside the CORS layer, which would otherwise answer a
/// foreign origin's preflight (`OPTIONS`) itself, with 200.
pub async fn origin_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(allowed) = state.config.allowed_origins() {
        if let Some(origin) = req.headers().get(http::header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
            if !allowed.iter().any(|a| a == origin) {
                tracing::info!(
                    origin,
                    path = req.uri().path(),
                    "refused: origin not allowed"
                );
                return AppError::Forbidden("origin not allowed".into()).into_response();
            }
        }
    }
    next.run(req).await
}

/// Refuses too many new connections from one IP (inside the CORS layer, so that a browser
/// can read the 429).
pub async fn guard(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Only a non-default hop count is carried: the default costs idle sockets nothing.
    if state.config.trust_proxy && state.config.trust_proxy_hops != 1 {
        req.extensions_mut()
            .insert(TrustedHops(state.config.trust_proxy_hops));
    }
    if is_new_connection(&req) {
        let info = crate::edge::client::client_info(
            req.headers(),
            req.extensions(),
            state.config.trust_proxy,
        );
        if let Err(e) = state
            .limits
            .connection(info.ip.as_deref().unwrap_or("unknown"))
        {
            return e.into_response();
        }
    }
    // While the database is unreachable, REST calls are answered at once instead of each
    // waiting for a connection (the breaker closes when a ping succeeds).
    if state.writer.breaker().is_open() && req.uri().path().starts_with("/api/") {
        return crate::error::AppError::Overloaded.into_response();
    }
    let req = if is_socket_path(req.uri().path()) {
        compact_head(req)
    } else {
        req
    };
    next.run(req).await
}

/// The gateway's own paths: `/ws`, and seed 002's `/ws/chat` (its own dialect). Seed 000's clients upgrade at
/// the server root (its `WebSocket.Server` has no path), which is the gateway only for an
/// upgrade ([`opens_connection`]).
pub const WS_PATHS: [&str; 2] = ["/ws", "/ws/chat"];

/// Whether a request opens a gateway connection: anything on [`WS_PATHS`], or a WebSocket upgrade
/// at `/`. The connection rate limit (below) counts exactly these, so no alias escapes it.
pub fn opens_connection(path: &str, headers: &http::HeaderMap) -> bool {
    WS_PATHS.contains(&path) || path == ROOMS_WS_PATH || (path == "/" && is_upgrade(headers))
}

/// Seed 004's room WebSocket (`rooms`), counted with the other connections.
pub const ROOMS_WS_PATH: &str = "/api/v1/chat/ws";

pub fn is_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(http::header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

fn is_socket_path(path: &str) -> bool {
    path.starts_with("/socket.io") || WS_PATHS.contains(&path)
}

/// The request headers an engine.io socket keeps: what chatdesk reads when a namespace
/// connects (`Authorization`, `User-Agent`, `X-Forwarded-For`, see `auth::socket_token` and
/// `edge::client::client_info`) and what engineioxide reads at the WebSocket upgrade
/// (`Sec-WebSocket-Key`).
fn kept_by_socket(name: &http::HeaderName) -> bool {
    use http::header::{AUTHORIZATION, SEC_WEBSOCKET_KEY, USER_AGENT};
    name == AUTHORIZATION
        || name == USER_AGENT
        || name == SEC_WEBSOCKET_KEY
        || name.as_str() == "x-forwarded-for"
}

/// Copies the request head (URI, header names and values) into fresh allocations. socketioxide
/// keeps the request parts for the socket's whole life; the originals share hyper's 16 KiB
/// connection read buffer, which would otherwise stay allocated per idle connection.
///
/// The header values are copied into one shared buffer (one allocation instead of one per
/// value, and none more when engineioxide clones the head). An engine.io handshake, whose
/// head the new socket keeps, keeps only the headers chatdesk and engineioxide read later
/// ([`kept_by_socket`]; a browser sends a dozen more, cookies included) and the two request
/// extensions the socket needs: the peer address and hyper's upgrade handle (and the trusted
/// proxy hops, when configured).
fn compact_head(mut req: Request) -> Request {
    let new_socket = is_new_connection(&req) && req.uri().path().starts_with("/socket.io");
    if let Ok(uri) = req.uri().to_string().parse::<http::Uri>() {
        if let Some(orig) = req.extensions_mut().get_mut::<axum::extract::OriginalUri>() {
            orig.0 = uri.clone();
        }
        *req.uri_mut() = uri;
    }
    let original = std::mem::take(req.headers_mut());
    let kept = || {
        original
            .iter()
            .filter(|(name, _)| !new_socket || kept_by_socket(name))
    };
    let mut values = Vec::with_capacity(kept().map(|(_, v)| v.len()).sum());
    for (_, value) in kept() {
        values.extend_from_slice(value.as_bytes());
    }
    let values = axum::body::Bytes::from(values);
    let mut headers = http::HeaderMap::with_capacity(kept().count());
    let mut at = 0;
    for (name, value) in kept() {
        let end = at + value.len();
        let (Ok(n), Ok(mut v)) = (
            http::HeaderName::from_bytes(name.as_str().as_bytes()),
            http::HeaderValue::from_maybe_shared(values.slice(at..end)),
        ) else {
            at = end;
            continue;
        };
        at = end;
        v.set_sensitive(value.is_sensitive());
        headers.append(n, v);
    }
    *req.headers_mut() = headers;
    if new_socket {
        let mut extensions = http::Extensions::new();
        if let Some(peer) = req
            .extensions_mut()
            .remove::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        {
            extensions.insert(peer);
        }
        if let Some(upgrade) = req.extensions_mut().remove::<hyper::upgrade::OnUpgrade>() {
            extensions.insert(upgrade);
        }
        if let Some(hops) = req.extensions_mut().remove::<TrustedHops>() {
            extensions.insert(hops);
        }
        *req.extensions_mut() = extensions;
    }
    req
}

/// An engine.io handshake (no `sid` yet) or a plain-WebSocket connection, on any of the
/// gateway's paths.
fn is_new_connection(req: &Request) -> bool {
    let path = req.uri().path();
    if path.starts_with("/socket.io") {
        return !req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .any(|kv| kv.starts_with("sid="));
    }
    opens_connection(path, req.headers())
}

/// Request tracing with the path only: query strings can carry `?token=`.
pub fn trace_layer(
) -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, fn(&Request) -> tracing::Span> {
    TraceLayer::new_for_http().make_span_with(request_span as fn(&Request) -> tracing::Span)
}

fn request_span(req: &Request) -> tracing::Span {
    tracing::debug_span!("request", method = %req.method(), path = %req.uri().path())
}

//! The socket.io side: namespaces, per-connection state, and how events are answered.
//!
//! Each connection gets a tracing span, its client info (IP, user agent) and the set of
//! sessions it has joined, kept in socket extensions. Capabilities register their event
//! handlers on the namespace from here.

pub mod hub;
pub mod reply;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::ConnectInfo;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{Event, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;

use crate::auth::Identity;
use crate::error::{AppError, AppResult};
use crate::limits::SocketBudget;
use crate::state::AppState;

/// Who is on the other end of a connection, as far as the network tells.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// From the handshake request: the peer address (or the first `X-Forwarded-For` entry
    /// when the proxy is trusted) and the `User-Agent` header.
    pub fn from_parts(parts: &http::request::Parts, trust_proxy: bool) -> Self {
        client_info(&parts.headers, &parts.extensions, trust_proxy)
    }
}

/// Client info from request headers and extensions (shared by REST and sockets).
pub fn client_info(
    headers: &http::HeaderMap,
    ext: &http::Extensions,
    trust_proxy: bool,
) -> ClientInfo {
    let forwarded = trust_proxy
        .then(|| headers.get("x-forwarded-for"))
        .flatten()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string());
    ClientInfo {
        ip: forwarded.or(peer),
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}

/// What chatdesk keeps per socket, set up at connect: one socket extension holding one
/// allocation. Separate extensions (span, client info, joined sessions, event budget,
/// identity) cost a boxed value each and grew the socket's extension map to eight slots;
/// this state is most of what an idle connection costs chatdesk itself.
#[derive(Clone)]
struct Conn(Arc<ConnState>);

struct ConnState {
    span: tracing::Span,
    info: ClientInfo,
    budget: SocketBudget,
    identity: Option<Box<Identity>>,
    /// Sessions joined: (public session id, internal id). Usually one: a list is smaller
    /// than a map and as fast at this size.
    joined: Mutex<Vec<(String, String)>>,
}

fn conn<A: Adapter>(s: &SocketRef<A>) -> Option<Conn> {
    s.extensions.get::<Conn>()
}

/// The sessions a socket has joined (public session id -> internal id). A handle on the
/// socket's state: a socket that never connected has none, and then nothing is recorded.
#[derive(Clone, Default)]
pub struct Joined(Option<Arc<ConnState>>);

impl Joined {
    fn with<T>(&self, f: impl FnOnce(&mut Vec<(String, String)>) -> T) -> Option<T> {
        let state = self.0.as_ref()?;
        let mut list = state.joined.lock().ok()?;
        Some(f(&mut list))
    }
    pub fn insert(&self, session_id: &str, pk: &str) {
        self.with(
            |list| match list.iter_mut().find(|(id, _)| id == session_id) {
                Some(entry) => entry.1 = pk.to_string(),
                None => {
                    list.reserve_exact(1);
                    list.push((session_id.to_string(), pk.to_string()));
                }
            },
        );
    }
    pub fn remove(&self, session_id: &str) {
        self.with(|list| list.retain(|(id, _)| id != session_id));
    }
    pub fn get(&self, session_id: &str) -> Option<String> {
        self.with(|list| {
            list.iter()
                .find(|(id, _)| id == session_id)
                .map(|(_, pk)| pk.clone())
        })
        .flatten()
    }
    pub fn contains(&self, session_id: &str) -> bool {
        self.get(session_id).is_some()
    }
    pub fn session_ids(&self) -> Vec<String> {
        self.with(|list| list.iter().map(|(id, _)| id.clone()).collect())
            .unwrap_or_default()
    }
}

/// The joined-sessions set of a socket (created at connect).
pub fn joined<A: Adapter>(s: &SocketRef<A>) -> Joined {
    Joined(conn(s).map(|c| c.0))
}

/// The connection's span.
pub fn span<A: Adapter>(s: &SocketRef<A>) -> tracing::Span {
    conn(s)
        .map(|c| c.0.span.clone())
        .unwrap_or_else(tracing::Span::current)
}

/// Client info recorded at connect.
pub fn client<A: Adapter>(s: &SocketRef<A>) -> ClientInfo {
    conn(s).map(|c| c.0.info.clone()).unwrap_or_default()
}

/// Decodes an event payload into `T`, or `invalid_payload` saying what is wrong.
pub fn parse<T: DeserializeOwned>(
    data: Result<serde_json::Value, socketioxide::ParserError>,
) -> AppResult<T> {
    let value = data.map_err(|_| AppError::InvalidPayload("payload is not valid JSON".into()))?;
    if !value.is_object() {
        return Err(AppError::InvalidPayload(
            "payload must be a JSON object".into(),
        ));
    }
    serde_json::from_value(value).map_err(|e| AppError::InvalidPayload(e.to_string()))
}

/// Why a namespace connection was refused (sent to the client as `connect_error`).
#[derive(Debug)]
pub struct ConnectRefused(pub String);

impl std::fmt::Display for ConnectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The identity a socket authenticated with, if any (kept with its state).
pub fn identity<A: Adapter>(s: &SocketRef<A>) -> Option<Identity> {
    conn(s).and_then(|c| c.0.identity.as_deref().cloned())
}

/// Spends one unit of the socket's event budget.
pub fn spend<A: Adapter>(s: &SocketRef<A>) -> AppResult<()> {
    match conn(s) {
        Some(c) => c.0.budget.check(),
        None => Ok(()),
    }
}

/// Runs an event's work and answers it: spends the socket's event budget first, runs
/// `work` inside the connection's span, then acks `{ok, data}` / `{ok: false, error}` (or
/// emits `error` when the client gave no ack).
pub async fn respond<A, T, F>(s: &SocketRef<A>, ack: reply::Ack<A>, event: &str, work: F)
where
    A: Adapter,
    T: serde::Serialize,
    F: std::future::Future<Output = AppResult<T>>,
{
    use tracing::Instrument;
    let result = match spend(s) {
        Ok(()) => work.instrument(span(s)).await,
        Err(e) => Err(e),
    };
    ack.reply(s, event, result);
}

/// Registers every namespace and its handlers.
///
/// Everything a socket needs (identity, state, event handlers) is set up in a connect
/// *middleware*: socketioxide awaits middlewares before it answers the client's CONNECT,
/// whereas the connect handler runs in a spawned task after it, so events a client sends
/// right after connecting could otherwise arrive before their handlers exist.
pub fn register(io: &SocketIo<LocalAdapter>) {
    io.ns(
        "/",
        on_connected::<LocalAdapter>.with(setup_visitor::<LocalAdapter>),
    );
    io.ns(
        "/admin",
        on_connected::<LocalAdapter>.with(setup_agent::<LocalAdapter>),
    );
}

/// The socket.io adapter that shares rooms through Redis (on a connection that survives Redis
/// outages, see `cluster::driver`).
pub type RedisAdapter = socketioxide_redis::CustomRedisAdapter<
    socketioxide::adapter::Emitter,
    crate::cluster::driver::ReconnectingDriver,
>;

/// The same namespaces on the Redis adapter (its namespaces subscribe to Redis first).
pub async fn register_redis(io: &SocketIo<RedisAdapter>) -> anyhow::Result<()> {
    io.ns(
        "/",
        on_connected::<RedisAdapter>.with(setup_visitor::<RedisAdapter>),
    )
    .await
    .map_err(|e| anyhow::anyhow!("Redis adapter (/): {e}"))?;
    io.ns(
        "/admin",
        on_connected::<RedisAdapter>.with(setup_agent::<RedisAdapter>),
    )
    .await
    .map_err(|e| anyhow::anyhow!("Redis adapter (/admin): {e}"))?;
    Ok(())
}

/// Authenticates a connection: a token that is present must be valid (never silently
/// downgraded to anonymous).
async fn authenticate<A: Adapter>(
    s: &SocketRef<A>,
    auth: Option<&Value>,
    state: &AppState,
) -> Result<Option<Identity>, ConnectRefused> {
    let refused = |e: AppError| match e {
        AppError::Unauthorized(why) => ConnectRefused(format!("unauthorized: {why}")),
        e => ConnectRefused(format!("{}: {}", e.code(), e)),
    };
    let Some(token) = crate::auth::socket_token(auth, s.req_parts()).map_err(refused)? else {
        return Ok(None);
    };
    crate::auth::authenticate(state, &token)
        .await
        .map(Some)
        .map_err(refused)
}

/// Per-connection state shared by both namespaces.
fn setup_common<A: Adapter>(s: &SocketRef<A>, state: &AppState, identity: Option<Identity>) {
    let info = ClientInfo::from_parts(s.req_parts(), state.config.trust_proxy);
    let who = identity
        .as_ref()
        .map(|i| i.account_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!("conn", sid = %s.id, ns = s.ns(), ip = info.ip.as_deref().unwrap_or("-"), account = %who);
    s.extensions.insert(Conn(Arc::new(ConnState {
        span,
        info,
        budget: state.limits.socket_budget(),
        identity: identity.map(Box::new),
        joined: Mutex::new(Vec::new()),
    })));
}

async fn setup_visitor<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), ConnectRefused> {
    let identity = authenticate(&s, auth.as_ref().ok(), &state).await?;
    setup_common(&s, &state, identity);
    s.on_fallback(dispatch::<A>);
    s.on_disconnect(async |s: SocketRef<A>, State(state): State<AppState>| {
        crate::metrics::connection_closed("/");
        state
            .stats
            .visitors
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        span(&s).in_scope(|| tracing::debug!("disconnected"));
        if !self::identity(&s).is_some_and(|i| i.is_staff()) {
            for session_id in joined(&s).session_ids() {
                crate::sessions::events::visitor_left(&state, &session_id, &s.id.to_string()).await;
            }
        }
    });
    Ok(())
}

/// "/admin": staff only (a valid agent or admin token), or any console in legacy open mode.
async fn setup_agent<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), ConnectRefused> {
    let identity = match authenticate(&s, auth.as_ref().ok(), &state).await? {
        Some(id) if id.is_staff() => id,
        Some(_) => return Err(ConnectRefused("forbidden: staff only".into())),
        None if state.config.insecure_open_admin => {
            crate::auth::warn_legacy("connect /admin");
            Identity::legacy_console()
        }
        None => return Err(ConnectRefused("unauthorized: staff token required".into())),
    };
    setup_common(&s, &state, Some(identity));
    s.join(hub::AGENTS_ROOM);
    s.on_fallback(dispatch::<A>);
    s.on_disconnect(async |s: SocketRef<A>, State(state): State<AppState>| {
        crate::metrics::connection_closed("/admin");
        state
            .stats
            .agents
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        span(&s).in_scope(|| tracing::debug!("disconnected"));
        if let Some(me) = self::identity(&s) {
            crate::desk::agent_disconnected(&state, &me, &s.id.to_string()).await;
        }
    });
    Ok(())
}

/// Routes a socket's events to their handlers. Every socket has this one fallback handler
/// instead of one map entry per event: socketioxide keeps a handler map per socket, and 33
/// entries (about 2.7 KB) were the largest piece of our own per-connection memory.
/// Staff-only events are handled on "/admin" only (on "/" they are answered `unauthorized`);
/// unknown events are ignored.
async fn dispatch<A: Adapter>(
    s: SocketRef<A>,
    Event(event): Event,
    data: TryData<Value>,
    ack: reply::Ack<A>,
    state: State<AppState>,
) {
    use crate::desk::events as desk;
    use crate::sessions::events as sessions;
    let staff_ns = s.ns() == "/admin";
    // Each handler runs in its own box: this task stays small (the largest handler made it
    // 11 KB, allocated and copied for every event), and only the running handler's own
    // state is allocated.
    let work: futures::future::BoxFuture<'static, ()> = match event.as_str() {
        "init_session" => Box::pin(sessions::init_session(s, data, ack, state)),
        "user_message" => Box::pin(sessions::user_message(s, data, ack, state)),
        "admin_message" => Box::pin(sessions::admin_message(s, data, ack, state)),
        "typing" => Box::pin(sessions::typing(s, data, ack, state)),
        "read" => Box::pin(sessions::read(s, data, ack, state)),
        "get_history" => Box::pin(sessions::get_history(s, data, ack, state)),
        "clear_history" => Box::pin(sessions::clear_history(s, data, ack, state)),
        "request_human" => Box::pin(desk::request_human(s, data, ack, state, "request_human")),
        "human-escalation" => {
            Box::pin(desk::request_human(s, data, ack, state, "human-escalation"))
        }
        "call-offer" => Box::pin(crate::calls::relay(s, data, ack, state, "call-offer")),
        "call-answer" => Box::pin(crate::calls::relay(s, data, ack, state, "call-answer")),
        "ice-candidate" => Box::pin(crate::calls::relay(s, data, ack, state, "ice-candidate")),
        "call-end" => Box::pin(crate::calls::relay(s, data, ack, state, "call-end")),
        "list_sessions" if staff_ns => Box::pin(desk::list_sessions(s, data, ack, state)),
        "join_session" if staff_ns => Box::pin(desk::join_session(s, data, ack, state)),
        "leave_session" if staff_ns => Box::pin(desk::leave_session(s, data, ack)),
        "claim_session" if staff_ns => Box::pin(desk::claim_session(s, data, ack, state)),
        "release_session" if staff_ns => Box::pin(desk::release_session(s, data, ack, state)),
        "transfer_session" if staff_ns => Box::pin(desk::transfer_session(s, data, ack, state)),
        "resolve_session" if staff_ns => Box::pin(desk::resolve_session(s, data, ack, state)),
        "reopen_session" if staff_ns => Box::pin(desk::reopen_session(s, data, ack, state)),
        "list_sessions" | "join_session" | "leave_session" | "claim_session"
        | "release_session" | "transfer_session" | "resolve_session" | "reopen_session" => {
            Box::pin(desk::staff_event_elsewhere(s, ack, event))
        }
        _ => return,
    };
    work.await
}

async fn on_connected<A: Adapter>(s: SocketRef<A>, State(state): State<AppState>) {
    let admin = s.ns() == "/admin";
    let counter = if admin {
        &state.stats.agents
    } else {
        &state.stats.visitors
    };
    counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    crate::metrics::connection_opened(if admin { "/admin" } else { "/" });
    span(&s).in_scope(|| tracing::debug!(transport = ?s.transport_type(), "connected"));
    if admin {
        if let Some(me) = identity(&s) {
            crate::desk::agent_connected(&state, &me, &s.id.to_string()).await;
        }
        // The new socket learns who is online (others heard it from agent_connected).
        let agents = state.presence.online_agents().await;
        if let Err(e) = s.emit("presence", &serde_json::json!({ "agents": agents })) {
            tracing::debug!(error = %e, "presence not sent");
        }
    }
}

//! The socket.io side: namespaces, per-connection state, and how events are answered.
//!
//! Each connection gets a tracing span, its client info (IP, user agent) and the set of
//! sessions it has joined, kept in socket extensions. Capabilities register their event
//! handlers on the namespace from here.

pub mod agent;
pub mod calls;
pub mod dashboard;
pub mod lane;
pub mod reply;
pub mod types;
pub mod visitor;

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::adapter::{Adapter, LocalAdapter};
use socketioxide::extract::{Event, SocketRef, State, TryData};
use socketioxide::handler::{ConnectHandler, FromMessageParts, MessageHandler};
use socketioxide::socket::Socket;
use socketioxide::SocketIo;
use socketioxide_core::Value as PacketValue;

use crate::auth::Identity;
use crate::edge::client::ClientInfo;
use crate::error::{AppError, AppResult};
use crate::hub;
use crate::messages::types::Sender;
use crate::state::AppState;
use lane::Lane;

/// What chatdesk keeps per socket, set up at connect: one socket extension holding one
/// allocation. Separate extensions (span, client info, joined sessions, event budget,
/// identity) cost a boxed value each and grew the socket's extension map to eight slots;
/// this state is most of what an idle connection costs chatdesk itself.
#[derive(Clone)]
struct Conn(Arc<ConnState>);

struct ConnState {
    span: tracing::Span,
    info: ClientInfo,
    identity: Option<Box<Identity>>,
    /// Sessions joined: (public session id, internal id). Usually one: a list is smaller
    /// than a map and as fast at this size.
    joined: Mutex<Vec<(String, String)>>,
    /// The socket's events, in the order it sent them.
    lane: Arc<Lane>,
    /// Sessions this socket created: made with its first (most sockets create none).
    made: Mutex<Option<Made>>,
}

/// What a socket that creates sessions keeps: its budget of new ones and its latest one.
struct Made {
    budget: crate::edge::limits::SessionBudget,
    /// Internal id of the session this socket created last.
    last: Option<String>,
}

/// The session (internal id) this socket created last, if any.
pub fn last_created<A: Adapter>(s: &SocketRef<A>) -> Option<String> {
    let c = conn(s)?;
    let made = c.0.made.lock().ok()?;
    made.as_ref().and_then(|m| m.last.clone())
}

/// Spends one new session of this socket's budget and of its address's, or says how long
/// to wait.
pub fn spend_new_session<A: Adapter>(s: &SocketRef<A>, state: &AppState) -> AppResult<()> {
    let ip = client(s).ip.unwrap_or_default();
    let Some(c) = conn(s) else {
        return state.limits.new_session(&ip, None);
    };
    let mut made =
        c.0.made
            .lock()
            .map_err(|_| AppError::Internal(anyhow::anyhow!("socket state poisoned")))?;
    let made = made.get_or_insert_with(|| Made {
        budget: state.limits.session_budget(),
        last: None,
    });
    state.limits.new_session(&ip, Some(&made.budget))
}

/// Remembers the session this socket just created.
pub fn record_created<A: Adapter>(s: &SocketRef<A>, pk: &str) {
    if let Some(c) = conn(s) {
        if let Ok(mut made) = c.0.made.lock() {
            if let Some(m) = made.as_mut() {
                m.last = Some(pk.to_string());
            }
        }
    }
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

/// Who a socket's events come from: its identity and, for a visitor, the verified
/// identifier it proved.
pub fn caller<A: Adapter>(s: &SocketRef<A>) -> crate::sessions::Caller {
    crate::sessions::Caller {
        identity: identity(s),
        verified: s
            .extensions
            .get::<crate::sessions::VerifiedVisitor>()
            .map(|v| v.0),
    }
}

/// The identity a socket authenticated with, if any (kept with its state).
pub fn identity<A: Adapter>(s: &SocketRef<A>) -> Option<Identity> {
    conn(s).and_then(|c| c.0.identity.as_deref().cloned())
}

/// Runs an event's work and answers it: runs `work` inside the connection's span, then acks
/// `{ok, data}` / `{ok: false, error}` (or emits `error` when the client gave no ack). The
/// socket's event budget was spent when the event was queued ([`Ordered`]).
pub async fn respond<A, T, F>(s: &SocketRef<A>, ack: reply::Ack<A>, event: &str, work: F)
where
    A: Adapter,
    T: serde::Serialize,
    F: std::future::Future<Output = AppResult<T>>,
{
    use tracing::Instrument;
    let result = work.instrument(span(s)).await;
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
    // Revocation reaches a signed-in socket through these rooms (on every node).
    if let Some(id) = identity.as_ref().filter(|i| !i.legacy) {
        s.join([hub::account_room(&id.account_id), hub::token_room(&id.jti)]);
    }
    if identity.as_ref().is_some_and(Identity::is_staff) && s.ns() == hub::NAMESPACES[0] {
        s.join(hub::STAFF_ROOM);
    }
    s.extensions.insert(Conn(Arc::new(ConnState {
        span,
        info,
        identity: identity.map(Box::new),
        joined: Mutex::new(Vec::new()),
        lane: Arc::new(Lane::default()),
        made: Mutex::new(None),
    })));
}

async fn setup_visitor<A: Adapter>(
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
    State(state): State<AppState>,
) -> Result<(), ConnectRefused> {
    let identity = authenticate(&s, auth.as_ref().ok(), &state).await?;
    setup_common(&s, &state, identity);
    s.on_fallback(Ordered);
    s.on_disconnect(async |s: SocketRef<A>, State(state): State<AppState>| {
        crate::metrics::connection_closed("/");
        state
            .stats
            .visitors
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        span(&s).in_scope(|| tracing::debug!("disconnected"));
        state.hub.dashboard_left(s.id);
        if !self::identity(&s).is_some_and(|i| i.is_staff()) {
            for session_id in joined(&s).session_ids() {
                crate::desk::visitors::visitor_left(&state, &session_id, &s.id.to_string()).await;
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
    s.on_fallback(Ordered);
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

/// The message handler of every socket. socketioxide calls a handler synchronously from the
/// connection's reader, in the order the packets arrived, and an `async fn` handler would
/// then be spawned as a task of its own (run in no particular order); this one instead
/// queues the event on the socket's lane (see [`lane`]), which applies them in order.
#[derive(Clone, Copy)]
struct Ordered;

/// The marker type of [`Ordered`]'s `MessageHandler` implementation.
struct OrderedEvents;

impl<A: Adapter> MessageHandler<A, OrderedEvents> for Ordered {
    fn call(&self, s: Arc<Socket<A>>, mut v: PacketValue, ack_id: Option<i64>) {
        // The same extractors, in the same order, as socketioxide's own handlers use.
        let Ok(Event(event)) = Event::from_message_parts(&s, &mut v, &ack_id) else {
            return;
        };
        let Ok(socket) = SocketRef::from_message_parts(&s, &mut v, &ack_id);
        let Ok(data) = TryData::<Value>::from_message_parts(&s, &mut v, &ack_id);
        let Ok(ack) = reply::Ack::from_message_parts(&s, &mut v, &ack_id);
        let Ok(state) = State::<AppState>::from_message_parts(&s, &mut v, &ack_id) else {
            tracing::error!("socket has no app state; event ignored");
            return;
        };
        dispatch(socket, event, data, ack, state);
    }
}

/// Routes a socket's events to their handlers, through the socket's lane. Every socket has
/// this one handler instead of one map entry per event: socketioxide keeps a handler map per
/// socket, and 33 entries (about 2.7 KB) were the largest piece of our own per-connection
/// memory. Staff-only events are handled on "/admin" only (on "/" they are answered
/// `unauthorized`); unknown events are ignored. Sends are pipelined (the lane does not wait
/// for their commit); every other event waits for the answers of the sends before it.
fn dispatch<A: Adapter>(
    s: SocketRef<A>,
    event: String,
    data: TryData<Value>,
    ack: reply::Ack<A>,
    state: State<AppState>,
) {
    use agent as desk;
    use futures::future::BoxFuture;
    use lane::Job;
    use visitor as sessions;
    let Some(Conn(conn)) = conn(&s) else {
        return;
    };
    // A token that expired while its socket was open has no powers left: the socket is
    // told and closed (its client signs in again).
    if let Some(id) = conn.identity.as_deref() {
        if !id.legacy && id.expires_at <= chrono::Utc::now() {
            ack.fail(
                &s,
                &event,
                AppError::Unauthorized("token has expired".into()),
            );
            let _ = s.disconnect();
            return;
        }
    }
    let staff_ns = s.ns() == "/admin";
    let known = matches!(
        event.as_str(),
        "init_session"
            | "user_message"
            | "admin_message"
            | "typing"
            | "read"
            | "get_history"
            | "clear_history"
            | "request_human"
            | "human-escalation"
            | "rate_session"
            | "leave_contact"
            | "call-offer"
            | "call-answer"
            | "ice-candidate"
            | "call-end"
            | "list_sessions"
            | "join_session"
            | "leave_session"
            | "claim_session"
            | "release_session"
            | "transfer_session"
            | "resolve_session"
            | "reopen_session"
            | "set_labels"
            | "toggle-ai-mode"
            | "admin-connect"
            | "get-sessions"
            | "get-all-sessions"
            | "get-messages"
            | "admin-join-session"
            | "admin-leave-session"
    );
    if !known {
        return;
    }
    let Some(begin) = conn.lane.begin() else {
        ack.fail(
            &s,
            &event,
            AppError::RateLimited {
                retry_after_ms: 1000,
            },
        );
        return;
    };
    let (lane, ticket) = (conn.lane.clone(), begin.ticket);
    // Over budget, or the server is shutting down: answered in its turn (after the answers
    // of earlier events), not run.
    let refused = if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        Err(AppError::Unavailable)
    } else {
        state.limits.socket_event(s.id)
    };
    if let Err(e) = refused {
        lane.answer(ticket, Box::new(move || ack.fail(&s, &event, e)));
        return;
    }
    let lanes = state.lanes.clone();
    let barrier = |f: BoxFuture<'static, ()>| Job {
        ticket,
        barrier: true,
        work: f,
    };
    // Each handler runs in its own box: the lane's task stays small (the largest handler
    // made a task 11 KB), and only the running handler's own state is allocated.
    let job = match event.as_str() {
        "user_message" | "admin_message" => {
            let send = sessions::SendEvent {
                s,
                data: data.0,
                ack,
                state: state.0,
                sender: if event == "admin_message" {
                    Sender::Admin
                } else {
                    Sender::User
                },
                lane: lane.clone(),
                ticket,
            };
            // Nothing before it still runs: checked and handed to the writer right here.
            let work: BoxFuture<'static, ()> = if begin.inline {
                match sessions::send_now(send) {
                    None => return,
                    Some(checked) => Box::pin(sessions::send_checked(checked)),
                }
            } else {
                Box::pin(sessions::send_message(send))
            };
            Job {
                ticket,
                barrier: false,
                work,
            }
        }
        "init_session" => barrier(Box::pin(sessions::init_session(s, data, ack, state))),
        "typing" => barrier(Box::pin(sessions::typing(s, data, ack, state))),
        "read" => barrier(Box::pin(sessions::read(s, data, ack, state))),
        "get_history" => barrier(Box::pin(sessions::get_history(s, data, ack, state))),
        "clear_history" => barrier(Box::pin(sessions::clear_history(s, data, ack, state))),
        "rate_session" => barrier(Box::pin(sessions::rate_session(s, data, ack, state))),
        "leave_contact" => barrier(Box::pin(sessions::leave_contact(s, data, ack, state))),
        "request_human" => barrier(Box::pin(desk::request_human(
            s,
            data,
            ack,
            state,
            "request_human",
        ))),
        "human-escalation" => barrier(Box::pin(desk::request_human(
            s,
            data,
            ack,
            state,
            "human-escalation",
        ))),
        "call-offer" => barrier(Box::pin(calls::relay(s, data, ack, state, "call-offer"))),
        "call-answer" => barrier(Box::pin(calls::relay(s, data, ack, state, "call-answer"))),
        "ice-candidate" => barrier(Box::pin(calls::relay(s, data, ack, state, "ice-candidate"))),
        "call-end" => barrier(Box::pin(calls::relay(s, data, ack, state, "call-end"))),
        "list_sessions" if staff_ns => barrier(Box::pin(desk::list_sessions(s, data, ack, state))),
        "join_session" if staff_ns => barrier(Box::pin(desk::join_session(s, data, ack, state))),
        "leave_session" if staff_ns => barrier(Box::pin(desk::leave_session(s, data, ack))),
        "claim_session" if staff_ns => barrier(Box::pin(desk::claim_session(s, data, ack, state))),
        "release_session" if staff_ns => {
            barrier(Box::pin(desk::release_session(s, data, ack, state)))
        }
        "transfer_session" if staff_ns => {
            barrier(Box::pin(desk::transfer_session(s, data, ack, state)))
        }
        "resolve_session" if staff_ns => {
            barrier(Box::pin(desk::resolve_session(s, data, ack, state)))
        }
        "reopen_session" if staff_ns => {
            barrier(Box::pin(desk::reopen_session(s, data, ack, state)))
        }
        "set_labels" if staff_ns => barrier(Box::pin(desk::set_labels(s, data, ack, state))),
        "toggle-ai-mode" => barrier(Box::pin(dashboard::toggle_ai_mode(s, data, ack, state))),
        // The reference dashboard's protocol lives on "/" (see `dashboard`).
        "admin-connect" if !staff_ns => barrier(Box::pin(dashboard::connect(s, data, ack, state))),
        "get-sessions" if !staff_ns => {
            barrier(Box::pin(dashboard::get_sessions(s, data, ack, state)))
        }
        "get-all-sessions" if !staff_ns => {
            barrier(Box::pin(dashboard::get_all_sessions(s, data, ack, state)))
        }
        "get-messages" if !staff_ns => {
            barrier(Box::pin(dashboard::get_messages(s, data, ack, state)))
        }
        "admin-join-session" if !staff_ns => {
            barrier(Box::pin(dashboard::join(s, data, ack, state)))
        }
        "admin-leave-session" if !staff_ns => {
            barrier(Box::pin(dashboard::leave(s, data, ack, state)))
        }
        "admin-connect"
        | "get-sessions"
        | "get-all-sessions"
        | "get-messages"
        | "admin-join-session"
        | "admin-leave-session" => barrier(Box::pin(dashboard::elsewhere(s, ack, event))),
        _ => barrier(Box::pin(desk::staff_event_elsewhere(s, ack, event))),
    };
    lane.push(job, &lanes);
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
            crate::desk::agent_connected(&state, &me, hub::Except::socket(&s)).await;
        }
        // The new socket learns who is online here, once (agent_connected told the others).
        let agents = state.presence.online_agents().await;
        let presence = crate::desk::types::Presence { agents: &agents };
        if let Err(e) = s.emit("presence", &presence) {
            tracing::debug!(error = %e, "presence not sent");
        }
    }
}

//! The hub: how services broadcast to a session's room without knowing which socket.io
//! adapter (local or Redis) carries it. A session's room exists in "/" (visitors) and in
//! "/admin" (agents); `to_session` reaches both.
//!
//! A broadcast is serialized once, to JSON text shared by every namespace it goes to; the
//! structured form that the plain-WebSocket gateway and the cross-node relay read is built
//! only when one of them listens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;

pub mod coalesce;

use coalesce::{Coalescer, Emit};

/// Namespaces a session room lives in.
pub const NAMESPACES: [&str; 2] = ["/", "/admin"];
/// Room every agent socket joins in "/admin".
pub const AGENTS_ROOM: &str = "agents";
/// Room of the staff sockets in "/" that speak the reference dashboard's protocol
/// (`admin-connect`).
pub const DASHBOARDS_ROOM: &str = "dashboards";
/// Every staff socket in "/" (a signed-in console or dashboard).
pub const STAFF_ROOM: &str = "staff";
/// The rooms of "/" whose sockets are staff, never a session's visitors.
const STAFF_ROOMS: [&str; 2] = [STAFF_ROOM, DASHBOARDS_ROOM];

/// A broadcast's payload, serialized once.
pub type Payload = Arc<RawValue>;

/// The socket a broadcast leaves out, in its own namespace only: socketioxide gives a client
/// the same socket id in every namespace it joined over one connection, so an id alone would
/// also leave out that client's socket in the other namespace (a console that is visitor and
/// agent at once would not hear its own peer's typing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Except {
    pub ns: &'static str,
    pub sid: Sid,
}

impl Except {
    /// Leaves out this socket.
    pub fn socket<A: Adapter>(s: &SocketRef<A>) -> Self {
        let ns = if s.ns() == NAMESPACES[1] {
            NAMESPACES[1]
        } else {
            NAMESPACES[0]
        };
        Except { ns, sid: s.id }
    }

    /// The socket to leave out of a broadcast in `ns`, if any.
    fn in_ns(except: Option<Except>, ns: &str) -> Option<Sid> {
        except.filter(|e| e.ns == ns).map(|e| e.sid)
    }
}

/// Something that can emit an already-serialized payload to a room.
pub trait Broadcaster: Send + Sync + 'static {
    fn emit(
        &self,
        ns: &'static str,
        room: String,
        event: &'static str,
        data: Payload,
        except: Option<Sid>,
    ) -> BoxFuture<'static, ()>;

    /// Disconnects every socket of a room (on every node, through the adapter).
    /// ... but `except` (a socket of this node), if given, and the sockets in `spare` rooms.
    fn disconnect(
        &self,
        ns: &'static str,
        room: String,
        except: Option<Sid>,
        spare: &'static [&'static str],
    ) -> BoxFuture<'static, ()>;

    /// Emits to the sockets of a room on this node only.
    fn emit_local(
        &self,
        ns: &'static str,
        room: &'static str,
        event: &'static str,
        data: Payload,
    ) -> BoxFuture<'static, ()>;

    /// Emits to every socket of a namespace on this node.
    fn emit_local_all(
        &self,
        ns: &'static str,
        event: &'static str,
        data: Payload,
    ) -> BoxFuture<'static, ()>;
}

impl<A: Adapter> Broadcaster for SocketIo<A> {
    fn emit_local(
        &self,
        ns: &'static str,
        room: &'static str,
        event: &'static str,
        data: Payload,
    ) -> BoxFuture<'static, ()> {
        let io = self.clone();
        Box::pin(async move {
            let Some(op) = io.of(ns) else { return };
            if let Err(e) = op.local().to(room).emit(event, &*data).await {
                log_socket_errors(&e, event, ns);
            }
        })
    }

    fn emit_local_all(
        &self,
        ns: &'static str,
        event: &'static str,
        data: Payload,
    ) -> BoxFuture<'static, ()> {
        let io = self.clone();
        Box::pin(async move {
            let Some(op) = io.of(ns) else { return };
            if let Err(e) = op.local().emit(event, &*data).await {
                log_socket_errors(&e, event, ns);
            }
        })
    }

    fn disconnect(
        &self,
        ns: &'static str,
        room: String,
        except: Option<Sid>,
        spare: &'static [&'static str],
    ) -> BoxFuture<'static, ()> {
        let io = self.clone();
        Box::pin(async move {
            let Some(op) = io.of(ns) else { return };
            let op = match except.and_then(|sid| op.get_socket(sid)) {
                // `socket.to(room)` leaves the socket itself out.
                Some(keep) => keep.to(room),
                None => op.to(room),
            }
            .except(spare);
            if let Err(e) = op.disconnect().await {
                tracing::warn!(error = %e, ns, "disconnecting a room's sockets failed");
            }
        })
    }

    fn emit(
        &self,
        ns: &'static str,
        room: String,
        event: &'static str,
        data: Payload,
        except: Option<Sid>,
    ) -> BoxFuture<'static, ()> {
        let io = self.clone();
        Box::pin(async move {
            let Some(op) = io.of(ns) else { return };
            let sender = except.and_then(|sid| op.get_socket(sid));
            if event == "message" {
                let local = op.clone().to(room.clone()).sockets().len();
                let local = if sender.is_some() {
                    local.saturating_sub(1)
                } else {
                    local
                };
                crate::metrics::message_delivered(local as u64);
            }
            let op = match sender {
                // `socket.to(room)` leaves the socket itself out of the broadcast.
                Some(sender) => sender.to(room),
                None => op.to(room),
            };
            match op.clone().emit(event, &*data).await {
                Ok(()) => {}
                // The adapter could not reach the other nodes (Redis down), and it stops
                // before its local delivery: this node's own sockets are still served.
                Err(e @ socketioxide::BroadcastError::Adapter(_)) => {
                    tracing::warn!(error = %e, event, ns, "broadcast to other nodes failed; delivering locally");
                    if let Err(e) = op.local().emit(event, &*data).await {
                        log_socket_errors(&e, event, ns);
                    }
                }
                // Some sockets of the room could not take the packet; every other one has
                // it already, so nothing is sent again (that would be a duplicate for them).
                Err(e) => log_socket_errors(&e, event, ns),
            }
        })
    }
}

/// A socket that closed while the room was being broadcast to is routine (it is leaving); a
/// full outgoing buffer means a client too slow to keep up: it is disconnected at once
/// (patches/engineioxide, patch 6), and resumes with `lastSeq` when it reconnects.
fn log_socket_errors(e: &socketioxide::BroadcastError, event: &str, ns: &str) {
    use socketioxide::SocketError;
    match e {
        socketioxide::BroadcastError::Socket(errors) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            if full > 0 {
                crate::metrics::slow_clients_disconnected(full as u64);
                tracing::warn!(
                    event,
                    ns,
                    sockets = full,
                    "outgoing buffer full: slow sockets disconnected (they resume on reconnect)"
                );
            } else {
                tracing::debug!(
                    event,
                    ns,
                    sockets = errors.len(),
                    "broadcast reached closing sockets"
                );
            }
        }
        e => tracing::warn!(error = %e, event, ns, "local broadcast failed"),
    }
}

/// Carries room events to the listeners of other nodes (see `cluster::relay`).
pub trait HubRelay: Send + Sync + 'static {
    /// An event emitted to a session's room on this node.
    fn publish(&self, session_id: &str, event: &'static str, data: &Payload);
    /// This node has listeners in the session now.
    fn watch(&self, session_id: &str);
    /// ... and no longer.
    fn unwatch(&self, session_id: &str);
    /// Plain WebSockets under this revocation key are to be closed on every node.
    fn revoke(&self, key: &str);
    /// The desk's session list changed on this node (see [`SessionsPulse`]).
    fn sessions_changed(&self);
}

/// "The desk's session list changed" (a session started, got a message, lost its visitor),
/// for the views that show the whole list (the reference dashboard's `sessions-list`).
/// Changes are only flagged here, never computed: whoever shows the list waits on it, lets
/// changes gather for a while, then reads the list once. Changes of other nodes arrive
/// through the relay and are flagged apart, so that they are not relayed back.
#[derive(Default)]
pub struct SessionsPulse {
    local: std::sync::atomic::AtomicBool,
    remote: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl SessionsPulse {
    fn flag(&self, flag: &std::sync::atomic::AtomicBool) {
        if !flag.swap(true, std::sync::atomic::Ordering::AcqRel) {
            self.notify.notify_one();
        }
    }

    /// Waits for the next change; then says whether it (or any since) was this node's and
    /// whether any was another node's, and clears both.
    pub async fn changed(&self) -> (bool, bool) {
        use std::sync::atomic::Ordering;
        loop {
            let local = self.local.swap(false, Ordering::AcqRel);
            let remote = self.remote.swap(false, Ordering::AcqRel);
            if local || remote {
                return (local, remote);
            }
            self.notify.notified().await;
        }
    }
}

type Listeners = Arc<Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>>;

/// How long per-session agent updates are merged for by default (see [`coalesce`]).
///
/// [`coalesce`]: self::coalesce
pub const AGENT_UPDATE_WINDOW: std::time::Duration = std::time::Duration::from_millis(250);

/// Cheap, cloneable handle; set once the socket.io layer exists.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<OnceLock<Arc<dyn Broadcaster>>>,
    /// Per-session agent updates, merged per window.
    coalescer: Arc<Coalescer>,
    /// How merged updates leave (built once the broadcaster is set).
    emit_merged: Arc<OnceLock<Emit>>,
    /// Local listeners of a session's events that are not socket.io sockets (the plain
    /// WebSocket gateway).
    listeners: Listeners,
    relay: Arc<OnceLock<Arc<dyn HubRelay>>>,
    /// Plain-WebSocket connections by revocation key (account, token), to close them when
    /// their powers are revoked.
    revocable: Arc<Revocables>,
    /// Changes of the desk's session list.
    pulse: Arc<SessionsPulse>,
    /// This node's dashboard sockets (staff in "/" after `admin-connect`).
    dashboards: Arc<Mutex<std::collections::HashSet<Sid>>>,
}

/// Plain-WebSocket connections by revocation key: (registration id, its token).
type Revocables = Mutex<HashMap<String, Vec<(u64, CancellationToken)>>>;

/// Closes this node's plain WebSockets registered under `key`.
fn cancel(revocable: &Revocables, key: &str) {
    let local = revocable
        .lock()
        .ok()
        .and_then(|mut m| m.remove(key))
        .unwrap_or_default();
    for (_, token) in local {
        token.cancel();
    }
}

/// The room of every socket.io socket signed in as an account.
pub fn account_room(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// The revocation key of the anonymous plain WebSockets of a session.
pub fn session_room(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// The room of every socket.io socket signed in with one token (by its id).
pub fn token_room(jti: &str) -> String {
    format!("token:{jti}")
}

/// The key of an account's plain-WebSocket listeners (seed 002's connections): what is
/// sent to a person rather than to a conversation, as call signalling.
pub fn user_key(account_id: &str) -> String {
    format!("user:{account_id}")
}

/// A plain-WebSocket connection's registration for revocation; cancelled when its account
/// or token is revoked, unregistered when dropped.
pub struct Revocation {
    pub cancelled: CancellationToken,
    id: u64,
    keys: Vec<String>,
    map: Weak<Revocables>,
}

impl Drop for Revocation {
    fn drop(&mut self) {
        let Some(map) = self.map.upgrade() else {
            return;
        };
        let Ok(mut m) = map.lock() else { return };
        for k in &self.keys {
            if let Some(list) = m.get_mut(k) {
                list.retain(|(id, _)| *id != self.id);
                if list.is_empty() {
                    m.remove(k);
                }
            }
        }
    }
}

/// A hub handle that does not keep the hub alive (for the relay's own tasks).
pub struct WeakHub {
    listeners: Weak<Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>>,
    revocable: Weak<Revocables>,
    pulse: Weak<SessionsPulse>,
}

impl WeakHub {
    /// Another node's session list changed; false once the hub is gone.
    pub fn sessions_changed_elsewhere(&self) -> bool {
        match self.pulse.upgrade() {
            Some(p) => {
                p.flag(&p.remote);
                true
            }
            None => false,
        }
    }

    /// Tells every local listener (plain WebSocket) that events of other nodes may have
    /// been missed ([`RESYNC`]): they catch up from the database. False once the hub is gone.
    pub fn resync_local(&self) -> bool {
        let Some(l) = self.listeners.upgrade() else {
            return false;
        };
        let senders: Vec<_> = l
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for tx in senders {
            let _ = tx.send(SessionEvent {
                event: RESYNC,
                data: Arc::new(serde_json::Value::Null),
                except: None,
            });
        }
        true
    }

    /// Closes this node's plain WebSockets under a revocation key (another node revoked
    /// it); false once the hub is gone.
    pub fn revoke_local(&self, key: &str) -> bool {
        match self.revocable.upgrade() {
            Some(r) => {
                cancel(&r, key);
                true
            }
            None => false,
        }
    }

    /// Hands an event to this node's listeners of the session; false once the hub is gone.
    pub fn deliver_local(&self, session_id: &str, ev: SessionEvent) -> bool {
        match self.listeners.upgrade() {
            Some(l) => {
                deliver(&l, session_id, ev);
                true
            }
            None => false,
        }
    }
}

fn deliver(listeners: &Listeners, session_id: &str, ev: SessionEvent) {
    if let Some(tx) = listener(listeners, session_id) {
        let _ = tx.send(ev);
    }
}

/// The channel of this node's listeners of a session, if it has any.
fn listener(listeners: &Listeners, session_id: &str) -> Option<broadcast::Sender<SessionEvent>> {
    listeners.lock().ok()?.get(session_id).cloned()
}

/// The local event that tells a listener to catch up from the database (its node lost
/// Redis for a while: other nodes' events of that time never came).
pub const RESYNC: &str = "resync";

/// One event of a session, as delivered to local listeners.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    pub event: &'static str,
    pub data: Arc<serde_json::Value>,
    /// The socket.io socket left out of this event, if any.
    pub except: Option<Except>,
}

/// A subscription to a session's events; unsubscribes when dropped.
pub struct Subscription {
    pub rx: broadcast::Receiver<SessionEvent>,
    session_id: String,
    listeners: Listeners,
    relay: Option<Arc<dyn HubRelay>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Ok(mut m) = self.listeners.lock() {
            if m.get(&self.session_id)
                .is_some_and(|tx| tx.receiver_count() <= 1)
            {
                m.remove(&self.session_id);
                if let Some(r) = &self.relay {
                    r.unwatch(&self.session_id);
                }
            }
        }
    }
}

impl Default for Hub {
    fn default() -> Self {
        Hub::with_agent_window(AGENT_UPDATE_WINDOW)
    }
}

impl Hub {
    /// A hub whose per-session agent updates are merged over `window` (zero: never).
    pub fn with_agent_window(window: std::time::Duration) -> Self {
        Hub {
            inner: Arc::default(),
            coalescer: Coalescer::new(window),
            emit_merged: Arc::default(),
            listeners: Listeners::default(),
            relay: Arc::default(),
            revocable: Arc::default(),
            pulse: Arc::default(),
            dashboards: Arc::default(),
        }
    }

    /// A socket of this node became a dashboard.
    pub fn dashboard_joined(&self, sid: Sid) {
        if let Ok(mut set) = self.dashboards.lock() {
            set.insert(sid);
        }
    }

    /// A socket of "/" closed (it may have been a dashboard).
    pub fn dashboard_left(&self, sid: Sid) {
        if let Ok(mut set) = self.dashboards.lock() {
            set.remove(&sid);
        }
    }

    /// Whether this node has dashboard sockets.
    pub fn has_local_dashboards(&self) -> bool {
        self.dashboards
            .lock()
            .map(|s| !s.is_empty())
            .unwrap_or(false)
    }

    /// The desk's session list changed on this node.
    pub fn sessions_changed(&self) {
        self.pulse.flag(&self.pulse.local);
    }

    /// Tells the other nodes that this node's session list changed (once per gathered batch
    /// of changes, by whoever waits on the pulse).
    pub fn relay_sessions_changed(&self) {
        if let Some(r) = self.relay.get() {
            r.sessions_changed();
        }
    }

    /// The changes of the desk's session list, to wait on.
    pub fn pulse(&self) -> Arc<SessionsPulse> {
        self.pulse.clone()
    }

    /// Registers a plain-WebSocket connection under its revocation keys (`account_room`,
    /// `token_room`).
    pub fn revocable(&self, keys: Vec<String>) -> Revocation {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cancelled = CancellationToken::new();
        if let Ok(mut m) = self.revocable.lock() {
            for k in &keys {
                m.entry(k.clone())
                    .or_default()
                    .push((id, cancelled.clone()));
            }
        }
        Revocation {
            cancelled,
            id,
            keys,
            map: Arc::downgrade(&self.revocable),
        }
    }

    /// Closes the plain WebSockets registered under `key`, on this node and (through the
    /// relay, when there is one) on the others.
    fn close_plain(&self, key: &str) {
        cancel(&self.revocable, key);
        if let Some(relay) = self.relay.get() {
            relay.revoke(key);
        }
    }

    /// Disconnects every connection under a revocation key: socket.io sockets in both
    /// namespaces on every node (through the adapter), and this node's plain WebSockets.
    pub async fn revoke(&self, key: String) {
        self.close_plain(&key);
        if let Some(b) = self.inner.get() {
            for ns in NAMESPACES {
                b.disconnect(ns, key.clone(), None, &[]).await;
            }
        }
    }

    pub fn set(&self, b: Arc<dyn Broadcaster>) {
        let _ = self.inner.set(b.clone());
        let _ = self.emit_merged.set(Arc::new(move |event, data| {
            tokio::spawn(b.emit("/admin", AGENTS_ROOM.to_string(), event, data, None));
        }));
    }

    /// Relays room events to other nodes' listeners from now on.
    pub fn set_relay(&self, r: Arc<dyn HubRelay>) {
        let _ = self.relay.set(r);
    }

    pub fn downgrade(&self) -> WeakHub {
        WeakHub {
            listeners: Arc::downgrade(&self.listeners),
            revocable: Arc::downgrade(&self.revocable),
            pulse: Arc::downgrade(&self.pulse),
        }
    }

    /// Emits `event` to every socket of the session's room, in both namespaces.
    pub async fn to_session<T: Serialize + ?Sized>(
        &self,
        session_id: &str,
        event: &'static str,
        data: &T,
        except: Option<Except>,
    ) {
        self.to_room(session_id, event, data, except, &NAMESPACES)
            .await
    }

    /// Emits `event` to the plain-WebSocket listeners of `key` only (on every node, through
    /// the relay): a session's (news for seed 004's room connections that socket.io clients
    /// do not get), or a person's ([`user_key`]: no socket.io room has that name).
    pub async fn to_listeners<T: Serialize + ?Sized>(
        &self,
        key: &str,
        event: &'static str,
        data: &T,
    ) {
        self.to_room(key, event, data, None, &[]).await
    }

    /// Emits `event` to the visitor side of the session's room only: its sockets in "/" and
    /// the plain-WebSocket listeners (the agents in "/admin" do not hear it).
    pub async fn to_visitors<T: Serialize + ?Sized>(
        &self,
        session_id: &str,
        event: &'static str,
        data: &T,
    ) {
        self.to_room(session_id, event, data, None, &NAMESPACES[..1])
            .await
    }

    /// Emits `event` to the staff in the session's room only: the agents in "/admin" (on
    /// every node, through the adapter), never the visitor's side, the plain-WebSocket
    /// listeners or the seed protocols (a private note).
    pub async fn to_staff_in_session<T: Serialize + ?Sized>(
        &self,
        session_id: &str,
        event: &'static str,
        data: &T,
        except: Option<Except>,
    ) {
        self.to_admin_room(session_id.to_string(), event, data, except)
            .await
    }

    async fn to_room<T: Serialize + ?Sized>(
        &self,
        session_id: &str,
        event: &'static str,
        data: &T,
        except: Option<Except>,
        namespaces: &[&'static str],
    ) {
        let Some(b) = self.inner.get() else { return };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        if let Some(tx) = listener(&self.listeners, session_id) {
            match serde_json::from_str(raw.get()) {
                Ok(value) => {
                    let _ = tx.send(SessionEvent {
                        event,
                        data: Arc::new(value),
                        except,
                    });
                }
                Err(e) => tracing::error!(error = %e, event, "could not read broadcast back"),
            }
        }
        if let Some(r) = self.relay.get() {
            r.publish(session_id, event, &raw);
        }
        for &ns in namespaces {
            let skip = Except::in_ns(except, ns);
            b.emit(ns, session_id.to_string(), event, raw.clone(), skip)
                .await;
        }
    }

    /// Listens to every event of a session's room (for clients that are not socket.io).
    pub fn subscribe(&self, session_id: &str) -> Subscription {
        let relay = self.relay.get().cloned();
        let rx = match self.listeners.lock() {
            Ok(mut m) => m
                .entry(session_id.to_string())
                .or_insert_with(|| {
                    if let Some(r) = &relay {
                        r.watch(session_id);
                    }
                    broadcast::channel(1024).0
                })
                .subscribe(),
            Err(_) => broadcast::channel(1).1,
        };
        Subscription {
            rx,
            session_id: session_id.to_string(),
            listeners: self.listeners.clone(),
            relay,
        }
    }

    /// Emits a partial update of one session (`session_updated`, `visitor_presence`) to
    /// every agent socket in "/admin", merged with the session's other updates of the same
    /// event when they come faster than the agent window (see [`coalesce`]).
    /// `kind` names the payload's shape: a newer update of the same kind replaces an older
    /// one outright; only updates of different kinds are merged field by field.
    pub async fn to_agents_about<T: Serialize + ?Sized>(
        &self,
        event: &'static str,
        kind: &'static str,
        session_id: &str,
        data: &T,
    ) {
        let (Some(b), Some(emit)) = (self.inner.get(), self.emit_merged.get()) else {
            return;
        };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        if let Some(now) = self.coalescer.offer(event, kind, session_id, raw, emit) {
            b.emit("/admin", AGENTS_ROOM.to_string(), event, now, None)
                .await;
        }
    }

    /// A session became a signed-in customer's (or a verified visitor's): every other
    /// visitor-side connection that could reach it by its id is closed (socket.io "/" on
    /// every node but `keep`, and anonymous plain WebSockets), so that whoever handed out the
    /// id cannot go on reading or writing it. Staff on "/admin" stay.
    pub async fn evict_visitors(&self, session_id: &str, keep: Option<Except>) {
        self.close_plain(&session_room(session_id));
        if let Some(b) = self.inner.get() {
            let keep = Except::in_ns(keep, NAMESPACES[0]);
            // Staff sockets on "/" (the reference dashboard, a console) watch the session;
            // they are not its visitors.
            b.disconnect(NAMESPACES[0], session_id.to_string(), keep, &STAFF_ROOMS)
                .await;
        }
    }

    /// Emits `event` to every socket.io socket of this node, in both namespaces.
    pub async fn to_everyone<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        let Some(b) = self.inner.get() else { return };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        for ns in NAMESPACES {
            b.emit_local_all(ns, event, raw.clone()).await;
        }
    }

    /// Emits `event` to every socket of the visitors' namespace "/" on this node (every node
    /// does the same for its own sockets: the desk's availability).
    pub async fn to_visitors_here<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        let Some(b) = self.inner.get() else { return };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        b.emit_local_all(NAMESPACES[0], event, raw).await;
    }

    /// Emits `event` to every agent socket in "/admin" (but `except`, when given).
    pub async fn to_agents<T: Serialize + ?Sized>(
        &self,
        event: &'static str,
        data: &T,
        except: Option<Except>,
    ) {
        self.to_admin_room(AGENTS_ROOM.to_string(), event, data, except)
            .await
    }

    /// Emits `event` to a room of "/admin" (on every node, through the adapter).
    async fn to_admin_room<T: Serialize + ?Sized>(
        &self,
        room: String,
        event: &'static str,
        data: &T,
        except: Option<Except>,
    ) {
        let Some(b) = self.inner.get() else { return };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        let ns = NAMESPACES[1];
        b.emit(ns, room, event, raw, Except::in_ns(except, ns))
            .await;
    }
}

impl Hub {
    /// Emits `event` to every dashboard socket (staff in "/" after `admin-connect`), on
    /// every node.
    /// On one node (no relay) nothing is serialized when there is no dashboard: this runs
    /// for every visitor message.
    pub async fn to_dashboards<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        let Some(b) = self.inner.get() else { return };
        if self.relay.get().is_none() && !self.has_local_dashboards() {
            return;
        }
        let Some(raw) = serialize(event, data) else {
            return;
        };
        b.emit(NAMESPACES[0], DASHBOARDS_ROOM.to_string(), event, raw, None)
            .await;
    }

    /// Emits `event` to this node's dashboard sockets only.
    pub async fn to_dashboards_here<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        let Some(b) = self.inner.get() else { return };
        let Some(raw) = serialize(event, data) else {
            return;
        };
        b.emit_local(NAMESPACES[0], DASHBOARDS_ROOM, event, raw)
            .await;
    }

    /// Emits `event` to every staff socket: agents in "/admin" and dashboards in "/".
    pub async fn to_staff<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        self.to_agents(event, data, None).await;
        self.to_dashboards(event, data).await;
    }
}

/// A broadcast's payload as JSON text, once for all its recipients.
fn serialize<T: Serialize + ?Sized>(event: &str, data: &T) -> Option<Payload> {
    match serde_json::value::to_raw_value(data) {
        Ok(raw) => Some(Arc::from(raw)),
        Err(e) => {
            tracing::error!(error = %e, event, "could not serialize broadcast");
            None
        }
    }
}

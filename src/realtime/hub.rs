//! The hub: how services broadcast to a session's room without knowing which socket.io
//! adapter (local or Redis) carries it. A session's room exists in "/" (visitors) and in
//! "/admin" (agents); `to_session` reaches both.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use tokio::sync::broadcast;

use futures::future::BoxFuture;
use serde::Serialize;
use socketioxide::adapter::Adapter;
use socketioxide::socket::Sid;
use socketioxide::SocketIo;

/// Namespaces a session room lives in.
pub const NAMESPACES: [&str; 2] = ["/", "/admin"];
/// Room every agent socket joins in "/admin".
pub const AGENTS_ROOM: &str = "agents";

/// Something that can emit an already-serialized payload to a room.
pub trait Broadcaster: Send + Sync + 'static {
    fn emit(
        &self,
        ns: &'static str,
        room: String,
        event: &'static str,
        data: Arc<serde_json::Value>,
        except: Option<Sid>,
    ) -> BoxFuture<'static, ()>;
}

impl<A: Adapter> Broadcaster for SocketIo<A> {
    fn emit(
        &self,
        ns: &'static str,
        room: String,
        event: &'static str,
        data: Arc<serde_json::Value>,
        except: Option<Sid>,
    ) -> BoxFuture<'static, ()> {
        let io = self.clone();
        Box::pin(async move {
            let Some(op) = io.of(ns) else { return };
            if event == "message" {
                let local = op.clone().to(room.clone()).sockets().len();
                let local = if except.is_some_and(|sid| op.get_socket(sid).is_some()) {
                    local.saturating_sub(1)
                } else {
                    local
                };
                crate::metrics::message_delivered(local as u64);
            }
            let op = match except.and_then(|sid| op.get_socket(sid)) {
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
/// full outgoing buffer means a client too slow to keep up lost this packet.
fn log_socket_errors(e: &socketioxide::BroadcastError, event: &str, ns: &str) {
    use socketioxide::SocketError;
    match e {
        socketioxide::BroadcastError::Socket(errors) => {
            let full = errors
                .iter()
                .filter(|e| matches!(e, SocketError::InternalChannelFull))
                .count();
            if full > 0 {
                tracing::warn!(
                    event,
                    ns,
                    sockets = full,
                    "outgoing buffer full: packet dropped for slow sockets"
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
    fn publish(&self, session_id: &str, event: &'static str, data: &Arc<serde_json::Value>);
    /// This node has listeners in the session now.
    fn watch(&self, session_id: &str);
    /// ... and no longer.
    fn unwatch(&self, session_id: &str);
}

type Listeners = Arc<Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>>;

/// Cheap, cloneable handle; set once the socket.io layer exists.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<OnceLock<Arc<dyn Broadcaster>>>,
    /// Local listeners of a session's events that are not socket.io sockets (the plain
    /// WebSocket gateway).
    listeners: Listeners,
    relay: Arc<OnceLock<Arc<dyn HubRelay>>>,
}

/// A hub handle that does not keep the hub alive (for the relay's own tasks).
pub struct WeakHub {
    listeners: Weak<Mutex<HashMap<String, broadcast::Sender<SessionEvent>>>>,
}

impl WeakHub {
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
    let tx = listeners
        .lock()
        .ok()
        .and_then(|m| m.get(session_id).cloned());
    if let Some(tx) = tx {
        let _ = tx.send(ev);
    }
}

/// One event of a session, as delivered to local listeners.
#[derive(Debug, Clone)]
pub struct SessionEvent {
    pub event: &'static str,
    pub data: Arc<serde_json::Value>,
    /// The socket.io socket left out of this event, if any.
    pub except: Option<Sid>,
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

impl Hub {
    pub fn set(&self, b: Arc<dyn Broadcaster>) {
        let _ = self.inner.set(b);
    }

    /// Relays room events to other nodes' listeners from now on.
    pub fn set_relay(&self, r: Arc<dyn HubRelay>) {
        let _ = self.relay.set(r);
    }

    pub fn downgrade(&self) -> WeakHub {
        WeakHub {
            listeners: Arc::downgrade(&self.listeners),
        }
    }

    /// Emits `event` to every socket of the session's room, in both namespaces.
    pub async fn to_session<T: Serialize + ?Sized>(
        &self,
        session_id: &str,
        event: &'static str,
        data: &T,
        except: Option<Sid>,
    ) {
        let Some(b) = self.inner.get() else { return };
        let Ok(value) = serde_json::to_value(data) else {
            tracing::error!(event, "could not serialize broadcast");
            return;
        };
        let value = Arc::new(value);
        deliver(
            &self.listeners,
            session_id,
            SessionEvent {
                event,
                data: value.clone(),
                except,
            },
        );
        if let Some(r) = self.relay.get() {
            r.publish(session_id, event, &value);
        }
        for ns in NAMESPACES {
            b.emit(ns, session_id.to_string(), event, value.clone(), except)
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

    /// Emits `event` to every agent socket in "/admin".
    pub async fn to_agents<T: Serialize + ?Sized>(&self, event: &'static str, data: &T) {
        let Some(b) = self.inner.get() else { return };
        let Ok(value) = serde_json::to_value(data) else {
            return;
        };
        b.emit(
            "/admin",
            AGENTS_ROOM.to_string(),
            event,
            Arc::new(value),
            None,
        )
        .await;
    }
}

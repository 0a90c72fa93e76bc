//! The hub: how services broadcast to a session's room without knowing which socket.io
//! adapter (local or Redis) carries it. A session's room exists in "/" (visitors) and in
//! "/admin" (agents); `to_session` reaches both.

use std::sync::{Arc, OnceLock};

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
            let op = match except.and_then(|sid| op.get_socket(sid)) {
                // `socket.to(room)` leaves the socket itself out of the broadcast.
                Some(sender) => sender.to(room),
                None => op.to(room),
            };
            if let Err(e) = op.emit(event, &*data).await {
                tracing::warn!(error = %e, event, ns, "broadcast failed");
            }
        })
    }
}

/// Cheap, cloneable handle; set once the socket.io layer exists.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<OnceLock<Arc<dyn Broadcaster>>>,
}

impl Hub {
    pub fn set(&self, b: Arc<dyn Broadcaster>) {
        let _ = self.inner.set(b);
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
        for ns in NAMESPACES {
            b.emit(ns, session_id.to_string(), event, value.clone(), except)
                .await;
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

//! The events of a session's room, relayed between nodes for the clients that are not
//! socket.io sockets (the plain WebSocket gateway): socket.io sockets get them through the
//! Redis adapter, but the gateway listens to the hub, which is local to a node.
//!
//! Every room event a node emits is published on `<prefix>:hub:<sessionId>`; a node
//! subscribes to that channel while it has a gateway client in the session. Revocations
//! (an account disabled, a token logged out, a session taken by its owner) go out on
//! `<prefix>:revoke`, which every node hears: its gateway clients under that key close. That
//! a node's session list changed goes out on `<prefix>:sessions` (at most once per gathered
//! batch of changes, see `hub::SessionsPulse`); the nodes with dashboards read the list again. Publishing
//! never waits: a full queue or an unreachable Redis drops the relay (the clients of other
//! nodes resume from history, as after any gap), never the local delivery.

use std::collections::HashSet;
use std::sync::Arc;

use futures::StreamExt;
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::mpsc;

use super::{Backoff, Redis};
use crate::hub::{HubRelay, Payload, SessionEvent, WeakHub};

/// The room events gateway clients use (anything else is not relayed).
const RELAYED: [&str; 15] = [
    "message",
    "typing",
    "read",
    "history_cleared",
    "session_status",
    "queue_position",
    "stream-start",
    "stream-token",
    "stream-end",
    "human-escalation-response",
    "call-offer",
    "call-answer",
    "ice-candidate",
    // seed 004's room presence (`rooms::types::JOINED`, `LEFT`)
    "room_user_joined",
    "room_user_left",
];

enum Watch {
    Start(String),
    Stop(String),
}

/// The relay through Redis pub/sub.
pub struct RedisRelay {
    redis: Arc<Redis>,
    out: mpsc::Sender<(String, &'static str, Payload)>,
    watch: mpsc::UnboundedSender<Watch>,
}

impl RedisRelay {
    /// Starts the publishing and subscribing tasks; they stop when the relay is dropped.
    pub fn spawn(redis: Arc<Redis>, hub: WeakHub) -> Arc<RedisRelay> {
        let (out, out_rx) = mpsc::channel(10_000);
        let (watch, watch_rx) = mpsc::unbounded_channel();
        tokio::spawn(publish(redis.clone(), out_rx));
        tokio::spawn(subscribe(redis.clone(), hub, watch_rx));
        Arc::new(RedisRelay { redis, out, watch })
    }
}

impl HubRelay for RedisRelay {
    fn publish(&self, session_id: &str, event: &'static str, data: &Payload) {
        if !RELAYED.contains(&event) {
            return;
        }
        let channel = self.redis.key(&["hub", session_id]);
        if self.out.try_send((channel, event, data.clone())).is_err() {
            tracing::debug!(event, "relay queue full; event not relayed to other nodes");
        }
    }

    fn watch(&self, session_id: &str) {
        let _ = self
            .watch
            .send(Watch::Start(self.redis.key(&["hub", session_id])));
    }

    fn unwatch(&self, session_id: &str) {
        let _ = self
            .watch
            .send(Watch::Stop(self.redis.key(&["hub", session_id])));
    }

    fn revoke(&self, key: &str) {
        let Ok(raw) = serde_json::value::to_raw_value(key) else {
            return;
        };
        let channel = self.redis.key(&["revoke"]);
        if self
            .out
            .try_send((channel, "revoke", Arc::from(raw)))
            .is_err()
        {
            tracing::warn!("relay queue full; revocation not relayed to other nodes");
        }
    }

    fn sessions_changed(&self) {
        let channel = self.redis.key(&["sessions"]);
        let Ok(raw) = serde_json::value::to_raw_value(&Value::Null) else {
            return;
        };
        if self
            .out
            .try_send((channel, "sessions", Arc::from(raw)))
            .is_err()
        {
            tracing::debug!("relay queue full; session list change not relayed");
        }
    }
}

/// What goes over the channel: the publishing node, the event and its payload.
#[derive(Serialize)]
struct Relayed<'a> {
    n: &'a str,
    e: &'a str,
    d: &'a RawValue,
}

async fn publish(redis: Arc<Redis>, mut rx: mpsc::Receiver<(String, &'static str, Payload)>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, event, data) in batch.drain(..) {
            let relayed = Relayed {
                n: &redis.node_id,
                e: event,
                d: &data,
            };
            let Ok(payload) = serde_json::to_string(&relayed) else {
                continue;
            };
            pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
        }
        if let Err(e) = redis.query::<()>(&pipe).await {
            crate::metrics::redis_failure("relay");
            tracing::debug!(error = %e, "room events not relayed to other nodes");
        }
    }
}

async fn subscribe(redis: Arc<Redis>, hub: WeakHub, mut rx: mpsc::UnboundedReceiver<Watch>) {
    // Revocations of plain WebSockets, heard all the time (subscribed again on reconnect).
    let revoke_channel = redis.key(&["revoke"]);
    let sessions_channel = redis.key(&["sessions"]);
    let mut channels: HashSet<String> =
        HashSet::from([revoke_channel.clone(), sessions_channel.clone()]);
    let prefix = redis.key(&["hub", ""]);
    let mut backoff = Backoff::default();
    let mut lost = false;
    loop {
        let pubsub =
            match tokio::time::timeout(super::REDIS_TIMEOUT, redis.client().get_async_pubsub())
                .await
            {
                Ok(Ok(p)) => p,
                _ => {
                    // Redis is away: keep track of what to watch, and try again.
                    let retry = tokio::time::sleep(backoff.next_delay());
                    tokio::pin!(retry);
                    loop {
                        tokio::select! {
                            _ = &mut retry => break,
                            w = rx.recv() => match w {
                                None => return,
                                Some(w) => track(&mut channels, w),
                            },
                        }
                    }
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        if !channels.is_empty() {
            let list: Vec<&String> = channels.iter().collect();
            if sink.subscribe(list).await.is_err() {
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        }
        backoff.reset();
        if std::mem::take(&mut lost) && !(hub.resync_local() && hub.sessions_changed_elsewhere()) {
            return;
        }
        loop {
            tokio::select! {
                w = rx.recv() => {
                    let Some(w) = w else { return };
                    let result = match &w {
                        Watch::Start(c) => sink.subscribe(c).await,
                        Watch::Stop(c) => sink.unsubscribe(c).await,
                    };
                    track(&mut channels, w);
                    if result.is_err() {
                        break; // reconnect, then subscribe to everything again
                    }
                }
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let Ok(v) = serde_json::from_slice::<Value>(msg.get_payload_bytes()) else {
                        continue;
                    };
                    if v.get("n").and_then(Value::as_str) == Some(redis.node_id.as_str()) {
                        continue; // our own: delivered locally already
                    }
                    if msg.get_channel_name() == sessions_channel {
                        if !hub.sessions_changed_elsewhere() {
                            return;
                        }
                        continue;
                    }
                    if msg.get_channel_name() == revoke_channel {
                        if let Some(key) = v.get("d").and_then(Value::as_str) {
                            if !hub.revoke_local(key) {
                                return;
                            }
                        }
                        continue;
                    }
                    let Some(session_id) = msg.get_channel_name().strip_prefix(&prefix) else {
                        continue;
                    };
                    let Some(event) = v
                        .get("e")
                        .and_then(Value::as_str)
                        .and_then(|e| RELAYED.iter().find(|r| **r == e).copied())
                    else {
                        continue;
                    };
                    let data = Arc::new(v.get("d").cloned().unwrap_or(Value::Null));
                    if !hub.deliver_local(session_id, SessionEvent { event, data, except: None }) {
                        return; // the node is shutting down
                    }
                }
            }
        }
        tracing::warn!("room relay lost Redis; reconnecting");
        lost = true;
    }
}

fn track(channels: &mut HashSet<String>, w: Watch) {
    match w {
        Watch::Start(c) => {
            channels.insert(c);
        }
        Watch::Stop(c) => {
            channels.remove(&c);
        }
    }
}

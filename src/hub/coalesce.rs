//! The staff firehose, coalesced. Every stored message used to send each agent console a
//! `session_updated`: at 20,000 messages per second desk-wide that is 20,000 events per second
//! to every console, most of them stale before they are drawn. Per-session updates for the
//! agents (`session_updated`, `visitor_presence`) now go through here: the first update of a
//! session goes out at once; updates that follow within `window` are merged (the newest of a
//! kind replaces the older one; different kinds are merged field by field, later fields win:
//! every such event is a partial update of one session, which the console upserts) and sent as one when the window ends. So a console gets at most one
//! update per session and event per window, and a quiet session's update is not delayed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::time::Instant;

use super::Payload;

/// Sends a merged update (event, payload) to the agents.
pub type Emit = Arc<dyn Fn(&'static str, Payload) + Send + Sync>;

/// What is waiting for one (event, session): at most one payload per kind, oldest first.
struct Slot {
    last_sent: Instant,
    pending: Vec<(&'static str, Payload)>,
}

#[derive(Default)]
struct Slots {
    /// By event, then by session (looked up by `&str`: no key is allocated per update).
    map: HashMap<&'static str, HashMap<String, Slot>>,
    flusher: bool,
}

/// Coalesces per-session agent updates.
pub struct Coalescer {
    window: Duration,
    slots: Mutex<Slots>,
}

impl Coalescer {
    pub fn new(window: Duration) -> Arc<Self> {
        Arc::new(Coalescer {
            window,
            slots: Mutex::new(Slots::default()),
        })
    }

    /// Takes an update: returns it when it may go out now, or keeps it for the window's end.
    pub fn offer(
        self: &Arc<Self>,
        event: &'static str,
        kind: &'static str,
        session_id: &str,
        data: Payload,
        emit: &Emit,
    ) -> Option<Payload> {
        if self.window.is_zero() {
            return Some(data);
        }
        let now = Instant::now();
        let Ok(mut slots) = self.slots.lock() else {
            return Some(data);
        };
        let sessions = slots.map.entry(event).or_default();
        match sessions.get_mut(session_id) {
            Some(slot) if !slot.pending.is_empty() || now < slot.last_sent + self.window => {
                // The newest of a kind replaces the older one and goes last (later wins).
                slot.pending.retain(|(k, _)| *k != kind);
                slot.pending.push((kind, data));
            }
            Some(slot) => {
                slot.last_sent = now;
                return Some(data);
            }
            None => {
                sessions.insert(
                    session_id.to_string(),
                    Slot {
                        last_sent: now,
                        pending: Vec::new(),
                    },
                );
                return Some(data);
            }
        }
        if !std::mem::replace(&mut slots.flusher, true) {
            tokio::spawn(flush_loop(Arc::downgrade(self), emit.clone()));
        }
        None
    }

    /// Sends what is due; forgets quiet sessions. False when nothing is left to watch.
    fn flush(&self, emit: &Emit) -> bool {
        let now = Instant::now();
        let mut due = Vec::new();
        let busy = {
            let Ok(mut slots) = self.slots.lock() else {
                return false;
            };
            let window = self.window;
            for (event, sessions) in slots.map.iter_mut() {
                sessions.retain(|_, slot| {
                    if !slot.pending.is_empty() && now >= slot.last_sent + window {
                        slot.last_sent = now;
                        due.push((*event, std::mem::take(&mut slot.pending)));
                    }
                    !slot.pending.is_empty() || now < slot.last_sent + window
                });
            }
            slots.map.retain(|_, sessions| !sessions.is_empty());
            let busy = !slots.map.is_empty();
            if !busy {
                slots.flusher = false;
            }
            busy
        };
        for (event, updates) in due {
            if let Some(merged) = merge(updates) {
                emit(event, merged);
            }
        }
        busy
    }
}

/// Runs while some session has updates waiting or was updated within the window.
async fn flush_loop(me: Weak<Coalescer>, emit: Emit) {
    loop {
        let Some(window) = me.upgrade().map(|c| c.window) else {
            return;
        };
        tokio::time::sleep((window / 4).max(Duration::from_millis(10))).await;
        let Some(c) = me.upgrade() else { return };
        if !c.flush(&emit) {
            return;
        }
    }
}

/// One payload from several partial updates of the same session (later fields win).
fn merge(updates: Vec<(&'static str, Payload)>) -> Option<Payload> {
    let mut updates: Vec<Payload> = updates.into_iter().map(|(_, p)| p).collect();
    if updates.len() == 1 {
        return updates.pop();
    }
    let mut merged = Map::new();
    for raw in &updates {
        match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(fields)) => merged.extend(fields),
            Ok(_) => return updates.pop(),
            Err(e) => {
                tracing::error!(error = %e, "could not read an agent update back");
                return updates.pop();
            }
        }
    }
    match serde_json::value::to_raw_value(&merged) {
        Ok(raw) => Some(Arc::from(raw)),
        Err(_) => updates.pop(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(v: Value) -> Payload {
        Arc::from(serde_json::value::to_raw_value(&v).unwrap())
    }

    #[tokio::test]
    async fn the_first_update_goes_out_and_the_rest_are_merged_per_window() {
        let sent: Arc<Mutex<Vec<Value>>> = Arc::default();
        let log = sent.clone();
        let emit: Emit = Arc::new(move |_, p: Payload| {
            log.lock()
                .unwrap()
                .push(serde_json::from_str(p.get()).unwrap())
        });
        let c = Coalescer::new(Duration::from_secs(2));
        let first = c.offer(
            "session_updated",
            "activity",
            "a",
            raw(serde_json::json!({"sessionId": "a", "unread": 1})),
            &emit,
        );
        assert!(first.is_some(), "a quiet session's update goes out at once");
        for n in 2..=100 {
            let later = c.offer(
                "session_updated",
                "activity",
                "a",
                raw(serde_json::json!({"sessionId": "a", "unread": n})),
                &emit,
            );
            assert!(later.is_none());
        }
        assert!(c
            .offer(
                "session_updated",
                "read",
                "a",
                raw(serde_json::json!({"sessionId": "a", "readSeq": 7})),
                &emit
            )
            .is_none());
        for _ in 0..100 {
            if !sent.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            *sent.lock().unwrap(),
            vec![serde_json::json!({"sessionId": "a", "unread": 100, "readSeq": 7})]
        );
    }
}

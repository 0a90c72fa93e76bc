//! Stopping the assistant on every node. A reply streams from the node where the visitor
//! wrote, but a human can take over on any node (a claim, an assignment, a staff message).
//! The assistant's cancel stops the generation on its own node and, through the hook set here,
//! publishes the session on `<prefix>:ai:cancel`; every other node stops its generation of
//! that session (and forgets a reply still owed) when it hears it. Publishing never waits:
//! with Redis away, the other nodes' generations run to their end, as on one node before.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::channel::{self, Heard};
use super::Redis;

/// What can be cancelled across nodes (the assistant implements it): it is told how to
/// publish its own cancels, and cancels on this node what another node published.
pub trait Cancellable: Send + Sync + 'static {
    /// Sets how this node's cancels reach the others (once).
    fn on_cancel(&self, remote: Box<dyn Fn(&str) + Send + Sync>);
    /// Another node cancelled this session's work.
    fn cancel_local(&self, session_pk: &str);
}

/// A cancel on `<prefix>:ai:cancel`: `{n: node id, s: session pk}`.
#[derive(Debug, Serialize, Deserialize)]
struct CancelNotice<'a> {
    #[serde(rename = "n", borrow)]
    node: Cow<'a, str>,
    #[serde(rename = "s", borrow)]
    session_pk: Cow<'a, str>,
}

/// Connects the assistant to the other nodes: its cancels are published, theirs are heard.
pub fn attach<T: Cancellable>(redis: Arc<Redis>, ai: &Arc<T>) {
    let channel = redis.key(&["ai", "cancel"]);
    let publisher = redis.clone();
    let out = channel.clone();
    ai.on_cancel(Box::new(move |session_pk: &str| {
        let notice = CancelNotice {
            node: Cow::Borrowed(&publisher.node_id),
            session_pk: Cow::Borrowed(session_pk),
        };
        match serde_json::to_string(&notice) {
            Ok(payload) => channel::publish(publisher.clone(), out.clone(), payload, "cancel"),
            Err(e) => tracing::error!(error = %e, "assistant cancel not encoded"),
        }
    }));
    let ai = Arc::downgrade(ai);
    let node = redis.node_id.clone();
    tokio::spawn(channel::subscribe(redis, channel, "cancel", move |heard| {
        // Hears the other nodes' cancels until the assistant is gone.
        let alive = match (ai.upgrade(), heard) {
            (None, _) => false,
            (Some(ai), Heard::Message(bytes)) => {
                if let Ok(notice) = serde_json::from_slice::<CancelNotice>(&bytes) {
                    if notice.node != node {
                        ai.cancel_local(&notice.session_pk); // not our own: cancelled here already
                    }
                }
                true
            }
            (Some(_), Heard::Resubscribed) => true,
        };
        Box::pin(std::future::ready(alive))
    }));
}

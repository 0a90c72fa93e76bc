//! Stopping the assistant on every node. A reply streams from the node where the visitor
//! wrote, but a human can take over on any node (a claim, an assignment, a staff message).
//! The assistant's cancel stops the generation on its own node and, through the hook set here,
//! publishes the session on `<prefix>:ai:cancel`; every other node stops its generation of
//! that session (and forgets a reply still owed) when it hears it. Publishing never waits:
//! with Redis away, the other nodes' generations run to their end, as on one node before.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Backoff, Redis, REDIS_TIMEOUT};

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
        let redis = publisher.clone();
        let channel = out.clone();
        let notice = CancelNotice {
            node: Cow::Borrowed(&redis.node_id),
            session_pk: Cow::Borrowed(session_pk),
        };
        let payload = match serde_json::to_string(&notice) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "assistant cancel not encoded");
                return;
            }
        };
        tokio::spawn(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
            if let Err(e) = redis.query::<()>(&pipe).await {
                crate::metrics::redis_failure("cancel");
                tracing::warn!(error = %e, "assistant cancel not published to other nodes");
            }
        });
    }));
    tokio::spawn(listen(redis, channel, Arc::downgrade(ai)));
}

/// Hears the other nodes' cancels until the assistant is gone; reconnects (with
/// [`Backoff`]) and subscribes again when Redis returns.
async fn listen<T: Cancellable>(redis: Arc<Redis>, channel: String, ai: Weak<T>) {
    let mut backoff = Backoff::default();
    loop {
        let pubsub =
            match tokio::time::timeout(REDIS_TIMEOUT, redis.client().get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                _ => {
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        if sink.subscribe(&channel).await.is_ok() {
            backoff.reset();
            while let Some(msg) = stream.next().await {
                let Some(ai) = ai.upgrade() else { return };
                let Ok(notice) = serde_json::from_slice::<CancelNotice>(msg.get_payload_bytes())
                else {
                    continue;
                };
                if notice.node == redis.node_id {
                    continue; // our own: cancelled here already
                }
                ai.cancel_local(&notice.session_pk);
            }
        }
        if ai.strong_count() == 0 {
            return;
        }
        tracing::warn!("assistant cancel relay lost Redis; reconnecting");
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

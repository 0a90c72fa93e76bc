//! Stopping the assistant on every node. A reply streams from the node where the visitor
//! wrote, but a human can take over on any node (a claim, an assignment, a staff message).
//! [`Assistant::cancel`] stops the generation on its own node and, through the hook set here,
//! publishes the session on `<prefix>:ai:cancel`; every other node stops its generation of
//! that session (and forgets a reply still owed) when it hears it. Publishing never waits:
//! with Redis away, the other nodes' generations run to their end, as on one node before.

use std::sync::{Arc, Weak};

use futures::StreamExt;
use serde_json::{json, Value};

use super::{Backoff, Redis, REDIS_TIMEOUT};
use crate::assistant::Assistant;

/// Connects the assistant to the other nodes: its cancels are published, theirs are heard.
pub fn attach(redis: Arc<Redis>, ai: &Arc<Assistant>) {
    let channel = redis.key(&["ai", "cancel"]);
    let publisher = redis.clone();
    let out = channel.clone();
    ai.on_cancel(Box::new(move |session_pk: &str| {
        let redis = publisher.clone();
        let channel = out.clone();
        let payload = json!({ "n": redis.node_id, "s": session_pk }).to_string();
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
async fn listen(redis: Arc<Redis>, channel: String, ai: Weak<Assistant>) {
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
                let Ok(v) = serde_json::from_slice::<Value>(msg.get_payload_bytes()) else {
                    continue;
                };
                if v.get("n").and_then(Value::as_str) == Some(redis.node_id.as_str()) {
                    continue; // our own: cancelled here already
                }
                if let Some(session_pk) = v.get("s").and_then(Value::as_str) {
                    ai.cancel_local(session_pk);
                }
            }
        }
        if ai.strong_count() == 0 {
            return;
        }
        tracing::warn!("assistant cancel relay lost Redis; reconnecting");
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

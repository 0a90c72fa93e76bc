//! A pub/sub channel between the nodes, as `cancel` and `kb` use one: publishing never waits
//! (a failure is counted and logged), and a subscriber reconnects with [`Backoff`] when
//! Redis goes away, and is told when it is subscribed again (what was published meanwhile
//! never reached it).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::StreamExt;

use super::{Backoff, Redis, REDIS_TIMEOUT};

/// Publishes `payload` on `channel` in the background; `op` names it in the failure metric.
pub fn publish(redis: Arc<Redis>, channel: String, payload: String, op: &'static str) {
    tokio::spawn(async move {
        let mut pipe = redis::pipe();
        pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
        if let Err(e) = redis.query::<()>(&pipe).await {
            crate::metrics::redis_failure(op);
            tracing::warn!(error = %e, op, "not published to the other nodes");
        }
    });
}

/// What a subscriber hears.
pub enum Heard {
    /// A message's payload.
    Message(Vec<u8>),
    /// Subscribed again after Redis was lost.
    Resubscribed,
}

/// Hears `channel` until `on` answers false (its owner is gone); reconnects and subscribes
/// again when Redis returns.
pub async fn subscribe<F>(redis: Arc<Redis>, channel: String, op: &'static str, mut on: F)
where
    F: FnMut(Heard) -> BoxFuture<'static, bool>,
{
    let mut backoff = Backoff::default();
    let mut lost = false;
    loop {
        let pubsub =
            match tokio::time::timeout(REDIS_TIMEOUT, redis.client().get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                _ => {
                    lost = true;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        if sink.subscribe(&channel).await.is_ok() {
            backoff.reset();
            if lost && !on(Heard::Resubscribed).await {
                return;
            }
            while let Some(msg) = stream.next().await {
                if !on(Heard::Message(msg.get_payload_bytes().to_vec())).await {
                    return;
                }
            }
        }
        lost = true;
        tracing::warn!(op, "lost Redis; subscribing again");
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

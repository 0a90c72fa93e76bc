//! Keeping every node's knowledge base in step with the database. A node that changes an
//! article or a rule announces it on `<prefix>:kb:changed` (`{n: node id, c: change}`); every
//! other node re-reads that change from the database. After Redis was lost, a node reloads
//! everything once it is subscribed again: announcements made meanwhile never reached it.
//! Publishing never waits: with Redis away, a node's own copy is still up to date.

use std::borrow::Cow;
use std::sync::{Arc, Weak};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{Backoff, Redis, REDIS_TIMEOUT};

/// What follows the database on every node (the knowledge base implements it).
pub trait Followable: Send + Sync + 'static {
    /// Sets how this node's changes reach the others (once).
    fn on_change(&self, announce: Box<dyn Fn(&str) + Send + Sync>);
    /// Re-reads a change another node announced (`"all"`: everything).
    fn reload(&self, change: &str) -> futures::future::BoxFuture<'_, ()>;
}

/// An announcement on `<prefix>:kb:changed`.
#[derive(Debug, Serialize, Deserialize)]
struct ChangeNotice<'a> {
    #[serde(rename = "n", borrow)]
    node: Cow<'a, str>,
    #[serde(rename = "c", borrow)]
    change: Cow<'a, str>,
}

/// Connects the knowledge base to the other nodes: its changes are published, theirs heard.
pub fn attach<T: Followable>(redis: Arc<Redis>, kb: &Arc<T>) {
    let channel = redis.key(&["kb", "changed"]);
    let publisher = redis.clone();
    let out = channel.clone();
    kb.on_change(Box::new(move |change: &str| {
        let redis = publisher.clone();
        let channel = out.clone();
        let notice = ChangeNotice {
            node: Cow::Borrowed(&redis.node_id),
            change: Cow::Borrowed(change),
        };
        let payload = match serde_json::to_string(&notice) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "knowledge base change not encoded");
                return;
            }
        };
        tokio::spawn(async move {
            let mut pipe = redis::pipe();
            pipe.cmd("PUBLISH").arg(&channel).arg(payload).ignore();
            if let Err(e) = redis.query::<()>(&pipe).await {
                crate::metrics::redis_failure("kb");
                tracing::warn!(error = %e, "knowledge base change not published to other nodes");
            }
        });
    }));
    tokio::spawn(listen(redis, channel, Arc::downgrade(kb)));
}

/// Hears the other nodes' changes until the knowledge base is gone; reconnects (with
/// [`Backoff`]) and, once subscribed again, reloads everything.
async fn listen<T: Followable>(redis: Arc<Redis>, channel: String, kb: Weak<T>) {
    let mut backoff = Backoff::default();
    let mut lost = false;
    loop {
        let pubsub =
            match tokio::time::timeout(REDIS_TIMEOUT, redis.client().get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                _ => {
                    if kb.strong_count() == 0 {
                        return;
                    }
                    lost = true;
                    tokio::time::sleep(backoff.next_delay()).await;
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        if sink.subscribe(&channel).await.is_ok() {
            backoff.reset();
            if lost {
                let Some(kb) = kb.upgrade() else { return };
                kb.reload("all").await;
            }
            while let Some(msg) = stream.next().await {
                let Some(kb) = kb.upgrade() else { return };
                let Ok(notice) = serde_json::from_slice::<ChangeNotice>(msg.get_payload_bytes())
                else {
                    continue;
                };
                if notice.node == redis.node_id {
                    continue; // our own: applied here already
                }
                kb.reload(&notice.change).await;
            }
        }
        if kb.strong_count() == 0 {
            return;
        }
        lost = true;
        tracing::warn!("knowledge base relay lost Redis; reconnecting");
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

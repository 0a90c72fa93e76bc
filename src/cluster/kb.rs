//! Keeping every node's knowledge base (and the webhooks' subscriptions, [`follow`]) in
//! step with the database. A node that changes an
//! article or a rule announces it on `<prefix>:kb:changed` (`{n: node id, c: change}`); every
//! other node re-reads that change from the database. After Redis was lost, a node reloads
//! everything once it is subscribed again: announcements made meanwhile never reached it.
//! Publishing never waits: with Redis away, a node's own copy is still up to date.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::channel::{self, Heard};
use super::Redis;

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

/// Connects the knowledge base to the other nodes: its changes are published, theirs heard;
/// once subscribed again after Redis was lost, everything is reloaded.
pub fn attach<T: Followable>(redis: Arc<Redis>, kb: &Arc<T>) {
    follow(redis, "kb", kb);
}

/// Connects anything [`Followable`] to the other nodes on `<prefix>:<topic>:changed` (the
/// knowledge base is `kb`; the webhooks' subscriptions are `webhooks`).
pub fn follow<T: Followable>(redis: Arc<Redis>, topic: &'static str, kb: &Arc<T>) {
    let channel = redis.key(&[topic, "changed"]);
    let publisher = redis.clone();
    let out = channel.clone();
    kb.on_change(Box::new(move |change: &str| {
        let notice = ChangeNotice {
            node: Cow::Borrowed(&publisher.node_id),
            change: Cow::Borrowed(change),
        };
        match serde_json::to_string(&notice) {
            Ok(payload) => channel::publish(publisher.clone(), out.clone(), payload, topic),
            Err(e) => tracing::error!(error = %e, topic, "change not encoded"),
        }
    }));
    let kb = Arc::downgrade(kb);
    let node = redis.node_id.clone();
    tokio::spawn(channel::subscribe(redis, channel, topic, move |heard| {
        let kb = kb.clone();
        let node = node.clone();
        Box::pin(async move {
            let Some(kb) = kb.upgrade() else { return false };
            match heard {
                Heard::Resubscribed => kb.reload("all").await,
                Heard::Message(bytes) => {
                    if let Ok(notice) = serde_json::from_slice::<ChangeNotice>(&bytes) {
                        if notice.node != node {
                            kb.reload(&notice.change).await; // not our own: applied already
                        }
                    }
                }
            }
            true
        })
    }));
}

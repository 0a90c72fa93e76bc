//! This node's share of presence, kept in Redis so that every node sees the whole desk.
//!
//! Layout (under `REDIS_PREFIX`):
//! - `presence:nodes`: a sorted set of node ids, scored by when their entry expires;
//! - `presence:<node>:agents`: a hash, agent id -> name, of the agents online on that node;
//! - `presence:<node>:visitors`: a set of the sessions whose visitor is online on that node.
//!
//! A node changes its own keys as sockets come and go (in order, from one task), and
//! rewrites them whole every [`HEARTBEAT`] with a [`TTL`]: a node that dies drops out by
//! itself, and a node that lost Redis for a while puts back what it has when Redis returns.
//! The node that notices another node's entry expired (the live node with the smallest id)
//! reports that node's agents, so that their sessions can go back to the queue, and its
//! visitors, so that agents hear they went offline. (A node's keys outlive its entry by
//! [`LINGER`] for that: only the entry in `presence:nodes` says whether a node is alive.)

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::Redis;

/// What this node has to share: its agents (id, name) and its visitors' sessions. The
/// presence capability implements it; this module only carries it to Redis.
pub trait LocalPresence: Send + Sync + 'static {
    fn snapshot(&self) -> (Vec<(String, String)>, Vec<String>);
}

/// How often a node rewrites its presence.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// How long a node's presence outlives its last heartbeat.
pub const TTL: Duration = Duration::from_secs(10);
/// How much longer a node's keys stay after its entry expired, so that the node reporting
/// it can still read who was on it.
pub const LINGER: Duration = Duration::from_secs(10);

/// Who was online on nodes that stopped answering.
#[derive(Debug, Default)]
pub struct Gone {
    pub agents: Vec<String>,
    /// Sessions whose visitor was online there.
    pub visitors: Vec<String>,
}

/// A change of this node's presence.
#[derive(Debug, Clone)]
pub enum Delta {
    AgentOnline { id: String, name: String },
    AgentOffline { id: String },
    VisitorOnline { session_id: String },
    VisitorOffline { session_id: String },
}

/// Agents online on other nodes: node id -> (agent id -> name).
pub type RemoteAgents = HashMap<String, HashMap<String, String>>;

/// This node's presence in Redis, and what the other nodes published.
pub struct SharedPresence {
    redis: Arc<Redis>,
    tx: mpsc::Sender<Delta>,
}

impl SharedPresence {
    /// Starts sharing `local` through Redis. `gone` receives who was on nodes whose entry
    /// expired (reported by one node only).
    pub fn spawn(
        redis: Arc<Redis>,
        local: Arc<dyn LocalPresence>,
        gone: mpsc::UnboundedSender<Gone>,
    ) -> Arc<SharedPresence> {
        let (tx, rx) = mpsc::channel(10_000);
        let shared = Arc::new(SharedPresence { redis, tx });
        tokio::spawn(run(shared.clone(), rx, local, gone));
        shared
    }

    /// Queues a change. Never waits: when the queue is full the change is dropped, and the
    /// next heartbeat (which rewrites everything) catches up.
    pub fn publish(&self, delta: Delta) {
        if self.tx.try_send(delta).is_err() {
            tracing::debug!("presence change not queued; the next heartbeat catches up");
        }
    }

    fn nodes_key(&self) -> String {
        self.redis.key(&["presence", "nodes"])
    }
    fn agents_key(&self, node: &str) -> String {
        self.redis.key(&["presence", node, "agents"])
    }
    fn visitors_key(&self, node: &str) -> String {
        self.redis.key(&["presence", node, "visitors"])
    }

    /// The other nodes whose entry has not expired.
    pub async fn other_nodes(&self) -> redis::RedisResult<Vec<String>> {
        let mut pipe = redis::pipe();
        pipe.cmd("ZRANGEBYSCORE")
            .arg(self.nodes_key())
            .arg(now_ms())
            .arg("+inf");
        let (nodes,): (Vec<String>,) = self.redis.query(&pipe).await?;
        Ok(nodes
            .into_iter()
            .filter(|n| *n != self.redis.node_id)
            .collect())
    }

    /// The agents online on each other node.
    pub async fn remote_agents(&self) -> redis::RedisResult<RemoteAgents> {
        let nodes = self.other_nodes().await?;
        if nodes.is_empty() {
            return Ok(HashMap::new());
        }
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.cmd("HGETALL").arg(self.agents_key(n));
        }
        let maps: Vec<HashMap<String, String>> = self.redis.query(&pipe).await?;
        Ok(nodes.into_iter().zip(maps).collect())
    }

    /// Every session whose visitor is online on another node.
    pub async fn all_remote_visitors(&self) -> redis::RedisResult<HashSet<String>> {
        let nodes = self.other_nodes().await?;
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.cmd("SMEMBERS").arg(self.visitors_key(n));
        }
        let sets: Vec<Vec<String>> = self.redis.query(&pipe).await?;
        Ok(sets.into_iter().flatten().collect())
    }

    /// Which of `session_ids` have their visitor online on another node.
    pub async fn remote_visitors(
        &self,
        session_ids: &[String],
    ) -> redis::RedisResult<HashSet<String>> {
        if session_ids.is_empty() {
            return Ok(HashSet::new());
        }
        let nodes = self.other_nodes().await?;
        if nodes.is_empty() {
            return Ok(HashSet::new());
        }
        let mut pipe = redis::pipe();
        for n in &nodes {
            pipe.cmd("SMISMEMBER")
                .arg(self.visitors_key(n))
                .arg(session_ids);
        }
        let flags: Vec<Vec<i64>> = self.redis.query(&pipe).await?;
        let mut out = HashSet::new();
        for per_node in flags {
            for (id, f) in session_ids.iter().zip(per_node) {
                if f == 1 {
                    out.insert(id.clone());
                }
            }
        }
        Ok(out)
    }

    /// Applies queued changes to this node's keys.
    async fn apply(&self, deltas: &[Delta]) -> redis::RedisResult<()> {
        let node = &self.redis.node_id;
        let (agents, visitors) = (self.agents_key(node), self.visitors_key(node));
        let mut pipe = redis::pipe();
        for d in deltas {
            match d {
                Delta::AgentOnline { id, name } => pipe.cmd("HSET").arg(&agents).arg(id).arg(name),
                Delta::AgentOffline { id } => pipe.cmd("HDEL").arg(&agents).arg(id),
                Delta::VisitorOnline { session_id } => {
                    pipe.cmd("SADD").arg(&visitors).arg(session_id)
                }
                Delta::VisitorOffline { session_id } => {
                    pipe.cmd("SREM").arg(&visitors).arg(session_id)
                }
            };
            pipe.ignore();
        }
        let ttl = (TTL + LINGER).as_millis() as u64;
        pipe.cmd("PEXPIRE").arg(&agents).arg(ttl).ignore();
        pipe.cmd("PEXPIRE").arg(&visitors).arg(ttl).ignore();
        self.redis.query::<()>(&pipe).await
    }

    /// Rewrites this node's keys whole from `local`, and renews its entry.
    async fn heartbeat(&self, local: &dyn LocalPresence) -> redis::RedisResult<()> {
        let node = &self.redis.node_id;
        let (agents, visitors) = local.snapshot();
        let (akey, vkey) = (self.agents_key(node), self.visitors_key(node));
        let ttl = TTL.as_millis() as u64;
        let now = now_ms();
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("DEL").arg(&akey).ignore();
        if !agents.is_empty() {
            let mut c = redis::cmd("HSET");
            c.arg(&akey);
            for (id, name) in &agents {
                c.arg(id).arg(name);
            }
            pipe.add_command(c).ignore();
        }
        pipe.cmd("DEL").arg(&vkey).ignore();
        if !visitors.is_empty() {
            pipe.cmd("SADD").arg(&vkey).arg(&visitors).ignore();
        }
        let keys_ttl = (TTL + LINGER).as_millis() as u64;
        pipe.cmd("PEXPIRE").arg(&akey).arg(keys_ttl).ignore();
        pipe.cmd("PEXPIRE").arg(&vkey).arg(keys_ttl).ignore();
        pipe.cmd("ZADD")
            .arg(self.nodes_key())
            .arg(now + ttl)
            .arg(node)
            .ignore();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(self.nodes_key())
            .arg("-inf")
            .arg(now)
            .ignore();
        self.redis.query::<()>(&pipe).await
    }

    /// The sessions whose visitor was online on `nodes` (which stopped answering), and
    /// those nodes' keys removed.
    async fn take_visitors(&self, nodes: &[&String]) -> redis::RedisResult<Vec<String>> {
        let mut pipe = redis::pipe();
        for n in nodes {
            pipe.cmd("SMEMBERS").arg(self.visitors_key(n));
        }
        let sets: Vec<Vec<String>> = self.redis.query(&pipe).await?;
        let mut del = redis::pipe();
        for n in nodes {
            del.cmd("DEL")
                .arg(self.agents_key(n))
                .arg(self.visitors_key(n))
                .ignore();
        }
        self.redis.query::<()>(&del).await?;
        Ok(sets.into_iter().flatten().collect())
    }

    /// Takes this node out at shutdown (its keys would otherwise linger until they expire).
    pub async fn leave(&self) {
        let node = &self.redis.node_id;
        let mut pipe = redis::pipe();
        pipe.cmd("ZREM").arg(self.nodes_key()).arg(node).ignore();
        pipe.cmd("DEL")
            .arg(self.agents_key(node))
            .arg(self.visitors_key(node))
            .ignore();
        if let Err(e) = self.redis.query::<()>(&pipe).await {
            tracing::debug!(error = %e, "could not remove this node's presence");
        }
    }
}

async fn run(
    shared: Arc<SharedPresence>,
    mut rx: mpsc::Receiver<Delta>,
    local: Arc<dyn LocalPresence>,
    gone: mpsc::UnboundedSender<Gone>,
) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut known: RemoteAgents = HashMap::new();
    let mut healthy = true;
    loop {
        tokio::select! {
            biased;
            first = rx.recv() => {
                let Some(first) = first else { return };
                let mut deltas = vec![first];
                while let Ok(d) = rx.try_recv() {
                    deltas.push(d);
                }
                if let Err(e) = shared.apply(&deltas).await {
                    // The next heartbeat rewrites everything.
                    tracing::debug!(error = %e, "presence change not shared");
                }
            }
            _ = tick.tick() => {
                match shared.heartbeat(local.as_ref()).await {
                    Ok(()) if !healthy => {
                        healthy = true;
                        tracing::info!("presence shared through Redis again");
                    }
                    Ok(()) => {}
                    Err(e) => {
                        crate::metrics::redis_failure("presence");
                        if healthy {
                            tracing::warn!(error = %e, "could not share presence through Redis; this node sees only itself until Redis returns");
                        }
                        healthy = false;
                        continue;
                    }
                }
                if let Ok(now) = shared.remote_agents().await {
                    let lead = now.keys().all(|n| *n > shared.redis.node_id);
                    let lost: Vec<&String> = known
                        .keys()
                        .filter(|node| !now.contains_key(*node))
                        .collect();
                    if lead && !lost.is_empty() {
                        let agents: Vec<String> = lost
                            .iter()
                            .filter_map(|n| known.get(*n))
                            .flat_map(|agents| agents.keys().cloned())
                            .collect();
                        let visitors = shared.take_visitors(&lost).await.unwrap_or_default();
                        tracing::warn!(
                            nodes = lost.len(),
                            agents = agents.len(),
                            visitors = visitors.len(),
                            "a node stopped answering; its agents and visitors are offline"
                        );
                        let _ = gone.send(Gone { agents, visitors });
                    }
                    known = now;
                }
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

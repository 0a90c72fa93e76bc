//! Who is online on this node: agents (any number of sockets each: several tabs count once)
//! and the visitors of each session; and the typing indicators that expire by themselves.
//! Memory is a cache here, not a source of truth: it describes live connections only.
//! Sockets are tracked by id, so a disconnect reported twice is counted once.
//!
//! With Redis, changes are also shared with the other nodes ([`crate::cluster::presence`]),
//! and the questions "who is online" and "is this visitor online" are answered for the
//! whole desk (this node alone when Redis does not answer).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use crate::cluster::presence::{Delta, SharedPresence};

#[derive(Debug, Clone)]
struct AgentEntry {
    name: String,
    sockets: HashSet<String>,
    /// Bumped on every connect/disconnect, so a grace timer can tell whether the agent came back.
    generation: u64,
}

/// Online agents and visitors, and typing generations.
#[derive(Default)]
pub struct Presence {
    agents: Mutex<HashMap<String, AgentEntry>>,
    /// Session id -> this node's visitor sockets in it. Usually one socket: a list costs
    /// less than a set for each online visitor.
    visitors: Mutex<HashMap<String, Vec<String>>>,
    typing: Mutex<HashMap<(String, &'static str), u64>>,
    shared: OnceLock<Arc<SharedPresence>>,
}

/// An online agent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OnlineAgent {
    pub id: String,
    pub name: String,
    pub online: bool,
}

impl Presence {
    /// Shares this node's presence with the other nodes from now on.
    pub fn attach(&self, shared: Arc<SharedPresence>) {
        let _ = self.shared.set(shared);
    }

    /// Takes this node out of the shared presence (at shutdown).
    pub async fn leave(&self) {
        if let Some(s) = self.shared.get() {
            s.leave().await;
        }
    }

    fn share(&self, delta: Delta) {
        if let Some(s) = self.shared.get() {
            s.publish(delta);
        }
    }

    /// Records an agent socket; true when it is the agent's first on this node.
    pub fn agent_connected(&self, id: &str, name: &str, socket: &str) -> bool {
        let Ok(mut m) = self.agents.lock() else {
            return false;
        };
        let e = m.entry(id.to_string()).or_insert(AgentEntry {
            name: name.to_string(),
            sockets: HashSet::new(),
            generation: 0,
        });
        let added = e.sockets.insert(socket.to_string());
        e.generation += 1;
        let first = added && e.sockets.len() == 1;
        drop(m);
        if first {
            self.share(Delta::AgentOnline {
                id: id.to_string(),
                name: name.to_string(),
            });
        }
        first
    }

    /// Records an agent socket closing; `Some(generation)` when it was their last one on
    /// this node.
    pub fn agent_disconnected(&self, id: &str, socket: &str) -> Option<u64> {
        let mut m = self.agents.lock().ok()?;
        let e = m.get_mut(id)?;
        if !e.sockets.remove(socket) {
            return None; // already counted
        }
        e.generation += 1;
        let last = e.sockets.is_empty().then_some(e.generation);
        drop(m);
        if last.is_some() {
            self.share(Delta::AgentOffline { id: id.to_string() });
        }
        last
    }

    /// True when the agent has had no socket on this node since `generation` was handed
    /// out (pass `None` for "no socket on this node now"), and has none on any other node.
    pub async fn agent_still_offline(&self, id: &str, generation: Option<u64>) -> bool {
        let here = self
            .agents
            .lock()
            .map(|m| {
                m.get(id).is_none_or(|e| {
                    e.sockets.is_empty() && generation.is_none_or(|g| e.generation == g)
                })
            })
            .unwrap_or(false);
        if !here {
            return false;
        }
        match self.shared.get() {
            None => true,
            Some(s) => match s.remote_agents().await {
                Ok(remote) => !remote.values().any(|agents| agents.contains_key(id)),
                // Unknown: keep the sessions where they are rather than take them away.
                Err(_) => false,
            },
        }
    }

    /// Agents with at least one socket on this node.
    fn local_agents(&self) -> Vec<OnlineAgent> {
        let Ok(m) = self.agents.lock() else {
            return Vec::new();
        };
        m.iter()
            .filter(|(_, e)| !e.sockets.is_empty())
            .map(|(id, e)| OnlineAgent {
                id: id.clone(),
                name: e.name.clone(),
                online: true,
            })
            .collect()
    }

    /// Agents online anywhere on the desk (this node only when Redis does not answer), by
    /// name.
    pub async fn online_agents(&self) -> Vec<OnlineAgent> {
        let mut v = self.local_agents();
        if let Some(s) = self.shared.get() {
            match s.remote_agents().await {
                Ok(remote) => {
                    let mut seen: HashSet<String> = v.iter().map(|a| a.id.clone()).collect();
                    for (id, name) in remote.into_values().flatten() {
                        if seen.insert(id.clone()) {
                            v.push(OnlineAgent {
                                id,
                                name,
                                online: true,
                            });
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "other nodes' agents unknown"),
            }
        }
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }
}

impl crate::cluster::presence::LocalPresence for Presence {
    /// This node's agents (id, name) and visitors' sessions, for the shared copy.
    fn snapshot(&self) -> (Vec<(String, String)>, Vec<String>) {
        let agents = self
            .local_agents()
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        let visitors = self
            .visitors
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        (agents, visitors)
    }
}

impl Presence {
    /// A visitor socket joined a session; true when it is the session's first on this node.
    pub fn visitor_joined(&self, session_id: &str, socket: &str) -> bool {
        let Ok(mut m) = self.visitors.lock() else {
            return false;
        };
        let sockets = m.entry(session_id.to_string()).or_default();
        let added = !sockets.iter().any(|s| s == socket);
        if added {
            sockets.reserve_exact(1);
            sockets.push(socket.to_string());
        }
        let first = added && sockets.len() == 1;
        drop(m);
        if first {
            self.share(Delta::VisitorOnline {
                session_id: session_id.to_string(),
            });
        }
        first
    }

    /// A visitor socket left a session; true when it was the session's last on this node.
    pub fn visitor_left(&self, session_id: &str, socket: &str) -> bool {
        let Ok(mut m) = self.visitors.lock() else {
            return false;
        };
        let Some(sockets) = m.get_mut(session_id) else {
            return false;
        };
        let Some(at) = sockets.iter().position(|s| s == socket) else {
            return false;
        };
        sockets.swap_remove(at);
        if !sockets.is_empty() {
            return false;
        }
        m.remove(session_id);
        drop(m);
        self.share(Delta::VisitorOffline {
            session_id: session_id.to_string(),
        });
        true
    }

    /// Whether the session's visitor is online on another node (false without Redis).
    pub async fn visitor_online_elsewhere(&self, session_id: &str) -> bool {
        match self.shared.get() {
            None => false,
            Some(s) => s
                .remote_visitors(&[session_id.to_string()])
                .await
                .is_ok_and(|set| !set.is_empty()),
        }
    }

    /// Every session whose visitor is online, anywhere on the desk (this node's alone when
    /// the other nodes cannot be asked).
    pub async fn online_sessions(&self) -> HashSet<String> {
        let mut out: HashSet<String> = self
            .visitors
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(s) = self.shared.get() {
            match s.all_remote_visitors().await {
                Ok(remote) => out.extend(remote),
                Err(e) => tracing::debug!(error = %e, "other nodes' visitors not read"),
            }
        }
        out
    }

    /// Which of the sessions have their visitor online, anywhere on the desk.
    pub async fn visitors_online(&self, session_ids: &[String]) -> HashSet<String> {
        let mut out: HashSet<String> = match self.visitors.lock() {
            Ok(m) => session_ids
                .iter()
                .filter(|id| m.contains_key(*id))
                .cloned()
                .collect(),
            Err(_) => HashSet::new(),
        };
        if let Some(s) = self.shared.get() {
            let rest: Vec<String> = session_ids
                .iter()
                .filter(|id| !out.contains(*id))
                .cloned()
                .collect();
            if let Ok(remote) = s.remote_visitors(&rest).await {
                out.extend(remote);
            }
        }
        out
    }

    /// Starts or stops a typing indicator; returns its generation (a later call supersedes it).
    pub fn typing(&self, session_id: &str, side: &'static str) -> u64 {
        let Ok(mut m) = self.typing.lock() else {
            return 0;
        };
        let g = m.entry((session_id.to_string(), side)).or_insert(0);
        *g += 1;
        *g
    }

    /// Whether the typing indicator of `generation` is still the latest (then it expires).
    pub fn typing_expired(&self, session_id: &str, side: &'static str, generation: u64) -> bool {
        let Ok(mut m) = self.typing.lock() else {
            return false;
        };
        let key = (session_id.to_string(), side);
        if m.get(&key) == Some(&generation) {
            m.remove(&key);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_tabs_count_once_and_repeated_disconnects_too() {
        let p = Presence::default();
        assert!(p.agent_connected("a", "Ann", "s1"));
        assert!(!p.agent_connected("a", "Ann", "s2"));
        assert_eq!(p.agent_disconnected("a", "s1"), None);
        assert_eq!(
            p.agent_disconnected("a", "s1"),
            None,
            "a repeated disconnect counts once"
        );
        let g = p.agent_disconnected("a", "s2").expect("last socket");
        assert_eq!(p.agent_disconnected("a", "s2"), None);
        assert!(block_on(p.agent_still_offline("a", Some(g))));
        assert!(p.agent_connected("a", "Ann", "s3"));
        assert!(!block_on(p.agent_still_offline("a", Some(g))));
        assert!(!block_on(p.agent_still_offline("a", None)));
        let names: Vec<String> = block_on(p.online_agents())
            .into_iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(names, ["Ann"]);
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn visitor_presence_and_typing() {
        let p = Presence::default();
        assert!(p.visitor_joined("s", "x"));
        assert!(!p.visitor_joined("s", "y"));
        assert!(!p.visitor_left("s", "x"));
        assert!(!p.visitor_left("s", "x"), "a repeated leave counts once");
        assert!(block_on(p.visitors_online(&["s".to_string()])).contains("s"));
        assert!(p.visitor_left("s", "y"));
        assert!(block_on(p.visitors_online(&["s".to_string()])).is_empty());
        let g1 = p.typing("s", "user");
        let g2 = p.typing("s", "user");
        assert!(!p.typing_expired("s", "user", g1));
        assert!(p.typing_expired("s", "user", g2));
    }
}

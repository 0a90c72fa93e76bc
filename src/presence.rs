//! Who is online on this node: agents (any number of sockets each: several tabs count once)
//! and the visitors of each session; and the typing indicators that expire by themselves.
//! Memory is a cache here, not a source of truth: it describes live connections only.
//! Sockets are tracked by id, so a disconnect reported twice is counted once.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

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
    visitors: Mutex<HashMap<String, HashSet<String>>>,
    typing: Mutex<HashMap<(String, &'static str), u64>>,
}

/// An online agent.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OnlineAgent {
    pub id: String,
    pub name: String,
    pub online: bool,
}

impl Presence {
    /// Records an agent socket; true when it is the agent's first (they just came online).
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
        added && e.sockets.len() == 1
    }

    /// Records an agent socket closing; `Some(generation)` when it was their last one.
    pub fn agent_disconnected(&self, id: &str, socket: &str) -> Option<u64> {
        let mut m = self.agents.lock().ok()?;
        let e = m.get_mut(id)?;
        if !e.sockets.remove(socket) {
            return None; // already counted
        }
        e.generation += 1;
        e.sockets.is_empty().then_some(e.generation)
    }

    /// True when the agent has had no socket since `generation` was handed out.
    pub fn agent_still_offline(&self, id: &str, generation: u64) -> bool {
        self.agents
            .lock()
            .map(|m| {
                m.get(id)
                    .is_none_or(|e| e.sockets.is_empty() && e.generation == generation)
            })
            .unwrap_or(false)
    }

    pub fn agent_online(&self, id: &str) -> bool {
        self.agents
            .lock()
            .map(|m| m.get(id).is_some_and(|e| !e.sockets.is_empty()))
            .unwrap_or(false)
    }

    /// Agents with at least one socket, by name.
    pub fn online_agents(&self) -> Vec<OnlineAgent> {
        let Ok(m) = self.agents.lock() else {
            return Vec::new();
        };
        let mut v: Vec<OnlineAgent> = m
            .iter()
            .filter(|(_, e)| !e.sockets.is_empty())
            .map(|(id, e)| OnlineAgent {
                id: id.clone(),
                name: e.name.clone(),
                online: true,
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        v
    }

    /// A visitor socket joined a session; true when it is the session's first.
    pub fn visitor_joined(&self, session_id: &str, socket: &str) -> bool {
        let Ok(mut m) = self.visitors.lock() else {
            return false;
        };
        let set = m.entry(session_id.to_string()).or_default();
        set.insert(socket.to_string()) && set.len() == 1
    }

    /// A visitor socket left a session; true when it was the session's last.
    pub fn visitor_left(&self, session_id: &str, socket: &str) -> bool {
        let Ok(mut m) = self.visitors.lock() else {
            return false;
        };
        let Some(set) = m.get_mut(session_id) else {
            return false;
        };
        if !set.remove(socket) {
            return false;
        }
        if set.is_empty() {
            m.remove(session_id);
            return true;
        }
        false
    }

    pub fn visitor_online(&self, session_id: &str) -> bool {
        self.visitors
            .lock()
            .map(|m| m.contains_key(session_id))
            .unwrap_or(false)
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
        assert!(p.agent_still_offline("a", g));
        assert!(p.agent_connected("a", "Ann", "s3"));
        assert!(!p.agent_still_offline("a", g));
    }

    #[test]
    fn visitor_presence_and_typing() {
        let p = Presence::default();
        assert!(p.visitor_joined("s", "x"));
        assert!(!p.visitor_joined("s", "y"));
        assert!(!p.visitor_left("s", "x"));
        assert!(!p.visitor_left("s", "x"), "a repeated leave counts once");
        assert!(p.visitor_left("s", "y"));
        assert!(!p.visitor_online("s"));
        let g1 = p.typing("s", "user");
        let g2 = p.typing("s", "user");
        assert!(!p.typing_expired("s", "user", g1));
        assert!(p.typing_expired("s", "user", g2));
    }
}

//! Queue announcements. Every waiting visitor is told its place (`queue_position`). Sending
//! every position on every change made each `request_human` cost 23 ms of CPU with 1,000
//! sessions waiting; now a node remembers the positions it announced and sends only those
//! that changed (a session joining the end of the queue moves no one; one leaving moves
//! only those behind it), at most once per window (`QUEUE_UPDATE_MS`): changes that come
//! faster are merged into one pass after the window, which reads the queue then (the
//! latest position wins).
//!
//! Each node remembers only its own announcements: in a cluster a node may repeat a position
//! another node already sent (harmless: clients keep the latest), never skip a change it saw.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use super::types::QueuePosition;
use crate::error::AppResult;
use crate::state::AppState;

/// What this node announced, and when it last looked at the queue.
#[derive(Default)]
struct Board {
    /// Public session id -> position last announced.
    announced: HashMap<String, usize>,
    last_pass: Option<Instant>,
    /// A pass is due at the end of the window.
    scheduled: bool,
}

/// The queue announcer of one node (in `AppState`).
pub struct QueueBoard {
    window: Duration,
    board: Mutex<Board>,
    /// One pass at a time, so that an older pass never overtakes a newer one.
    pass: tokio::sync::Mutex<()>,
}

/// When a pass should run.
enum When {
    Now,
    After(Duration),
    AlreadyDue,
}

impl QueueBoard {
    pub fn new(window: Duration) -> Self {
        QueueBoard {
            window,
            board: Mutex::new(Board::default()),
            pass: tokio::sync::Mutex::new(()),
        }
    }

    fn when(&self) -> When {
        let Ok(mut b) = self.board.lock() else {
            return When::Now;
        };
        if b.scheduled {
            return When::AlreadyDue;
        }
        let now = Instant::now();
        match b.last_pass {
            Some(last) if now < last + self.window => {
                b.scheduled = true;
                When::After(last + self.window - now)
            }
            _ => {
                b.last_pass = Some(now);
                When::Now
            }
        }
    }

    /// Starts a scheduled pass: it reads the queue from now on.
    fn start_scheduled(&self) {
        if let Ok(mut b) = self.board.lock() {
            b.scheduled = false;
            b.last_pass = Some(Instant::now());
        }
    }

    /// The positions of `queue` (public ids, in order) that differ from those announced;
    /// sessions no longer waiting are forgotten.
    fn changed(&self, queue: &[String]) -> Vec<(String, usize)> {
        let Ok(mut b) = self.board.lock() else {
            return Vec::new();
        };
        let mut next = HashMap::with_capacity(queue.len());
        let mut out = Vec::new();
        for (i, sid) in queue.iter().enumerate() {
            let pos = i + 1;
            if b.announced.get(sid) != Some(&pos) {
                out.push((sid.clone(), pos));
            }
            next.insert(sid.clone(), pos);
        }
        b.announced = next;
        out
    }
}

/// The queue changed: its changed positions go out now, or at the end of the window.
pub async fn changed(state: &AppState) -> AppResult<()> {
    match state.queue.when() {
        When::AlreadyDue => Ok(()),
        When::Now => pass(state).await,
        When::After(wait) => {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                state.queue.start_scheduled();
                if let Err(e) = pass(&state).await {
                    tracing::warn!(error = %e, "queue positions not announced");
                }
            });
            Ok(())
        }
    }
}

/// Reads the queue and announces the positions that changed.
async fn pass(state: &AppState) -> AppResult<()> {
    let _one = state.queue.pass.lock().await;
    let queue: Vec<String> = super::service::queue(&state.db, 1000)
        .await?
        .into_iter()
        .map(|s| s.session_id)
        .collect();
    for (session_id, position) in state.queue.changed(&queue) {
        let payload = QueuePosition {
            session_id: &session_id,
            position,
        };
        state
            .hub
            .to_session(&session_id, "queue_position", &payload, None)
            .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_positions_that_moved_are_announced() {
        let board = QueueBoard::new(Duration::ZERO);
        let first = board.changed(&ids(&["a", "b", "c"]));
        assert_eq!(
            first.len(),
            3,
            "a node announces what it has not announced yet"
        );
        // d joins the end: nobody else moves
        assert_eq!(
            board.changed(&ids(&["a", "b", "c", "d"])),
            vec![("d".to_string(), 4)]
        );
        // b leaves: only those behind it move
        assert_eq!(
            board.changed(&ids(&["a", "c", "d"])),
            vec![("c".to_string(), 2), ("d".to_string(), 3)]
        );
        // b comes back at the end: announced again, as a newcomer
        assert_eq!(
            board.changed(&ids(&["a", "c", "d", "b"])),
            vec![("b".to_string(), 4)]
        );
    }

    #[test]
    fn changes_within_the_window_make_one_later_pass() {
        let board = QueueBoard::new(Duration::from_secs(3600));
        assert!(matches!(board.when(), When::Now));
        assert!(matches!(board.when(), When::After(_)));
        assert!(matches!(board.when(), When::AlreadyDue));
        board.start_scheduled();
        assert!(
            matches!(board.when(), When::After(_)),
            "the window starts again"
        );
    }
}

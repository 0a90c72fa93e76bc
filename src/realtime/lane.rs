//! One connection's events, applied in the order the connection sent them.
//!
//! socketioxide runs every incoming event in a task of its own, and tokio runs the most
//! recently spawned task first: an unpaced burst of 30 `user_message`s from one socket was
//! stored as `29, 00, 01, ...` (3 runs out of 3). So chatdesk takes the events itself: the
//! socket's message handler ([`Ordered`]) is called synchronously by the engine.io reader, in
//! arrival order (also for several packets in one long-polling POST), and queues each event
//! on the socket's lane. A lane's queue is drained by one task that exists only while the
//! queue is not empty (an idle connection costs no task), one event after the other.
//!
//! Sends are pipelined: a `user_message` / `admin_message` is validated and handed to the
//! group-commit writer in order (which gives `seq` in queue order), and the lane goes on to
//! the next event without waiting for the commit; the answers are sent in the same order as
//! the events ([`Step::Pending`]). Any other event first waits until the sends before it are
//! answered, so a `read` or `clear_history` sent after a message sees that message stored.
//!
//! Different connections never wait for each other: each has its own lane.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use futures::stream::FuturesOrdered;
use futures::{FutureExt, StreamExt};
use tokio::sync::Notify;

/// What is left to do once an event's ordered part is done.
pub enum Step {
    /// Nothing: the event is answered.
    Done,
    /// A result still to come (a commit); its output answers the event. Answers go out in the
    /// order of their events.
    Pending(BoxFuture<'static, Finish>),
}

/// The last, synchronous part of an event: sends its answer.
pub type Finish = Box<dyn FnOnce() + Send>;

/// An event waiting on its lane.
pub struct Job {
    /// Waits for the answers of every earlier send before it starts.
    pub barrier: bool,
    pub work: BoxFuture<'static, Step>,
}

/// Events of one socket, in arrival order.
#[derive(Default)]
pub struct Lane {
    inner: Mutex<Queue>,
    wake: Notify,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    /// A drain task is running (it alone takes jobs).
    running: bool,
}

/// Events a lane holds before new ones are refused (`rate_limited`): the socket's event
/// budget refuses a flood before this; this only bounds memory if the budget is off.
pub const MAX_QUEUED: usize = 1024;

impl Lane {
    /// Queues an event. Starts the drain task if none runs; false when the lane is full.
    pub fn push(self: &Arc<Self>, job: Job, tasks: &tokio_util::task::TaskTracker) -> bool {
        let start = {
            let Ok(mut q) = self.inner.lock() else {
                return false;
            };
            if q.jobs.len() >= MAX_QUEUED {
                return false;
            }
            q.jobs.push_back(job);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            tasks.spawn(drain(self.clone()));
        } else {
            self.wake.notify_one();
        }
        true
    }

    /// Whether the lane refuses new events.
    pub fn is_full(&self) -> bool {
        self.inner
            .lock()
            .map_or(true, |q| q.jobs.len() >= MAX_QUEUED)
    }

    /// The next job, or `None`; when there is none and nothing is pending, the drain task
    /// ends (decided under the lock, so a concurrent `push` starts a new one).
    fn next(&self, idle: bool) -> Next {
        let Ok(mut q) = self.inner.lock() else {
            return Next::Stop;
        };
        match q.jobs.pop_front() {
            Some(job) => Next::Job(job),
            None if idle => {
                q.running = false;
                Next::Stop
            }
            None => Next::Wait,
        }
    }
}

enum Next {
    Job(Job),
    Wait,
    Stop,
}

/// Runs a lane's jobs in order until the queue is empty and every answer is sent.
async fn drain(lane: Arc<Lane>) {
    let mut pending: FuturesOrdered<BoxFuture<'static, Finish>> = FuturesOrdered::new();
    loop {
        match lane.next(pending.is_empty()) {
            Next::Stop => return,
            Next::Job(job) => {
                if job.barrier {
                    while let Some(finish) = pending.next().await {
                        finish();
                    }
                }
                if let Step::Pending(answer) = job.work.await {
                    pending.push_back(answer);
                }
                // Answers already there go out now, without waiting for the next event.
                while let Some(Some(finish)) = pending.next().now_or_never() {
                    finish();
                }
            }
            Next::Wait => {
                tokio::select! {
                    Some(finish) = pending.next() => finish(),
                    () = lane.wake.notified() => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(log: &Arc<Mutex<Vec<u32>>>, n: u32) {
        if let Ok(mut l) = log.lock() {
            l.push(n);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn jobs_run_and_answer_in_push_order() {
        let lane = Arc::new(Lane::default());
        let tasks = tokio_util::task::TaskTracker::new();
        let started = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(Vec::new()));
        for n in 0..200u32 {
            let (started, answered) = (started.clone(), answered.clone());
            let work: BoxFuture<'static, Step> = Box::pin(async move {
                record(&started, n);
                // Later jobs finish their pending part sooner than earlier ones.
                let delay = Duration::from_micros(u64::from(200 - n) * 20);
                Step::Pending(Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    Box::new(move || record(&answered, n)) as Finish
                }))
            });
            assert!(lane.push(
                Job {
                    barrier: n % 50 == 49,
                    work
                },
                &tasks
            ));
        }
        let want: Vec<u32> = (0..200).collect();
        for _ in 0..500 {
            if answered.lock().map(|a| a.len()).unwrap_or(0) == 200 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(*started.lock().unwrap(), want);
        assert_eq!(*answered.lock().unwrap(), want);
    }

    #[tokio::test]
    async fn a_barrier_waits_for_earlier_answers() {
        let lane = Arc::new(Lane::default());
        let tasks = tokio_util::task::TaskTracker::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let l1 = log.clone();
        lane.push(
            Job {
                barrier: false,
                work: Box::pin(async move {
                    Step::Pending(Box::pin(async move {
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        Box::new(move || record(&l1, 1)) as Finish
                    }))
                }),
            },
            &tasks,
        );
        let l2 = log.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        lane.push(
            Job {
                barrier: true,
                work: Box::pin(async move {
                    record(&l2, 2);
                    let _ = tx.send(());
                    Step::Done
                }),
            },
            &tasks,
        );
        rx.await.unwrap();
        assert_eq!(*log.lock().unwrap(), vec![1, 2]);
    }
}

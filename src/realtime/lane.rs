//! One connection's events, applied in the order the connection sent them, and answered in
//! that order.
//!
//! socketioxide runs every incoming event in a task of its own, and tokio runs the most
//! recently spawned task first: an unpaced burst of 30 `user_message`s from one socket was
//! stored as `29, 00, 01, ...` (3 runs out of 3). So chatdesk takes the events itself: the
//! socket's message handler is called synchronously by the engine.io reader, in arrival order
//! (also for several packets in one long-polling POST), and gives each event a [`Ticket`] in
//! that order. Answers go out in ticket order, whoever produces them ([`Lane::answer`]): an
//! answer that is ready early waits (parked in the lane) for the ones before it.
//!
//! A send (`user_message`, `admin_message`) whose checks need no database read runs right
//! there, in the reader ([`Lane::begin`] says when it may): it is validated and handed to the
//! group-commit writer, which gives `seq` in that order and answers the ticket itself after
//! the commit. No task is spawned or woken per message.
//!
//! Any other event, or a send while earlier events still run, is queued on the lane. A lane's
//! queue is drained by one task that exists only while the queue is not empty (an idle
//! connection costs no task), one event after the other. A queued send is handed to the
//! writer in its turn without waiting for earlier commits; any other event ([`Job::barrier`])
//! first waits until every earlier event is answered, so a `read` or `clear_history` sent
//! after a message sees that message stored.
//!
//! Different connections never wait for each other: each has its own lane.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use tokio::sync::Notify;

/// The last, synchronous part of an event: sends its answer.
pub type Finish = Box<dyn FnOnce() + Send>;

/// An event's place in its connection's order of answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// An event waiting on its lane. A send's work has its ticket answered by whoever it hands
/// the event to (the writer, or [`Lane::answer`] with a refusal); a barrier's work answers the
/// client itself, in its turn, and its ticket is done once the work is.
pub struct Job {
    pub ticket: Ticket,
    /// Waits until every earlier event is answered before it starts.
    pub barrier: bool,
    pub work: BoxFuture<'static, ()>,
}

/// Events of one socket, in arrival order.
#[derive(Default)]
pub struct Lane {
    inner: Mutex<Queue>,
    /// Signalled when answers went out (a waiting barrier may start).
    turn: Notify,
}

#[derive(Default)]
struct Queue {
    /// Queued events and early answers; allocated only while there are any (an idle
    /// connection keeps none).
    busy: Option<Box<Busy>>,
    /// A drain task is running (it alone takes jobs).
    running: bool,
    /// Someone is sending answers (only one at a time, so they go out in order).
    answering: bool,
    /// The ticket the next event gets.
    next_ticket: u64,
    /// The ticket whose answer goes out next.
    next_answer: u64,
}

#[derive(Default)]
struct Busy {
    jobs: VecDeque<Job>,
    /// Answers that came before their turn: index 0 is `next_answer`.
    parked: VecDeque<Option<Finish>>,
}

impl Queue {
    fn queued(&self) -> usize {
        self.busy.as_ref().map_or(0, |b| b.jobs.len())
    }

    fn busy(&mut self) -> &mut Busy {
        self.busy.get_or_insert_with(Default::default)
    }

    /// Frees the queues once both are empty.
    fn tidy(&mut self) {
        if self
            .busy
            .as_ref()
            .is_some_and(|b| b.jobs.is_empty() && b.parked.is_empty())
        {
            self.busy = None;
        }
    }

    /// The parked answer of `next_answer`, if it is there; moves past it.
    fn take_next(&mut self) -> Option<Finish> {
        let busy = self.busy.as_mut()?;
        if !matches!(busy.parked.front(), Some(Some(_))) {
            return None;
        }
        let f = busy.parked.pop_front().flatten();
        self.next_answer += 1;
        f
    }
}

/// What the reader may do with a new event.
pub struct Begin {
    pub ticket: Ticket,
    /// Nothing is queued or running: the event may run right now, in the caller.
    pub inline: bool,
}

/// Events a lane holds before new ones are refused (`rate_limited`): the socket's event
/// budget refuses a flood before this; this only bounds memory if the budget is off.
pub const MAX_QUEUED: usize = 1024;

impl Lane {
    /// Gives a new event its ticket. Called by the connection's reader only, one event after
    /// the other.
    pub fn begin(&self) -> Option<Begin> {
        let mut q = self.inner.lock().ok()?;
        if q.queued() >= MAX_QUEUED {
            return None;
        }
        let ticket = Ticket(q.next_ticket);
        q.next_ticket += 1;
        Some(Begin {
            ticket,
            inline: q.queued() == 0 && !q.running,
        })
    }

    /// Queues an event. Starts the drain task if none runs.
    pub fn push(self: &Arc<Self>, job: Job, tasks: &tokio_util::task::TaskTracker) {
        let start = {
            let Ok(mut q) = self.inner.lock() else {
                return;
            };
            q.busy().jobs.push_back(job);
            !std::mem::replace(&mut q.running, true)
        };
        if start {
            tasks.spawn(drain(self.clone()));
        }
    }

    /// Whether the lane refuses new events.
    pub fn is_full(&self) -> bool {
        self.inner.lock().map_or(true, |q| q.queued() >= MAX_QUEUED)
    }

    /// Answers the event of `ticket`: now if every earlier event is answered, else as soon as
    /// they are. Any thread may call it; answers leave in ticket order, one caller at a time.
    pub fn answer(&self, ticket: Ticket, finish: Finish) {
        let Ok(mut q) = self.inner.lock() else {
            return;
        };
        let Some(at) = ticket.0.checked_sub(q.next_answer) else {
            return; // answered already
        };
        if at > 0 || q.answering {
            // Not its turn, or someone else is sending: parked, sent by whoever sends the
            // answer before it.
            let at = at as usize;
            let parked = &mut q.busy().parked;
            if parked.len() <= at {
                parked.resize_with(at + 1, || None);
            }
            parked[at] = Some(finish);
            return;
        }
        // Its turn: sent now, then every parked answer that follows it.
        q.answering = true;
        if let Some(b) = q.busy.as_mut() {
            b.parked.pop_front(); // its empty place, when later answers are parked
        }
        q.next_answer += 1;
        let mut finish = finish;
        loop {
            let wake = q.running;
            // Sent without the lock: an answer may close the socket, whose clean-up must
            // not find the lane locked.
            drop(q);
            finish();
            if wake {
                self.turn.notify_one();
            }
            q = match self.inner.lock() {
                Ok(q) => q,
                Err(_) => return,
            };
            match q.take_next() {
                Some(next) => finish = next,
                None => {
                    q.answering = false;
                    q.tidy();
                    return;
                }
            }
        }
    }

    /// Resolves once every event before `ticket` is answered.
    async fn wait_turn(&self, ticket: Ticket) {
        loop {
            let notified = self.turn.notified();
            match self.inner.lock() {
                Ok(q) if q.next_answer < ticket.0 => {}
                _ => return,
            }
            notified.await;
        }
    }

    /// The next job, or `None`, in which case the drain task ends (decided under the lock,
    /// so a concurrent `push` starts a new one).
    fn next(&self) -> Option<Job> {
        let mut q = self.inner.lock().ok()?;
        let job = q.busy.as_mut().and_then(|b| b.jobs.pop_front());
        if job.is_none() {
            q.running = false;
            q.tidy();
        }
        job
    }
}

/// Runs a lane's jobs in order until the queue is empty.
async fn drain(lane: Arc<Lane>) {
    while let Some(job) = lane.next() {
        if job.barrier {
            lane.wait_turn(job.ticket).await;
        }
        job.work.await;
        if job.barrier {
            // A barrier's handler answered the client itself, in its turn: its ticket is done.
            lane.answer(job.ticket, Box::new(|| ()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn record(log: &Arc<Mutex<Vec<u64>>>, n: u64) {
        if let Ok(mut l) = log.lock() {
            l.push(n);
        }
    }

    async fn until(log: &Arc<Mutex<Vec<u64>>>, len: usize) {
        for _ in 0..500 {
            if log.lock().map(|a| a.len()).unwrap_or(0) >= len {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn answers_leave_in_ticket_order_whoever_sends_them() {
        let lane = Arc::new(Lane::default());
        let tasks = tokio_util::task::TaskTracker::new();
        let started = Arc::new(Mutex::new(Vec::new()));
        let answered = Arc::new(Mutex::new(Vec::new()));
        for n in 0..200u64 {
            let begin = lane.begin().unwrap();
            assert_eq!(begin.ticket, Ticket(n));
            let (started, l) = (started.clone(), lane.clone());
            let (answered, answered_here) = (answered.clone(), answered.clone());
            // Later events are answered sooner than earlier ones, from other tasks.
            let delay = Duration::from_micros((200 - n) * 20);
            let ticket = begin.ticket;
            let answer_later = move || {
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    l.answer(ticket, Box::new(move || record(&answered, n)));
                });
            };
            if begin.inline && n % 3 == 0 {
                record(&started, n);
                answer_later();
            } else if n % 50 == 49 {
                // a barrier answers itself, in its turn (as the event handlers do)
                lane.push(
                    Job {
                        ticket,
                        barrier: true,
                        work: Box::pin(async move {
                            record(&started, n);
                            record(&answered_here, n);
                        }),
                    },
                    &tasks,
                );
            } else {
                lane.push(
                    Job {
                        ticket,
                        barrier: false,
                        work: Box::pin(async move {
                            record(&started, n);
                            answer_later();
                        }),
                    },
                    &tasks,
                );
            }
        }
        until(&answered, 200).await;
        let want: Vec<u64> = (0..200).collect();
        assert_eq!(*started.lock().unwrap(), want);
        assert_eq!(*answered.lock().unwrap(), want);
        tasks.close();
        tasks.wait().await;
        let q = lane.inner.lock().unwrap();
        assert!(q.busy.is_none(), "an idle lane keeps its queues");
        assert!(!q.running && !q.answering);
    }

    /// Every connection has a lane: it stays as small as the one without tickets was (80
    /// bytes), its queues allocated only while in use.
    #[test]
    fn a_lane_is_small() {
        assert!(
            std::mem::size_of::<Lane>() <= 80,
            "{}",
            std::mem::size_of::<Lane>()
        );
    }

    #[tokio::test]
    async fn a_barrier_waits_for_earlier_answers() {
        let lane = Arc::new(Lane::default());
        let tasks = tokio_util::task::TaskTracker::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        let first = lane.begin().unwrap();
        assert!(first.inline);
        let (l1, lane1) = (log.clone(), lane.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            lane1.answer(first.ticket, Box::new(move || record(&l1, 1)));
        });
        let second = lane.begin().unwrap();
        assert!(second.inline, "nothing queued: a send may still run inline");
        let l2 = log.clone();
        lane.push(
            Job {
                ticket: second.ticket,
                barrier: true,
                work: Box::pin(async move { record(&l2, 2) }),
            },
            &tasks,
        );
        let third = lane.begin().unwrap();
        assert!(
            !third.inline,
            "a job is queued: later events queue behind it"
        );
        let l3 = log.clone();
        lane.answer(third.ticket, Box::new(move || record(&l3, 3)));
        until(&log, 3).await;
        assert_eq!(*log.lock().unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn an_answer_sent_twice_goes_out_once() {
        let lane = Lane::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let t = lane.begin().unwrap().ticket;
        let (a, b) = (log.clone(), log.clone());
        lane.answer(t, Box::new(move || record(&a, 1)));
        lane.answer(t, Box::new(move || record(&b, 2)));
        assert_eq!(*log.lock().unwrap(), vec![1]);
    }
}

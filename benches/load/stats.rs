//! What a phase measured: the counters of one phase merged over its sessions ([`Tally`]),
//! latency percentiles, and the `seq` values one socket has seen.

/// Counters of one phase (merged over sessions).
#[derive(Default)]
pub struct Tally {
    pub sent: u64,
    pub acked: u64,
    pub overloaded: u64,
    pub rejected: u64,
    pub unacked: u64,
    /// Distinct messages delivered at watchers.
    pub delivered: u64,
    /// ... of which delivered before sending stopped.
    pub delivered_in_window: u64,
    /// Acknowledged (or unanswered) messages a socket of the room never got.
    pub lost: u64,
    /// Deliveries of a `seq` or `clientMsgId` the socket already had.
    pub dup: u64,
    /// Deliveries with a `seq` lower than one already delivered.
    pub out_of_order: u64,
    /// Deliveries of a message the sender sent before one already delivered (by the sender's
    /// own counter, the `n` of `clientMsgId` `m<n>`): catches a `seq` handed out in the wrong
    /// order, which the `seq` check cannot see.
    pub sender_order: u64,
    /// Missing `seq` values below the highest delivered one (per socket, cumulative).
    pub gaps: u64,
    /// Ack, `seq`, content and `clientMsgId` that disagree.
    pub mismatch: u64,
    /// Deliveries nobody sent (unknown id, other session, a rejected message).
    pub unexpected: u64,
    /// Send -> watcher delivery, microseconds.
    pub latencies_us: Vec<u32>,
    /// Send -> ack at the sender, microseconds.
    pub ack_us: Vec<u32>,
    /// (send time in ms since the phase started, send -> watcher delivery in us).
    pub timeline: Vec<(u32, u32)>,
    pub first_error: Option<String>,
}

impl Tally {
    pub fn merge(&mut self, o: Tally) {
        self.sent += o.sent;
        self.acked += o.acked;
        self.overloaded += o.overloaded;
        self.rejected += o.rejected;
        self.unacked += o.unacked;
        self.delivered += o.delivered;
        self.delivered_in_window += o.delivered_in_window;
        self.lost += o.lost;
        self.dup += o.dup;
        self.out_of_order += o.out_of_order;
        self.sender_order += o.sender_order;
        self.gaps += o.gaps;
        self.mismatch += o.mismatch;
        self.unexpected += o.unexpected;
        self.latencies_us.extend(o.latencies_us);
        self.ack_us.extend(o.ack_us);
        self.timeline.extend(o.timeline);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }

    /// Integrity failures: must be zero.
    pub fn failures(&self) -> u64 {
        self.lost
            + self.dup
            + self.out_of_order
            + self.sender_order
            + self.gaps
            + self.mismatch
            + self.unexpected
    }

    pub fn errors(&self) -> u64 {
        self.overloaded + self.rejected + self.unacked
    }

    pub fn note_error(&mut self, e: impl Into<String>) {
        if self.first_error.is_none() {
            self.first_error = Some(e.into());
        }
    }
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Clone, Copy, Default)]
pub struct Latency {
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

pub fn latency(us: &mut [u32]) -> Latency {
    if us.is_empty() {
        return Latency::default();
    }
    us.sort_unstable();
    let rank = |p: f64| {
        let i = ((p / 100.0) * us.len() as f64).ceil() as usize;
        us[i.clamp(1, us.len()) - 1] as f64 / 1000.0
    };
    Latency {
        p50: rank(50.0),
        p99: rank(99.0),
        max: us[us.len() - 1] as f64 / 1000.0,
    }
}

/// Seen `seq` values of one socket.
#[derive(Default)]
pub struct SeqLog {
    seen: Vec<bool>,
    pub max: i64,
}

impl SeqLog {
    pub fn has(&self, seq: i64) -> bool {
        seq >= 1 && self.seen.get(seq as usize - 1).copied().unwrap_or(false)
    }

    /// Records a new `seq`; true if it arrived after a higher one (out of order).
    pub fn record(&mut self, seq: i64) -> bool {
        let i = seq as usize - 1;
        if self.seen.len() <= i {
            self.seen.resize(i + 1, false);
        }
        self.seen[i] = true;
        let late = seq < self.max;
        self.max = self.max.max(seq);
        late
    }

    /// Missing values below the highest one seen.
    pub fn holes(&self) -> u64 {
        self.seen.iter().filter(|s| !**s).count() as u64
    }
}

//! A session under load: a visitor socket that sends and a watcher socket in the same room
//! that measures; a phase sends closed or open loop, then drains, and checks every delivery on
//! both sockets (order, gaps, duplicates, ack and content agreeing).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures::StreamExt;
use serde_json::json;
use testkit::packet::{Packet, SioKind, SioPacket};
use testkit::RawSocket;
use tokio::time::{sleep_until, MissedTickBehavior};

use crate::cli::Args;
use crate::report::micros;
use crate::server::Server;
use crate::stats::{SeqLog, Tally};
use crate::wire::{self, init_session, open_socket, AckBody, MessageEvent};

#[derive(Clone, Copy, PartialEq)]
enum AckState {
    Pending,
    Stored(i64),
    Rejected,
}

pub enum Load {
    /// Send the next message when the previous one's ack arrived.
    Closed,
    /// Send `per_sec` messages per second on a timer, starting `offset` after the phase start.
    Open { per_sec: f64, offset: Duration },
}

pub struct Pair {
    pub idx: usize,
    pub session_id: String,
    visitor: RawSocket,
    watcher: RawSocket,
    pad: Arc<str>,
    check_echo: bool,
    /// Per message index `n` (its `clientMsgId` is `m<n>`, its ack id `n + 1`).
    sent_at: Vec<Instant>,
    acks: Vec<AckState>,
    watcher_seq_of: Vec<i64>,
    visitor_seq_of: Vec<i64>,
    watcher_seqs: SeqLog,
    visitor_seqs: SeqLog,
    /// The highest sender counter delivered so far at the watcher / the visitor (+1; 0: none).
    watcher_last_n: usize,
    visitor_last_n: usize,
    in_flight: usize,
    /// When the current phase started sending (for the timeline).
    phase_start: Instant,
}

/// Counters the drain needs to know when a phase is complete.
#[derive(Default)]
struct PhaseProgress {
    stored: u64,
    watcher_got: u64,
    visitor_got: u64,
}

impl Pair {
    async fn connect(url: &str, idx: usize, pad: Arc<str>, check_echo: bool) -> Result<Pair> {
        let mut visitor = open_socket(url).await.context("visitor connect")?;
        let ack = init_session(&mut visitor, &json!({})).await?;
        let session_id = ack["sessionId"].as_str().unwrap_or_default().to_string();
        if ack["lastSeq"].as_i64().unwrap_or(0) != 0 {
            bail!("a new session should start at lastSeq 0: {ack}");
        }
        let mut watcher = open_socket(url).await.context("watcher connect")?;
        let ack = init_session(&mut watcher, &json!({ "sessionId": session_id })).await?;
        if ack["sessionId"].as_str() != Some(session_id.as_str()) || ack["resumed"] != json!(true) {
            bail!("the watcher did not join session {session_id}: {ack}");
        }
        Ok(Pair {
            idx,
            session_id,
            visitor,
            watcher,
            pad,
            check_echo,
            sent_at: Vec::new(),
            acks: Vec::new(),
            watcher_seq_of: Vec::new(),
            visitor_seq_of: Vec::new(),
            watcher_seqs: SeqLog::default(),
            visitor_seqs: SeqLog::default(),
            watcher_last_n: 0,
            visitor_last_n: 0,
            in_flight: 0,
            phase_start: Instant::now(),
        })
    }

    fn content(&self, n: usize) -> String {
        format!("load {} {} {}", self.idx, n, self.pad)
    }

    async fn send_next(&mut self, t: &mut Tally) -> Result<()> {
        let n = self.sent_at.len();
        let packet = wire::user_message(
            n as u64 + 1,
            &self.session_id,
            &self.content(n),
            &format!("m{n}"),
        );
        self.sent_at.push(Instant::now());
        self.acks.push(AckState::Pending);
        self.watcher_seq_of.push(0);
        self.visitor_seq_of.push(0);
        self.in_flight += 1;
        t.sent += 1;
        self.visitor.send(packet).await?;
        Ok(())
    }

    /// Runs one phase: sends per `load` from `start` until `send_until`, then waits (until
    /// `drain_until` at the latest) for outstanding acks and deliveries; then accounts.
    async fn run_phase(
        &mut self,
        load: &Load,
        start: Instant,
        send_until: Instant,
        drain_until: Instant,
    ) -> Result<Tally> {
        let mut t = Tally::default();
        let mut progress = PhaseProgress::default();
        let first = self.sent_at.len();
        self.phase_start = start;
        sleep_until(start.into()).await;

        let (open_rate, mut ticker) = match load {
            Load::Open { per_sec, offset } => {
                let period = Duration::from_secs_f64((1.0 / per_sec).max(0.001));
                let mut iv = tokio::time::interval_at((start + *offset).into(), period);
                iv.set_missed_tick_behavior(MissedTickBehavior::Delay);
                (Some((*per_sec, start + *offset)), Some(iv))
            }
            Load::Closed => (None, None),
        };
        let send_end = sleep_until(send_until.into());
        tokio::pin!(send_end);
        let drain_end = sleep_until(drain_until.into());
        tokio::pin!(drain_end);
        let mut sending = true;

        loop {
            if sending && Instant::now() >= send_until {
                sending = false;
            }
            if sending && open_rate.is_none() && self.in_flight == 0 {
                self.send_next(&mut t).await?;
            }
            if !sending && self.in_flight == 0 && self.phase_complete(&progress) {
                break;
            }
            tokio::select! {
                frame = self.visitor.next_text() => {
                    let text = frame.context("visitor socket")?;
                    if let Some(text) = text {
                        self.on_visitor_packet(&text, &mut t, &mut progress).await?;
                    }
                }
                frame = self.watcher.next_text() => {
                    let text = frame.context("watcher socket")?;
                    if let Some(text) = text {
                        self.on_watcher_packet(&text, send_until, &mut t, &mut progress).await?;
                    }
                }
                _ = async { ticker.as_mut().unwrap().tick().await }, if sending && ticker.is_some() => {
                    let (rate, from) = open_rate.unwrap_or((0.0, start));
                    let due = (Instant::now().saturating_duration_since(from).as_secs_f64() * rate)
                        .floor() as usize + 1;
                    let mut burst = 0;
                    while self.sent_at.len() - first < due && burst < 256 {
                        self.send_next(&mut t).await?;
                        burst += 1;
                    }
                }
                _ = &mut send_end, if sending => { sending = false; }
                _ = &mut drain_end => break,
            }
        }
        self.account(first, &mut t);
        Ok(t)
    }

    fn phase_complete(&self, p: &PhaseProgress) -> bool {
        p.watcher_got >= p.stored && (!self.check_echo || p.visitor_got >= p.stored)
    }

    async fn on_visitor_packet(
        &mut self,
        text: &str,
        t: &mut Tally,
        p: &mut PhaseProgress,
    ) -> Result<()> {
        let m = match Packet::parse(text) {
            Packet::Ping => return Ok(self.visitor.pong().await?),
            Packet::Close => bail!("visitor disconnected by the server: {text}"),
            Packet::Message(m) => m,
            _ => return Ok(()),
        };
        match (m.kind, m.event_name()) {
            (SioKind::Ack, _) => self.on_ack(&m, text, t, p),
            (SioKind::Event, Some("message")) if m.ns == "/" => {
                let delivered = self.check_echo && self.on_message(false, m.data, text, None, t);
                p.visitor_got += u64::from(delivered);
            }
            (SioKind::Event, Some("error")) if m.ns == "/" => {
                t.rejected += 1;
                t.note_error(text.to_string());
            }
            (SioKind::Disconnect | SioKind::ConnectError, _) => {
                bail!("visitor disconnected by the server: {text}")
            }
            _ => {}
        }
        Ok(())
    }

    async fn on_watcher_packet(
        &mut self,
        text: &str,
        window_end: Instant,
        t: &mut Tally,
        p: &mut PhaseProgress,
    ) -> Result<()> {
        let m = match Packet::parse(text) {
            Packet::Ping => return Ok(self.watcher.pong().await?),
            Packet::Close => bail!("watcher disconnected by the server: {text}"),
            Packet::Message(m) => m,
            _ => return Ok(()),
        };
        match (m.kind, m.event_name()) {
            (SioKind::Event, Some("message")) if m.ns == "/" => {
                let delivered = self.on_message(true, m.data, text, Some(window_end), t);
                p.watcher_got += u64::from(delivered);
            }
            (SioKind::Disconnect | SioKind::ConnectError, _) => {
                bail!("watcher disconnected by the server: {text}")
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks the ack `m` (the whole packet: `text`) of one of our messages.
    fn on_ack(&mut self, m: &SioPacket, text: &str, t: &mut Tally, p: &mut PhaseProgress) {
        let id = m.ack.unwrap_or(0) as usize;
        let Some(n) = id.checked_sub(1).filter(|n| *n < self.acks.len()) else {
            t.unexpected += 1;
            t.note_error(format!("ack with unknown id: {text}"));
            return;
        };
        if self.acks[n] != AckState::Pending {
            t.dup += 1;
            t.note_error(format!("second ack for m{n}"));
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        t.ack_us.push(micros(self.sent_at[n].elapsed()));
        let body = serde_json::from_str::<(AckBody,)>(m.data).map(|b| b.0);
        match body {
            Ok(AckBody {
                ok: true,
                data: Some(m),
                ..
            }) => {
                self.acks[n] = AckState::Stored(m.seq);
                t.acked += 1;
                p.stored += 1;
                if m.client_msg_id.as_deref() != Some(format!("m{n}").as_str()) {
                    t.mismatch += 1;
                    t.note_error(format!("ack for m{n} carries {:?}", m.client_msg_id));
                }
                for seq_of in [&self.watcher_seq_of, &self.visitor_seq_of] {
                    if seq_of[n] != 0 && seq_of[n] != m.seq {
                        t.mismatch += 1;
                        t.note_error(format!(
                            "m{n}: ack seq {} vs delivered {}",
                            m.seq, seq_of[n]
                        ));
                    }
                }
            }
            Ok(AckBody { error: Some(e), .. }) => {
                self.acks[n] = AckState::Rejected;
                if e.code == "overloaded" {
                    t.overloaded += 1;
                } else {
                    t.rejected += 1;
                    t.note_error(format!("user_message rejected: {}", e.code));
                }
            }
            _ => {
                self.acks[n] = AckState::Rejected;
                t.rejected += 1;
                t.note_error(format!("unreadable ack: {text}"));
            }
        }
    }

    /// Checks one delivered `message` (its arguments `data`, the whole packet `text`); true
    /// if it is a new, valid delivery of one of ours.
    fn on_message(
        &mut self,
        at_watcher: bool,
        data: &str,
        text: &str,
        window_end: Option<Instant>,
        t: &mut Tally,
    ) -> bool {
        let now = Instant::now();
        let Ok((_, m)) = serde_json::from_str::<(&str, MessageEvent)>(data) else {
            t.unexpected += 1;
            t.note_error(format!("unreadable message event: {text}"));
            return false;
        };
        let n = m
            .client_msg_id
            .as_deref()
            .and_then(|id| id.strip_prefix('m'))
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n < self.sent_at.len());
        let (Some(n), true, true) = (n, m.session_id == self.session_id, m.seq >= 1) else {
            t.unexpected += 1;
            t.note_error(format!("message nobody sent here: {text}"));
            return false;
        };
        let (seq_of, log, last_n) = if at_watcher {
            (
                &mut self.watcher_seq_of,
                &mut self.watcher_seqs,
                &mut self.watcher_last_n,
            )
        } else {
            (
                &mut self.visitor_seq_of,
                &mut self.visitor_seqs,
                &mut self.visitor_last_n,
            )
        };
        if seq_of[n] != 0 || log.has(m.seq) {
            t.dup += 1;
            t.note_error(format!("duplicate delivery of m{n} / seq {}", m.seq));
            log.record(m.seq);
            return false;
        }
        seq_of[n] = m.seq;
        if n + 1 < *last_n {
            t.sender_order += 1;
            t.note_error(format!(
                "m{n} arrived after m{} (sender order broken)",
                *last_n - 1
            ));
        }
        *last_n = (*last_n).max(n + 1);
        if log.record(m.seq) {
            t.out_of_order += 1;
            t.note_error(format!("seq {} arrived after seq {}", m.seq, log.max));
        }
        match self.acks[n] {
            AckState::Stored(s) if s != m.seq => {
                t.mismatch += 1;
                t.note_error(format!("m{n}: ack seq {s} vs delivered {}", m.seq));
            }
            AckState::Rejected => {
                t.unexpected += 1;
                t.note_error(format!("m{n} was rejected but delivered"));
            }
            _ => {}
        }
        if m.content != self.content(n) {
            t.mismatch += 1;
            t.note_error(format!("m{n}: content changed to {:?}", m.content));
        }
        if at_watcher {
            t.delivered += 1;
            if window_end.is_some_and(|end| now <= end) {
                t.delivered_in_window += 1;
            }
            let us = micros(now.duration_since(self.sent_at[n]));
            t.latencies_us.push(us);
            let at = self.sent_at[n].saturating_duration_since(self.phase_start);
            t.timeline.push((at.as_millis() as u32, us));
        }
        true
    }

    /// End of a phase: every stored message of the phase must have reached both sockets.
    fn account(&self, first: usize, t: &mut Tally) {
        for n in first..self.sent_at.len() {
            match self.acks[n] {
                AckState::Stored(_) => {
                    if self.watcher_seq_of[n] == 0 {
                        t.lost += 1;
                    }
                    if self.check_echo && self.visitor_seq_of[n] == 0 {
                        t.lost += 1;
                    }
                }
                AckState::Pending => {
                    t.unacked += 1;
                    if self.watcher_seq_of[n] == 0 {
                        t.lost += 1;
                    }
                }
                AckState::Rejected => {}
            }
        }
        if t.lost > 0 {
            t.note_error(format!(
                "session {}: {} deliveries missing",
                self.session_id, t.lost
            ));
        }
        if t.unacked > 0 {
            t.note_error(format!("{} sends never answered", t.unacked));
        }
        t.gaps = self.watcher_seqs.holes()
            + if self.check_echo {
                self.visitor_seqs.holes()
            } else {
                0
            };
    }

    async fn close(self) {
        futures::join!(self.visitor.close(), self.watcher.close());
    }
}

/// Opens `count` session pairs, `concurrency` at a time.
pub async fn open_pairs(args: &Args, server: &Server, count: usize) -> Result<Vec<Pair>> {
    let pad: Arc<str> = "x"
        .repeat(args.content_bytes.saturating_sub(16).max(1))
        .into();
    let url = server.ws_url.clone();
    let check_echo = args.check_echo;
    let results: Vec<Result<Pair>> = futures::stream::iter(0..count)
        .map(|i| {
            let (url, pad) = (url.clone(), pad.clone());
            async move { Pair::connect(&url, i, pad, check_echo).await }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let mut pairs = Vec::with_capacity(count);
    for r in results {
        pairs.push(r?);
    }
    pairs.sort_by_key(|p| p.idx);
    Ok(pairs)
}

/// Runs one phase on every pair concurrently (one task per pair on this thread).
pub async fn run_phase_all(
    pairs: Vec<Pair>,
    load: impl Fn(usize) -> Load,
    send_secs: f64,
    drain_secs: f64,
) -> Result<(Vec<Pair>, Tally, Duration)> {
    let start = Instant::now() + Duration::from_millis(200);
    let send_until = start + Duration::from_secs_f64(send_secs);
    let drain_until = send_until + Duration::from_secs_f64(drain_secs);
    let count = pairs.len();
    let handles: Vec<_> = pairs
        .into_iter()
        .enumerate()
        .map(|(i, mut pair)| {
            let l = load(i);
            tokio::spawn(async move {
                let r = pair.run_phase(&l, start, send_until, drain_until).await;
                (pair, r)
            })
        })
        .collect();
    let mut total = Tally::default();
    let mut back = Vec::with_capacity(count);
    let mut first_err = None;
    for h in handles {
        let (pair, r) = h.await.context("session task panicked")?;
        match r {
            Ok(t) => total.merge(t),
            Err(e) => {
                first_err.get_or_insert(e.context(format!("session {}", pair.session_id)));
            }
        }
        back.push(pair);
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    Ok((back, total, send_until.saturating_duration_since(start)))
}

pub async fn close_pairs(pairs: Vec<Pair>) {
    futures::stream::iter(pairs)
        .for_each_concurrent(256, |p| p.close())
        .await;
}

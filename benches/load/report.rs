//! The report: one table row per run or step, the latency timeline, the legend, and the JSON
//! summary with its number formatting.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cpu::CpuUse;
use crate::server::WriterUse;
use crate::stats::{latency, Latency, Tally};

/// Other load on the machine (in % of one core) above which a row is flagged as distorted.
pub const OTHER_LOAD_WARN: f64 = 25.0;

pub struct Row {
    pub label: String,
    pub secs: f64,
    pub t: Tally,
    pub lat: Latency,
    pub ack: Latency,
    pub cpu: CpuUse,
    pub rss_kb: Option<u64>,
    pub writer: Option<WriterUse>,
}

impl Row {
    pub fn new(label: String, secs: f64, mut t: Tally, cpu: CpuUse, rss_kb: Option<u64>) -> Row {
        let lat = latency(&mut t.latencies_us);
        let ack = latency(&mut t.ack_us);
        Row {
            label,
            secs,
            t,
            lat,
            ack,
            cpu,
            rss_kb,
            writer: None,
        }
    }

    pub fn delivered_per_sec(&self) -> f64 {
        self.t.delivered_in_window as f64 / self.secs
    }
    pub fn sent_per_sec(&self) -> f64 {
        self.t.sent as f64 / self.secs
    }
}

pub fn print_header(first: &str) {
    println!(
        "{:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6}",
        first, "sent/s", "deliv/s", "p50 ms", "p99 ms", "max ms", "ack p50", "ack p99", "lost",
        "dup", "ooo", "snd", "ovrld", "errors", "batch", "txn ms", "srv cpu", "gen cpu", "box cpu", "RSS MB"
    );
}

pub fn print_row(r: &Row) {
    println!(
        "{:>9} {:>7.0} {:>7.0} {:>7.2} {:>7.2} {:>7.1} {:>7.2} {:>7.2} {:>5} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6}",
        r.label,
        r.sent_per_sec(),
        r.delivered_per_sec(),
        r.lat.p50,
        r.lat.p99,
        r.lat.max,
        r.ack.p50,
        r.ack.p99,
        r.t.lost,
        r.t.dup,
        r.t.out_of_order,
        r.t.sender_order,
        r.t.overloaded,
        r.t.rejected + r.t.unacked,
        r.writer.map(|w| format!("{:.1}", w.batch)).unwrap_or_else(|| "-".into()),
        r.writer.map(|w| format!("{:.2}", w.txn_ms)).unwrap_or_else(|| "-".into()),
        pct(r.cpu.server),
        pct(r.cpu.generator),
        pct(r.cpu.machine),
        r.rss_kb
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into()),
    );
    let other = r.t.gaps + r.t.mismatch + r.t.unexpected;
    if other > 0 {
        println!(
            "          !! seq gaps {}, mismatches {}, unexpected deliveries {}",
            r.t.gaps, r.t.mismatch, r.t.unexpected
        );
    }
    if let Some(threads) = &r.cpu.threads {
        println!("          server threads: {threads}");
    }
    if let Some(pg) = r.cpu.postgres {
        println!("          PostgreSQL processes: {pg:.0}%");
    }
    if let Some(other) = r.cpu.other.filter(|o| *o >= OTHER_LOAD_WARN) {
        println!("          !! other processes used {other:.0}% of a core during this run: figures distorted");
    }
    if let Some(e) = &r.t.first_error {
        println!("          first problem: {}", truncate(e, 300));
    }
}

pub fn row_json(r: &Row) -> Value {
    json!({
        "deliveredPerSec": r.delivered_per_sec().round(),
        "sentPerSec": r.sent_per_sec().round(),
        "sent": r.t.sent,
        "delivered": r.t.delivered,
        "p50Ms": round2(r.lat.p50),
        "p99Ms": round2(r.lat.p99),
        "maxMs": round2(r.lat.max),
        "ackP50Ms": round2(r.ack.p50),
        "ackP99Ms": round2(r.ack.p99),
        "batchAvg": r.writer.map(|w| round1(w.batch)),
        "txnAvgMs": r.writer.map(|w| round2(w.txn_ms)),
        "boxCpuPct": r.cpu.machine.map(|c| c.round()),
        "serverThreads": r.cpu.threads,
        "postgresCpuPct": r.cpu.postgres.map(|c| c.round()),
        "otherCpuPct": r.cpu.other.map(|c| c.round()),
        "lost": r.t.lost,
        "duplicated": r.t.dup,
        "outOfOrder": r.t.out_of_order,
        "outOfSenderOrder": r.t.sender_order,
        "seqGaps": r.t.gaps,
        "mismatched": r.t.mismatch + r.t.unexpected,
        "overloaded": r.t.overloaded,
        "errors": r.t.rejected + r.t.unacked,
        "serverCpuPct": r.cpu.server.map(|c| c.round()),
        "generatorCpuPct": r.cpu.generator.map(|c| c.round()),
    })
}

/// Latency over the phase's send time: one line per bucket, `max/p99` in ms.
pub fn print_timeline(t: &Tally, bucket_ms: u64) {
    if bucket_ms == 0 || t.timeline.is_empty() {
        return;
    }
    let mut buckets: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    for &(at, us) in &t.timeline {
        buckets.entry(at as u64 / bucket_ms).or_default().push(us);
    }
    let cells: Vec<String> = buckets
        .into_iter()
        .map(|(b, mut us)| {
            let l = latency(&mut us);
            format!("{}:{:.0}/{:.0}", b * bucket_ms, l.max, l.p99)
        })
        .collect();
    println!(
        "          timeline (send ms: max/p99 ms): {}",
        cells.join(" ")
    );
}

pub fn print_legend() {
    println!(
        "(sent/s: messages sent per second; deliv/s: distinct messages delivered to the watchers per second \
         while sending; p50/p99/max: send -> watcher delivery; lost/dup/ooo: integrity failures on either \
         socket, must be 0; ovrld: `overloaded` rejections; errors: other rejections + sends never \
         answered; ack p50/p99: send -> ack at the sender; batch/txn ms: messages per group-commit \
         transaction and time per transaction, from the server's /metrics when it serves them; \
         cpu: % of one core (box: % of all cores); RSS: server memory after the run)"
    );
}

/// The JSON summary without the fields that were not measured.
pub fn without_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

pub fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

pub fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}%")).unwrap_or_else(|| "-".into())
}

pub fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

pub fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("...");
    out
}

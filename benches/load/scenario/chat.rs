//! Scenario 2, chat in a closed loop: for each `--sessions` count, S sessions (a visitor and
//! a watcher socket each), every visitor sending its next `user_message` when the previous
//! ack arrived; messages per second delivered at the watchers and the latency.

use std::time::Instant;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Args;
use crate::cpu::{wait_quiet, CpuMeter};
use crate::pair::{close_pairs, open_pairs, run_phase_all, Load};
use crate::report::{print_header, print_legend, print_row, print_timeline, round2, row_json, Row};
use crate::server::{Server, WriterUse};

pub async fn chat(args: &Args, server: &Server) -> Result<(u64, Value)> {
    println!(
        "\n== chat (closed loop): visitor + watcher per session, next message on ack, {}s per run",
        args.duration
    );
    let mut runs = Vec::new();
    let mut failures = 0;
    let mut rows = Vec::new();
    for &s in &args.sessions {
        if args.quiet_wait > 0.0 {
            wait_quiet(args).await;
        }
        let t0 = Instant::now();
        let pairs = open_pairs(args, server, s).await?;
        let setup = t0.elapsed();
        let cpu = CpuMeter::start(server.pid);
        let writer = server.writer_stats().await;
        let (pairs, t, secs) =
            run_phase_all(pairs, |_| Load::Closed, args.duration, args.drain_secs).await?;
        let cpu = cpu.stop();
        let mut row = Row::new(s.to_string(), secs.as_secs_f64(), t, cpu, server.rss_kb());
        row.writer = WriterUse::between(writer, server.writer_stats().await);
        close_pairs(pairs).await;
        failures += row.t.failures();
        let mut j = row_json(&row);
        j["sessions"] = json!(s);
        j["setupSecs"] = json!(round2(setup.as_secs_f64()));
        runs.push(j);
        rows.push(row);
    }
    print_header("sessions");
    for r in &rows {
        print_row(r);
        print_timeline(&r.t, args.timeline_ms);
    }
    print_legend();
    Ok((
        failures,
        json!({
            "scenario": "chat",
            "database": server.db_label,
            "durationSecs": args.duration,
            "runs": runs,
        }),
    ))
}

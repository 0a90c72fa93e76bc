//! Scenario 3, a sweep in an open loop: `--sweep-sessions` sessions, messages sent on a timer
//! at increasing target rates regardless of acks; per step the delivered rate and latency, and
//! the highest rate whose p99 stays under 50 ms. An agent console on `/admin` counts the desk
//! events it hears meanwhile.

use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Result;
use serde_json::{json, Value};

use crate::cli::Args;
use crate::cpu::{wait_quiet, CpuMeter};
use crate::pair::{close_pairs, open_pairs, run_phase_all, Load};
use crate::report::{print_header, print_legend, print_row, print_timeline, row_json, Row};
use crate::server::{Server, WriterUse};
use crate::wire::agent_console;

pub async fn sweep(args: &Args, server: &Server) -> Result<(u64, Value)> {
    let s = args.sweep_sessions;
    println!(
        "\n== sweep (open loop): {s} sessions, target rates {:?} msg/s, {}s per step",
        args.rates, args.step_secs
    );
    if args.quiet_wait > 0.0 {
        wait_quiet(args).await;
    }
    let mut pairs = open_pairs(args, server, s).await?;
    let console = agent_console(&server.ws_url).await;
    if console.is_none() {
        println!("(no agent console: /admin refused it; console events not counted)");
    }
    let mut steps = Vec::new();
    let mut failures = 0;
    let mut best: Option<u64> = None;
    let mut stop_reason = None;
    print_header("target/s");
    for &rate in &args.rates {
        let per_sec = rate as f64 / s as f64;
        let cpu = CpuMeter::start(server.pid);
        let writer = server.writer_stats().await;
        let console_before = console.as_ref().map(|c| c.load(Ordering::Relaxed));
        let (back, t, secs) = run_phase_all(
            pairs,
            |i| Load::Open {
                per_sec,
                // Spread the sessions' send times evenly over one period.
                offset: Duration::from_secs_f64(i as f64 / s as f64 / per_sec),
            },
            args.step_secs,
            args.drain_secs,
        )
        .await?;
        pairs = back;
        let cpu = cpu.stop();
        let mut row = Row::new(
            rate.to_string(),
            secs.as_secs_f64(),
            t,
            cpu,
            server.rss_kb(),
        );
        row.writer = WriterUse::between(writer, server.writer_stats().await);
        failures += row.t.failures();
        print_row(&row);
        print_timeline(&row.t, args.timeline_ms);
        let mut j = row_json(&row);
        j["targetPerSec"] = json!(rate);
        if let (Some(c), Some(before)) = (&console, console_before) {
            let per_sec = (c.load(Ordering::Relaxed) - before) as f64 / secs.as_secs_f64();
            println!("          agent console: {per_sec:.0} events/s");
            j["consoleEventsPerSec"] = json!(per_sec.round());
        }
        steps.push(j);
        let clean = row.t.errors() == 0 && row.t.failures() == 0;
        if clean && row.lat.p99 < 50.0 {
            best = Some(rate);
        }
        if row.lat.p99 > 200.0 {
            stop_reason = Some(format!(
                "p99 {:.0} ms > 200 ms at {rate} msg/s",
                row.lat.p99
            ));
        } else if !clean {
            stop_reason = Some(format!("errors at {rate} msg/s"));
        }
        if stop_reason.is_some() {
            break;
        }
    }
    close_pairs(pairs).await;
    print_legend();
    if let Some(r) = &stop_reason {
        println!("sweep stopped: {r}");
    }
    match best {
        Some(b) => println!("highest target rate with p99 < 50 ms and no errors: {b} msg/s"),
        None => println!("no step had p99 < 50 ms without errors"),
    }
    Ok((
        failures,
        json!({
            "scenario": "sweep",
            "database": server.db_label,
            "sessions": s,
            "stepSecs": args.step_secs,
            "steps": steps,
            "maxRateP99Under50ms": best,
            "stoppedBecause": stop_reason,
        }),
    ))
}

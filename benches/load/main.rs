//! Load benchmark of chatdesk: drives a running server over the real socket.io wire protocol
//! (engine.io v4 / socket.io v5 text packets over raw WebSocket frames) from ONE
//! current-thread tokio runtime, and reports what a deployment needs to know:
//!
//! - `idle`:  connections held, connections opened per second (handshake + `init_session`),
//!   server RSS per connection (VmRSS before and after).
//! - `chat`:  closed loop. S sessions, each a visitor socket and a watcher socket in the same
//!   room; each visitor sends the next `user_message` when the previous ack arrived.
//!   Messages per second delivered at the watchers, latency send -> delivery at the watcher.
//! - `sweep`: open loop. 100 sessions, increasing target rates, messages sent on a timer
//!   regardless of acks; per step the delivered rate and latency, and the highest rate whose
//!   p99 stays under 50 ms.
//! - `--webhooks N` (with any scenario): N webhooks for `message.created` to a receiver in
//!   this process, registered before the scenarios; reports the deliveries received.
//! - `uploads` (only when named): many clients upload a large attachment at once; upload
//!   throughput and the server's peak RSS (it must not grow with file size times clients).
//!
//! Every delivered message is checked on both sockets of its session (watcher and, since the
//! sender is in the room too, the visitor): `seq` must be 1, 2, 3, ... without gaps, repeats
//! or reordering, every acknowledged message must arrive exactly once (by `clientMsgId` and by
//! `seq`), and ack, content and `seq` must agree. The process exits non-zero if anything was
//! lost, duplicated or out of order.
//!
//! By default the server is spawned here from the release binary in a fresh temp dir (SQLite,
//! or a fresh PostgreSQL database with `--database postgres`) and killed at the end, also on
//! error; `--url` drives a server that is already running. See benches/README.md.

//!
//! The modules, by job: [`cli`] the flags; [`server`] the server under test (spawned or given);
//! [`os`] and [`cpu`] the Linux figures (RSS, CPU per process and thread, open-file limit);
//! [`wire`] chatdesk's events on top of the shared socket.io client (`testkit`); [`pair`] a
//! session under load and its integrity checks, counted in [`stats`]; [`scenario`] idle, chat
//! and sweep; [`report`] the tables and the JSON summary.

mod cli;
mod cpu;
mod os;
mod pair;
mod report;
mod scenario;
mod server;
mod stats;
mod webhooks;
mod wire;

use std::process::ExitCode;

use anyhow::{anyhow, Result};
use clap::Parser;

use cli::{validate, Args};
use cpu::wait_quiet;
use report::without_nulls;
use server::Server;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = validate(&args) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    os::raise_open_file_limit();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let outcome = rt.block_on(async {
        let mut server = match Server::start(&args).await {
            Ok(s) => s,
            Err(e) => return Err(e),
        };
        let result = tokio::select! {
            r = run(&args, &server) => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        };
        if result.is_err() {
            server.print_log_tail();
        }
        server.stop();
        result
    });
    match outcome {
        Ok(0) => ExitCode::SUCCESS,
        Ok(bad) => {
            eprintln!("FAILED: {bad} messages lost, duplicated, out of order or inconsistent");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Runs the selected scenarios; returns how many integrity failures were seen.
async fn run(args: &Args, server: &Server) -> Result<u64> {
    println!(
        "chatdesk load bench: server {} ({}), database {}, load generator: 1 thread",
        server.base,
        server
            .pid
            .map(|p| format!("pid {p}"))
            .unwrap_or_else(|| "no pid: RSS/CPU not measured".into()),
        server.db_label
    );
    // Other work on the machine distorts every figure: say how busy it was before we started.
    if let Some(busy) = wait_quiet(args).await {
        println!(
            "machine busy before the run: {busy:.0}% of all cores{}",
            if busy > 15.0 {
                " (other load: the figures below are pessimistic)"
            } else {
                ""
            }
        );
    }
    let hooks = if args.webhooks > 0 {
        Some(webhooks::register(args, server).await?)
    } else {
        None
    };
    let mut failures = 0;
    let mut summaries = Vec::new();
    let all = args.scenario == "all";
    if all || args.scenario == "idle" {
        summaries.push(scenario::idle(args, server).await?);
    }
    if all || args.scenario == "chat" {
        let (bad, summary) = scenario::chat(args, server).await?;
        failures += bad;
        summaries.push(summary);
    }
    if all || args.scenario == "sweep" {
        let (bad, summary) = scenario::sweep(args, server).await?;
        failures += bad;
        summaries.push(summary);
    }
    if args.scenario == "uploads" {
        summaries.push(scenario::uploads(args, server).await?);
    }
    if let Some(h) = &hooks {
        summaries.push(h.report(server).await);
    }
    println!("\nsummary (one JSON line per scenario):");
    for s in summaries {
        println!("{}", without_nulls(s));
    }
    Ok(failures)
}

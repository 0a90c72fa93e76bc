//! The command line: every flag of the bench, and the checks on their values.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Parser;

/// chatdesk load benchmark (see benches/README.md).
#[derive(Debug, Parser)]
#[command(name = "load", about)]
pub struct Args {
    /// Which scenario to run: idle, chat, sweep, all (those three) or uploads.
    #[arg(long, default_value = "all", value_parser = ["idle", "chat", "sweep", "all", "uploads"])]
    pub scenario: String,

    /// idle: connections to open and hold.
    #[arg(long, default_value_t = 2000)]
    pub conns: usize,

    /// chat: session counts to run, one closed-loop run each (e.g. `--sessions 10,100`).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    pub sessions: Vec<usize>,

    /// chat: seconds each closed-loop run sends for.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,

    /// sweep: number of sessions the target rate is spread over.
    #[arg(long, default_value_t = 100)]
    pub sweep_sessions: usize,

    /// sweep: target total rates in messages per second, tried in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2000,5000,10000,20000,40000"
    )]
    pub rates: Vec<u64>,

    /// sweep: seconds each step sends for.
    #[arg(long, default_value_t = 3.0)]
    pub step_secs: f64,

    /// Seconds to wait after sending stops for outstanding acks and deliveries.
    #[arg(long, default_value_t = 15.0)]
    pub drain_secs: f64,

    /// Approximate size of each message's content, in bytes.
    #[arg(long, default_value_t = 64)]
    pub content_bytes: usize,

    /// Connections being opened at the same time (idle, and session set-up).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,

    /// Check that the sender gets its own message too (the server's ECHO_TO_SENDER=true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub check_echo: bool,

    /// Database of the spawned server: `sqlite` (a file in the temp dir), `postgres` (a fresh
    /// database on --postgres-url, dropped at the end) or a DATABASE_URL used as is.
    #[arg(long, default_value = "sqlite")]
    pub database: String,

    /// PostgreSQL server for `--database postgres` (no database name).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    pub postgres_url: String,

    /// Connection parameters appended to the spawned server's PostgreSQL URL, e.g.
    /// `sslmode=disable` (see benches/README.md: TLS to a local PostgreSQL costs a lot).
    #[arg(long)]
    pub postgres_options: Option<String>,

    /// Server binary to spawn (default: the release build of this package's `chatdesk`).
    #[arg(long)]
    pub server_bin: Option<PathBuf>,

    /// Extra environment for the spawned server, `KEY=VALUE` (repeatable).
    #[arg(long = "server-env")]
    pub server_env: Vec<String>,

    /// Drive an already running server at this URL (127.0.0.1 only) instead of spawning one.
    #[arg(long)]
    pub url: Option<String>,

    /// With --url: the server's process id, for RSS and CPU figures.
    #[arg(long)]
    pub pid: Option<u32>,

    /// Before each scenario, chat run and sweep, wait up to this many seconds for the machine
    /// to be quiet (under 15% busy), so that other work on a shared box does not distort the
    /// figures. 0: do not wait.
    #[arg(long, default_value_t = 0.0)]
    pub quiet_wait: f64,

    /// idle: after reading the server's memory, keep every connection open this many seconds
    /// more, e.g. to take a heap profiler's snapshot of the held connections.
    #[arg(long, default_value_t = 0.0)]
    pub hold_secs: f64,

    /// sweep and chat: also print the latency over time, in buckets of this many
    /// milliseconds of send time (max and p99 per bucket), to tell a stall from a slope.
    /// 0: off.
    #[arg(long, default_value_t = 0)]
    pub timeline_ms: u64,

    /// uploads: clients uploading one file each, all at once.
    #[arg(long, default_value_t = 50)]
    pub upload_clients: usize,

    /// uploads: size of each file, in MiB.
    #[arg(long, default_value_t = 10.0)]
    pub upload_mib: f64,

    /// Register this many webhooks for `message.created` (each to a receiver in this
    /// process that answers 200 at once) before the scenarios: the chat then runs with the
    /// outbox written in every group commit and the deliveries going out meanwhile. The
    /// spawned server gets an admin account and `WEBHOOK_ALLOW_PRIVATE=true` for it.
    #[arg(long, default_value_t = 0)]
    pub webhooks: usize,

    /// With `--webhooks`: the endpoints' `batchSize` (most events per POST; 1: one event
    /// per POST, as by default).
    #[arg(long, default_value_t = 1)]
    pub webhook_batch: u32,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    pub bench: bool,
}

pub fn validate(args: &Args) -> Result<()> {
    if args.sessions.is_empty() || args.sessions.contains(&0) {
        bail!("--sessions needs positive counts");
    }
    if args.sweep_sessions == 0 || args.rates.is_empty() || args.rates.contains(&0) {
        bail!("--sweep-sessions and --rates must be positive");
    }
    if !(args.duration > 0.0 && args.step_secs > 0.0 && args.drain_secs > 0.0) {
        bail!("--duration, --step-secs and --drain-secs must be positive");
    }
    if args.duration > 3600.0
        || args.step_secs > 3600.0
        || args.drain_secs > 3600.0
        || !(0.0..=3600.0).contains(&args.quiet_wait)
        || !(0.0..=3600.0).contains(&args.hold_secs)
    {
        bail!("durations are limited to an hour");
    }
    if args.concurrency == 0 {
        bail!("--concurrency must be positive");
    }
    Ok(())
}

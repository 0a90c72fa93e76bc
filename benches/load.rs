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

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Other load on the machine (in % of one core) above which a row is flagged as distorted.
const OTHER_LOAD_WARN: f64 = 25.0;

/// How long one protocol step (open, connect, ack) may take before the bench gives up.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);

// ------------------------------------------------------------------------------------------
// Command line
// ------------------------------------------------------------------------------------------

/// chatdesk load benchmark (see benches/README.md).
#[derive(Debug, Parser)]
#[command(name = "load", about)]
struct Args {
    /// Which scenario to run: idle, chat, sweep or all.
    #[arg(long, default_value = "all", value_parser = ["idle", "chat", "sweep", "all"])]
    scenario: String,

    /// idle: connections to open and hold.
    #[arg(long, default_value_t = 2000)]
    conns: usize,

    /// chat: session counts to run, one closed-loop run each (e.g. `--sessions 10,100`).
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    sessions: Vec<usize>,

    /// chat: seconds each closed-loop run sends for.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,

    /// sweep: number of sessions the target rate is spread over.
    #[arg(long, default_value_t = 100)]
    sweep_sessions: usize,

    /// sweep: target total rates in messages per second, tried in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "2000,5000,10000,20000,40000"
    )]
    rates: Vec<u64>,

    /// sweep: seconds each step sends for.
    #[arg(long, default_value_t = 3.0)]
    step_secs: f64,

    /// Seconds to wait after sending stops for outstanding acks and deliveries.
    #[arg(long, default_value_t = 15.0)]
    drain_secs: f64,

    /// Approximate size of each message's content, in bytes.
    #[arg(long, default_value_t = 64)]
    content_bytes: usize,

    /// Connections being opened at the same time (idle, and session set-up).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,

    /// Check that the sender gets its own message too (the server's ECHO_TO_SENDER=true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    check_echo: bool,

    /// Database of the spawned server: `sqlite` (a file in the temp dir), `postgres` (a fresh
    /// database on --postgres-url, dropped at the end) or a DATABASE_URL used as is.
    #[arg(long, default_value = "sqlite")]
    database: String,

    /// PostgreSQL server for `--database postgres` (no database name).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres_url: String,

    /// Connection parameters appended to the spawned server's PostgreSQL URL, e.g.
    /// `sslmode=disable` (see benches/README.md: TLS to a local PostgreSQL costs a lot).
    #[arg(long)]
    postgres_options: Option<String>,

    /// Server binary to spawn (default: the release build of this package's `chatdesk`).
    #[arg(long)]
    server_bin: Option<PathBuf>,

    /// Extra environment for the spawned server, `KEY=VALUE` (repeatable).
    #[arg(long = "server-env")]
    server_env: Vec<String>,

    /// Drive an already running server at this URL (127.0.0.1 only) instead of spawning one.
    #[arg(long)]
    url: Option<String>,

    /// With --url: the server's process id, for RSS and CPU figures.
    #[arg(long)]
    pid: Option<u32>,

    /// Before each scenario, chat run and sweep, wait up to this many seconds for the machine
    /// to be quiet (under 15% busy), so that other work on a shared box does not distort the
    /// figures. 0: do not wait.
    #[arg(long, default_value_t = 0.0)]
    quiet_wait: f64,

    /// idle: after reading the server's memory, keep every connection open this many seconds
    /// more, e.g. to take a heap profiler's snapshot of the held connections.
    #[arg(long, default_value_t = 0.0)]
    hold_secs: f64,

    /// sweep and chat: also print the latency over time, in buckets of this many
    /// milliseconds of send time (max and p99 per bucket), to tell a stall from a slope.
    /// 0: off.
    #[arg(long, default_value_t = 0)]
    timeline_ms: u64,

    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = validate(&args) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    raise_open_file_limit();
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

fn validate(args: &Args) -> Result<()> {
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

/// Samples how busy the machine is (1 s), repeating while it is busier than 15% for up to
/// `--quiet-wait` seconds; returns the last sample.
async fn wait_quiet(args: &Args) -> Option<f64> {
    let deadline = Instant::now() + Duration::from_secs_f64(args.quiet_wait);
    loop {
        let meter = CpuMeter::start(None);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = meter.stop().machine?;
        if busy <= 15.0 || Instant::now() >= deadline {
            return Some(busy);
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
    let mut failures = 0;
    let mut summaries = Vec::new();
    let all = args.scenario == "all";
    if all || args.scenario == "idle" {
        summaries.push(idle(args, server).await?);
    }
    if all || args.scenario == "chat" {
        let (bad, summary) = chat(args, server).await?;
        failures += bad;
        summaries.push(summary);
    }
    if all || args.scenario == "sweep" {
        let (bad, summary) = sweep(args, server).await?;
        failures += bad;
        summaries.push(summary);
    }
    println!("\nsummary (one JSON line per scenario):");
    for s in summaries {
        println!("{}", without_nulls(s));
    }
    Ok(failures)
}

// ------------------------------------------------------------------------------------------
// The server under test
// ------------------------------------------------------------------------------------------

/// The server being measured: spawned here (and killed on drop) or given by `--url`.
struct Server {
    base: String,
    ws_url: String,
    pid: Option<u32>,
    db_label: String,
    child: Option<Child>,
    log: Option<PathBuf>,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
    http: reqwest::Client,
}

impl Server {
    async fn start(args: &Args) -> Result<Server> {
        if let Some(url) = &args.url {
            let base = url.trim_end_matches('/').to_string();
            let host = base
                .strip_prefix("http://")
                .ok_or_else(|| anyhow!("--url must start with http://"))?
                .split(['/', ':'])
                .next()
                .unwrap_or("");
            if host != "127.0.0.1" && host != "localhost" {
                bail!("--url must point at 127.0.0.1 (this bench only loads the local machine)");
            }
            let base = base.replacen("localhost", "127.0.0.1", 1);
            let server = Server {
                ws_url: ws_url(&base),
                base,
                pid: args.pid,
                db_label: "external".into(),
                child: None,
                log: None,
                postgres: None,
                _dir: None,
                http: http_client()?,
            };
            server.wait_healthy(Duration::from_secs(10)).await?;
            return Ok(server);
        }

        let bin = server_binary(args)?;
        let dir = tempfile::Builder::new()
            .prefix("chatdesk-bench-")
            .tempdir()
            .context("creating a temp dir")?;
        let mut postgres = None;
        let (db_url, db_label) = match args.database.as_str() {
            "sqlite" => (
                format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("bench.db").display()
                ),
                "sqlite".to_string(),
            ),
            "postgres" | "postgresql" => {
                let base = args.postgres_url.trim_end_matches('/').to_string();
                let name = format!(
                    "chatdesk_bench_{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..12]
                );
                create_postgres_db(&base, &name)?;
                postgres = Some((base.clone(), name.clone()));
                match &args.postgres_options {
                    Some(o) => (
                        format!("{base}/{name}?{}", o.trim_start_matches('?')),
                        format!("postgresql ({o})"),
                    ),
                    None => (format!("{base}/{name}"), "postgresql".to_string()),
                }
            }
            other => (other.to_string(), "custom".to_string()),
        };
        let port = free_port()?;
        let base = format!("http://127.0.0.1:{port}");
        let log = dir.path().join("server.log");
        let log_file = std::fs::File::create(&log)?;
        let mut cmd = Command::new(&bin);
        cmd.current_dir(dir.path())
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .env("RATE_LIMITS", "off")
            .env("INSECURE_OPEN_ADMIN", "true")
            .env("DATABASE_URL", &db_url)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        for kv in &args.server_env {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| anyhow!("--server-env wants KEY=VALUE, got {kv:?}"))?;
            cmd.env(k, v);
        }
        die_with_parent(&mut cmd);
        let spawned = cmd.spawn();
        let mut server = Server {
            ws_url: ws_url(&base),
            base,
            pid: None,
            db_label,
            child: None,
            log: Some(log),
            postgres,
            _dir: Some(dir),
            http: http_client()?,
        };
        let child = match spawned {
            Ok(c) => c,
            Err(e) => {
                server.stop();
                bail!("cannot start {}: {e}", bin.display());
            }
        };
        server.pid = Some(child.id());
        server.child = Some(child);
        if let Err(e) = server.wait_healthy(Duration::from_secs(60)).await {
            server.print_log_tail();
            server.stop();
            return Err(e);
        }
        Ok(server)
    }

    /// Polls `GET /health` until it answers 200 (and the child is still alive).
    async fn wait_healthy(&self, within: Duration) -> Result<()> {
        let http = &self.http;
        let deadline = Instant::now() + within;
        let url = format!("{}/health", self.base);
        loop {
            if let Ok(r) = http.get(&url).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(pid) = self.pid {
                if self.child.is_some() && !Path::new(&format!("/proc/{pid}")).exists() {
                    bail!("the server exited during start-up");
                }
            }
            if Instant::now() > deadline {
                bail!("{url} did not answer within {within:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn print_log_tail(&self) {
        let Some(log) = &self.log else { return };
        if let Ok(text) = std::fs::read_to_string(log) {
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            if !tail.is_empty() {
                eprintln!("--- last lines of the server log:");
                for l in tail {
                    eprintln!("{l}");
                }
            }
        }
    }

    /// Kills the spawned server and drops its PostgreSQL database. Idempotent.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((base, name)) = self.postgres.take() {
            drop_postgres_db(&base, &name);
        }
    }

    fn rss_kb(&self) -> Option<u64> {
        self.pid.and_then(proc_rss_kb)
    }

    /// The group-commit writer's histograms from `GET /metrics`, when the server serves it.
    async fn writer_stats(&self) -> Option<WriterStats> {
        let r = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .ok()?;
        if !r.status().is_success() {
            return None;
        }
        let text = r.text().await.ok()?;
        let value = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                .and_then(|l| l.split_whitespace().last())
                .and_then(|v| v.parse::<f64>().ok())
        };
        // The histograms appear with the first stored batch; until then they are zero.
        if !text.contains("# TYPE chatdesk_") {
            return None;
        }
        Some(WriterStats {
            batch_sum: value("chatdesk_write_batch_size_sum").unwrap_or(0.0),
            batch_count: value("chatdesk_write_batch_size_count").unwrap_or(0.0),
            txn_sum: value("chatdesk_store_latency_seconds_sum").unwrap_or(0.0),
        })
    }
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?)
}

/// Cumulative figures of the server's group-commit writer.
#[derive(Clone, Copy)]
struct WriterStats {
    batch_sum: f64,
    batch_count: f64,
    txn_sum: f64,
}

/// What the writer did during a run: messages per transaction and time per transaction.
#[derive(Clone, Copy)]
struct WriterUse {
    batch: f64,
    txn_ms: f64,
}

impl WriterUse {
    fn between(a: Option<WriterStats>, b: Option<WriterStats>) -> Option<WriterUse> {
        let (a, b) = (a?, b?);
        let txns = b.batch_count - a.batch_count;
        (txns > 0.0).then(|| WriterUse {
            batch: (b.batch_sum - a.batch_sum) / txns,
            txn_ms: (b.txn_sum - a.txn_sum) / txns * 1000.0,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ws_url(base: &str) -> String {
    format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http://", "ws://", 1)
    )
}

/// The release `chatdesk` binary: `--server-bin`, else the one cargo built with this bench,
/// else `target/release/chatdesk`, built with `cargo build --release --bin chatdesk` if missing.
fn server_binary(args: &Args) -> Result<PathBuf> {
    if let Some(p) = &args.server_bin {
        if !p.exists() {
            bail!("--server-bin {} does not exist", p.display());
        }
        return Ok(p.clone());
    }
    if let Some(p) = option_env!("CARGO_BIN_EXE_chatdesk").map(PathBuf::from) {
        if p.exists() {
            return Ok(p);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release").join("chatdesk");
    if !bin.exists() {
        eprintln!("building the server: cargo build --release --bin chatdesk");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--release", "--bin", "chatdesk"])
            .current_dir(root)
            .status()
            .context("running cargo build")?;
        if !status.success() || !bin.exists() {
            bail!("cargo build --release --bin chatdesk failed");
        }
    }
    Ok(bin)
}

fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?.port())
}

fn create_postgres_db(base: &str, name: &str) -> Result<()> {
    let admin = format!("{base}/postgres");
    let psql = Command::new("psql")
        .args([admin.as_str(), "-v", "ON_ERROR_STOP=1", "-qc"])
        .arg(format!("CREATE DATABASE \"{name}\""))
        .output();
    match psql {
        Ok(out) if out.status.success() => return Ok(()),
        Ok(out) => bail!(
            "psql could not create {name} on {base}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(_) => {}
    }
    let out = Command::new("createdb")
        .arg(format!("--maintenance-db={admin}"))
        .arg(name)
        .output()
        .context("neither psql nor createdb could be run")?;
    if !out.status.success() {
        bail!(
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn drop_postgres_db(base: &str, name: &str) {
    let admin = format!("{base}/postgres");
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let ok = Command::new("psql")
        .args([admin.as_str(), "-qc", sql.as_str()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        let ok = Command::new("dropdb")
            .args(["--force", "--if-exists"])
            .arg(format!("--maintenance-db={admin}"))
            .arg(name)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            eprintln!("warning: could not drop the PostgreSQL database {name}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Operating-system bits (Linux): open-file limit, parent-death signal, /proc figures
// ------------------------------------------------------------------------------------------

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod sys {
    #[repr(C)]
    pub struct RLimit {
        pub cur: u64,
        pub max: u64,
    }
    pub const RLIMIT_NOFILE: i32 = 7;
    pub const PR_SET_PDEATHSIG: i32 = 1;
    pub const SIGKILL: u64 = 9;
    extern "C" {
        pub fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
        pub fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
        pub fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
    }
}

/// Raises the soft open-file limit to the hard limit (the spawned server inherits it).
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn raise_open_file_limit() {
    let mut lim = sys::RLimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls with a correctly laid out `struct rlimit` (64-bit Linux).
    unsafe {
        if sys::getrlimit(sys::RLIMIT_NOFILE, &mut lim) == 0 && lim.cur < lim.max {
            let raised = sys::RLimit {
                cur: lim.max,
                max: lim.max,
            };
            if sys::setrlimit(sys::RLIMIT_NOFILE, &raised) == 0 {
                lim.cur = lim.max;
            }
        }
    }
    println!("open-file limit: {} (hard {})", lim.cur, lim.max);
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn raise_open_file_limit() {
    println!("open-file limit: not changed on this platform (use `ulimit -n`)");
}

/// The spawned server gets SIGKILL if the bench dies without cleaning up.
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            sys::prctl(sys::PR_SET_PDEATHSIG, sys::SIGKILL, 0, 0, 0);
            Ok(())
        });
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
)))]
fn die_with_parent(_cmd: &mut Command) {}

/// VmRSS of a process, in kB.
fn proc_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// utime + stime of a process, in clock ticks (USER_HZ, 100 on Linux).
fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) ticks of the whole machine.
/// (busy, total, interrupts) ticks of the whole machine; interrupts (mostly loopback TCP
/// here) are charged to no process.
fn machine_ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    let field = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is already in user/nice).
    let total: u64 = (0..8).map(field).sum();
    Some((total - field(3) - field(4), total, field(5) + field(6)))
}

/// CPU used between two moments: server and load generator in % of one core, the whole
/// machine in % of all cores.
struct CpuMeter {
    server_pid: Option<u32>,
    server: Option<u64>,
    threads: BTreeMap<u32, (String, u64)>,
    helpers: BTreeMap<u32, (String, u64)>,
    me: Option<u64>,
    machine: Option<(u64, u64, u64)>,
    at: Instant,
}

#[derive(Clone, Default)]
struct CpuUse {
    server: Option<f64>,
    generator: Option<f64>,
    machine: Option<f64>,
    /// The server's busiest threads, e.g. `tokio-rt-worker 61%+58%, sqlx-sqlite-wor 40%`.
    threads: Option<String>,
    /// PostgreSQL's processes on this machine, in % of one core.
    postgres: Option<f64>,
    /// Everything else on the machine (other programs; not interrupts, kernel threads,
    /// PostgreSQL), in % of one core: a high value means the figures are distorted.
    other: Option<f64>,
}

/// CPU ticks of the machine's PostgreSQL processes and kernel threads (journal, writeback:
/// the fsyncs of either database), by pid: (`"postgres"` or `"kernel"`, ticks).
fn helper_ticks() -> BTreeMap<u32, (String, u64)> {
    const PF_KTHREAD: u64 = 0x0020_0000;
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let class = if num(6) & PF_KTHREAD != 0 {
            "kernel"
        } else if comm == "postgres" {
            "postgres"
        } else {
            continue;
        };
        out.insert(pid, (class.to_string(), num(11) + num(12)));
    }
    out
}

/// CPU ticks of every thread of a process, by thread id: (thread name, ticks).
fn thread_ticks(pid: Option<u32>) -> BTreeMap<u32, (String, u64)> {
    let mut out = BTreeMap::new();
    let Some(pid) = pid else { return out };
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        if let Some(ticks) = proc_cpu_ticks(&format!("{pid}/task/{tid}")) {
            out.insert(tid, (comm.trim().to_string(), ticks));
        }
    }
    out
}

/// Per-thread-name CPU between two samples, busiest first (names under 3% left out), e.g.
/// `tokio-rt-worker 45%+44%, sqlx-sqlite-wor 14 threads 38%`.
fn thread_summary(
    a: &BTreeMap<u32, (String, u64)>,
    b: &BTreeMap<u32, (String, u64)>,
    secs: f64,
    process_pct: Option<f64>,
) -> Option<String> {
    let mut by_name: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut seen = 0.0;
    for (tid, (name, ticks)) in b {
        let before = a.get(tid).map(|x| x.1).unwrap_or(0);
        let pct = ticks.saturating_sub(before) as f64 / 100.0 / secs * 100.0;
        seen += pct;
        if pct > 0.0 {
            by_name.entry(name).or_default().push(pct);
        }
    }
    let mut groups: Vec<(&str, Vec<f64>, f64)> = by_name
        .into_iter()
        .map(|(n, mut v)| {
            v.sort_by(|x, y| y.total_cmp(x));
            let sum = v.iter().sum();
            (n, v, sum)
        })
        .filter(|g| g.2 >= 3.0)
        .collect();
    groups.sort_by(|x, y| y.2.total_cmp(&x.2));
    let mut parts: Vec<String> = groups
        .iter()
        .map(|(name, v, sum)| {
            if v.len() <= 3 {
                let list: Vec<String> = v.iter().map(|p| format!("{p:.0}%")).collect();
                format!("{name} {}", list.join("+"))
            } else {
                format!("{name} {} threads {sum:.0}%", v.len())
            }
        })
        .collect();
    // Threads that ended between the two samples only show in the process total.
    if let Some(gone) = process_pct.map(|p| p - seen).filter(|g| *g >= 3.0) {
        parts.push(format!("threads that exited {gone:.0}%"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

impl CpuMeter {
    fn start(server_pid: Option<u32>) -> Self {
        CpuMeter {
            server_pid,
            server: server_pid.and_then(|p| proc_cpu_ticks(&p.to_string())),
            threads: thread_ticks(server_pid),
            helpers: helper_ticks(),
            me: proc_cpu_ticks("self"),
            machine: machine_ticks(),
            at: Instant::now(),
        }
    }

    fn stop(&self) -> CpuUse {
        let secs = self.at.elapsed().as_secs_f64().max(1e-3);
        let pct = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some((b.saturating_sub(a)) as f64 / 100.0 / secs * 100.0),
            _ => None,
        };
        let (machine, machine_busy) = match (self.machine, machine_ticks()) {
            (Some((b0, t0, i0)), Some((b1, t1, i1))) if t1 > t0 => (
                Some((b1 - b0) as f64 / (t1 - t0) as f64 * 100.0),
                Some((b1 - b0).saturating_sub(i1 - i0) as f64 / 100.0 / secs * 100.0),
            ),
            _ => (None, None),
        };
        let server = pct(
            self.server,
            self.server_pid.and_then(|p| proc_cpu_ticks(&p.to_string())),
        );
        let threads = thread_summary(&self.threads, &thread_ticks(self.server_pid), secs, server);
        let (mut postgres, mut kernel) = (0u64, 0u64);
        for (pid, (class, t)) in helper_ticks() {
            let d = t.saturating_sub(self.helpers.get(&pid).map(|x| x.1).unwrap_or(0));
            if class == "postgres" {
                postgres += d;
            } else {
                kernel += d;
            }
        }
        let generator = pct(self.me, proc_cpu_ticks("self"));
        let postgres = postgres as f64 / 100.0 / secs * 100.0;
        let kernel = kernel as f64 / 100.0 / secs * 100.0;
        let other = machine_busy.map(|m| {
            (m - server.unwrap_or(0.0) - generator.unwrap_or(0.0) - postgres - kernel).max(0.0)
        });
        CpuUse {
            server,
            generator,
            machine,
            threads,
            postgres: Some(postgres).filter(|p| *p >= 3.0),
            other,
        }
    }
}

// ------------------------------------------------------------------------------------------
// The wire: engine.io v4 / socket.io v5 over raw WebSocket text frames
// ------------------------------------------------------------------------------------------

/// The next text packet, answering engine.io pings (`2` -> `3`) on the way.
async fn recv_packet(ws: &mut Ws) -> Result<String> {
    loop {
        let frame = timeout(STEP_TIMEOUT, ws.next())
            .await
            .map_err(|_| anyhow!("no packet within {STEP_TIMEOUT:?}"))?;
        match frame {
            Some(Ok(Message::Text(t))) => {
                if t.as_str() == "2" {
                    ws.send(Message::text("3")).await?;
                    continue;
                }
                return Ok(t.to_string());
            }
            Some(Ok(Message::Close(_))) | None => bail!("connection closed by the server"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
        }
    }
}

/// WebSocket connect, engine.io open, socket.io connect to "/" (within `STEP_TIMEOUT`).
async fn open_socket(url: &str) -> Result<Ws> {
    timeout(STEP_TIMEOUT, open_socket_inner(url))
        .await
        .map_err(|_| anyhow!("socket.io connect took longer than {STEP_TIMEOUT:?}"))?
}

/// An agent console on "/admin" (the spawned server runs in legacy open mode, so no token):
/// it hears what every console hears desk-wide (`session_updated`, `visitor_presence`, ...)
/// and counts the events, to show what a busy desk costs a console. `None` when the server
/// refuses it (a server started elsewhere without open mode).
async fn agent_console(url: &str) -> Option<Arc<std::sync::atomic::AtomicU64>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
    let open = recv_packet(&mut ws).await.ok()?;
    if !open.starts_with('0') {
        return None;
    }
    ws.send(Message::text("40/admin,")).await.ok()?;
    loop {
        let p = recv_packet(&mut ws).await.ok()?;
        if p.starts_with("40/admin,") {
            break;
        }
        if p.starts_with("44/admin,") {
            return None;
        }
    }
    let events = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = events.clone();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = ws.next().await {
            let Message::Text(t) = frame else { continue };
            if t.as_str() == "2" {
                if ws.send(Message::text("3")).await.is_err() {
                    break;
                }
            } else if t.as_str().starts_with("42/admin,") {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Some(events)
}

async fn open_socket_inner(url: &str) -> Result<Ws> {
    // TCP_NODELAY on, as browsers do: the client's own Nagle delays stay out of the figures.
    // A 4 KiB read chunk instead of tungstenite's 128 KiB: the default was allocated and zeroed
    // for every connection, and that (memset and the page faults behind it) was about 40 % of
    // the generator's CPU while connecting. Larger messages still arrive whole.
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let connect = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    let (mut ws, _) = timeout(STEP_TIMEOUT, connect)
        .await
        .map_err(|_| anyhow!("WebSocket connect timed out"))?
        .context("WebSocket connect")?;
    let open = recv_packet(&mut ws).await?;
    if !open.starts_with('0') {
        bail!("expected the engine.io open packet, got {open:?}");
    }
    ws.send(Message::text("40")).await?;
    loop {
        let p = recv_packet(&mut ws).await?;
        if p.starts_with("40") {
            return Ok(ws);
        }
        if p.starts_with("44") {
            bail!("connect_error: {p}");
        }
    }
}

/// `init_session` with ack id 0; returns the (unwrapped) ack object (within `STEP_TIMEOUT`).
async fn init_session(ws: &mut Ws, payload: &Value) -> Result<Value> {
    timeout(STEP_TIMEOUT, init_session_inner(ws, payload))
        .await
        .map_err(|_| anyhow!("no init_session ack within {STEP_TIMEOUT:?}"))?
}

async fn init_session_inner(ws: &mut Ws, payload: &Value) -> Result<Value> {
    ws.send(Message::text(format!("420[\"init_session\",{payload}]")))
        .await?;
    loop {
        let p = recv_packet(ws).await?;
        if let Some(body) = p.strip_prefix("430") {
            let mut arr: Vec<Value> =
                serde_json::from_str(body).with_context(|| format!("bad ack {p:?}"))?;
            let ack = arr.pop().unwrap_or(Value::Null);
            if ack.get("sessionId").and_then(Value::as_str).is_none() {
                bail!("init_session failed: {ack}");
            }
            return Ok(ack);
        }
        if p.starts_with("41") || p.starts_with("44") {
            bail!("disconnected during init_session: {p}");
        }
    }
}

/// Graceful WebSocket close: send Close, wait briefly for the server's Close.
async fn close_socket(mut ws: Ws) {
    let _ = timeout(Duration::from_secs(2), async {
        if ws.close(None).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}

/// The `message` event as far as the checks need it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageEvent<'a> {
    seq: i64,
    #[serde(borrow)]
    session_id: Cow<'a, str>,
    #[serde(borrow)]
    content: Cow<'a, str>,
    #[serde(borrow, default)]
    client_msg_id: Option<Cow<'a, str>>,
}

/// A `user_message` ack: `{ok: true, data: message}` or `{ok: false, error: {code}}`.
#[derive(Deserialize)]
struct AckBody {
    #[serde(default)]
    ok: bool,
    data: Option<AckMessage>,
    error: Option<AckError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AckMessage {
    seq: i64,
    client_msg_id: Option<String>,
}

#[derive(Deserialize)]
struct AckError {
    code: String,
}

// ------------------------------------------------------------------------------------------
// Statistics
// ------------------------------------------------------------------------------------------

/// Counters of one phase (merged over sessions).
#[derive(Default)]
struct Tally {
    sent: u64,
    acked: u64,
    overloaded: u64,
    rejected: u64,
    unacked: u64,
    /// Distinct messages delivered at watchers.
    delivered: u64,
    /// ... of which delivered before sending stopped.
    delivered_in_window: u64,
    /// Acknowledged (or unanswered) messages a socket of the room never got.
    lost: u64,
    /// Deliveries of a `seq` or `clientMsgId` the socket already had.
    dup: u64,
    /// Deliveries with a `seq` lower than one already delivered.
    out_of_order: u64,
    /// Deliveries of a message the sender sent before one already delivered (by the sender's
    /// own counter, the `n` of `clientMsgId` `m<n>`): catches a `seq` handed out in the wrong
    /// order, which the `seq` check cannot see.
    sender_order: u64,
    /// Missing `seq` values below the highest delivered one (per socket, cumulative).
    gaps: u64,
    /// Ack, `seq`, content and `clientMsgId` that disagree.
    mismatch: u64,
    /// Deliveries nobody sent (unknown id, other session, a rejected message).
    unexpected: u64,
    /// Send -> watcher delivery, microseconds.
    latencies_us: Vec<u32>,
    /// Send -> ack at the sender, microseconds.
    ack_us: Vec<u32>,
    /// (send time in ms since the phase started, send -> watcher delivery in us).
    timeline: Vec<(u32, u32)>,
    first_error: Option<String>,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
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
    fn failures(&self) -> u64 {
        self.lost
            + self.dup
            + self.out_of_order
            + self.sender_order
            + self.gaps
            + self.mismatch
            + self.unexpected
    }

    fn errors(&self) -> u64 {
        self.overloaded + self.rejected + self.unacked
    }

    fn note_error(&mut self, e: impl Into<String>) {
        if self.first_error.is_none() {
            self.first_error = Some(e.into());
        }
    }
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Clone, Copy, Default)]
struct Latency {
    p50: f64,
    p99: f64,
    max: f64,
}

fn latency(us: &mut [u32]) -> Latency {
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
struct SeqLog {
    seen: Vec<bool>,
    max: i64,
}

impl SeqLog {
    fn has(&self, seq: i64) -> bool {
        seq >= 1 && self.seen.get(seq as usize - 1).copied().unwrap_or(false)
    }

    /// Records a new `seq`; true if it arrived after a higher one (out of order).
    fn record(&mut self, seq: i64) -> bool {
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
    fn holes(&self) -> u64 {
        self.seen.iter().filter(|s| !**s).count() as u64
    }
}

// ------------------------------------------------------------------------------------------
// A session under load: visitor socket (sends) + watcher socket (measures)
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum AckState {
    Pending,
    Stored(i64),
    Rejected,
}

enum Load {
    /// Send the next message when the previous one's ack arrived.
    Closed,
    /// Send `per_sec` messages per second on a timer, starting `offset` after the phase start.
    Open { per_sec: f64, offset: Duration },
}

struct Pair {
    idx: usize,
    session_id: String,
    visitor: Ws,
    watcher: Ws,
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
        let packet = format!(
            "42{}[\"user_message\",{{\"sessionId\":\"{}\",\"content\":\"{}\",\"clientMsgId\":\"m{}\"}}]",
            n + 1,
            self.session_id,
            self.content(n),
            n
        );
        self.sent_at.push(Instant::now());
        self.acks.push(AckState::Pending);
        self.watcher_seq_of.push(0);
        self.visitor_seq_of.push(0);
        self.in_flight += 1;
        t.sent += 1;
        self.visitor.send(Message::text(packet)).await?;
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
                frame = self.visitor.next() => {
                    let text = frame_text(frame).context("visitor socket")?;
                    if let Some(text) = text {
                        self.on_visitor_packet(&text, &mut t, &mut progress).await?;
                    }
                }
                frame = self.watcher.next() => {
                    let text = frame_text(frame).context("watcher socket")?;
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
        if text == "2" {
            self.visitor.send(Message::text("3")).await?;
        } else if let Some(rest) = text.strip_prefix("43") {
            self.on_ack(rest, t, p);
        } else if text.starts_with("42[\"message\",") {
            if self.check_echo && self.on_message(false, text, None, t) {
                p.visitor_got += 1;
            }
        } else if text.starts_with("42[\"error\"") {
            t.rejected += 1;
            t.note_error(text.to_string());
        } else if text.starts_with("41") || text.starts_with("44") || text.starts_with('1') {
            bail!("visitor disconnected by the server: {text}");
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
        if text == "2" {
            self.watcher.send(Message::text("3")).await?;
        } else if text.starts_with("42[\"message\",") {
            if self.on_message(true, text, Some(window_end), t) {
                p.watcher_got += 1;
            }
        } else if text.starts_with("41") || text.starts_with("44") || text.starts_with('1') {
            bail!("watcher disconnected by the server: {text}");
        }
        Ok(())
    }

    fn on_ack(&mut self, rest: &str, t: &mut Tally, p: &mut PhaseProgress) {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let id: usize = rest[..digits].parse().unwrap_or(0);
        let Some(n) = id.checked_sub(1).filter(|n| *n < self.acks.len()) else {
            t.unexpected += 1;
            t.note_error(format!("ack with unknown id: 43{rest}"));
            return;
        };
        if self.acks[n] != AckState::Pending {
            t.dup += 1;
            t.note_error(format!("second ack for m{n}"));
            return;
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        t.ack_us.push(micros(self.sent_at[n].elapsed()));
        let body = serde_json::from_str::<(AckBody,)>(&rest[digits..]).map(|b| b.0);
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
                t.note_error(format!("unreadable ack: 43{rest}"));
            }
        }
    }

    /// Checks one delivered `message`; true if it is a new, valid delivery of one of ours.
    fn on_message(
        &mut self,
        at_watcher: bool,
        text: &str,
        window_end: Option<Instant>,
        t: &mut Tally,
    ) -> bool {
        let now = Instant::now();
        let Ok((_, m)) = serde_json::from_str::<(&str, MessageEvent)>(&text[2..]) else {
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
        futures::join!(close_socket(self.visitor), close_socket(self.watcher));
    }
}

/// The text of a frame; `None` for frames to skip; an error when the socket is gone.
fn frame_text(
    frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
) -> Result<Option<String>> {
    match frame {
        Some(Ok(Message::Text(t))) => Ok(Some(t.to_string())),
        Some(Ok(Message::Close(_))) | None => bail!("closed by the server"),
        Some(Ok(_)) => Ok(None),
        Some(Err(e)) => Err(e.into()),
    }
}

/// Opens `count` session pairs, `concurrency` at a time.
async fn open_pairs(args: &Args, server: &Server, count: usize) -> Result<Vec<Pair>> {
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
async fn run_phase_all(
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

async fn close_pairs(pairs: Vec<Pair>) {
    futures::stream::iter(pairs)
        .for_each_concurrent(256, |p| p.close())
        .await;
}

// ------------------------------------------------------------------------------------------
// Scenario 1: idle connections
// ------------------------------------------------------------------------------------------

async fn idle(args: &Args, server: &Server) -> Result<Value> {
    let n = args.conns;
    println!("\n== idle: {n} connections (handshake + init_session), then held");
    if args.quiet_wait > 0.0 {
        wait_quiet(args).await;
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_before = server.rss_kb();
    let cpu = CpuMeter::start(server.pid);
    let closing = CancellationToken::new();
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let url = server.ws_url.clone();
    let results: Vec<Result<(tokio::task::JoinHandle<()>, u32)>> = futures::stream::iter(0..n)
        .map(|_| {
            let (url, closing, dropped) = (url.clone(), closing.clone(), dropped.clone());
            async move {
                let t0 = Instant::now();
                let mut ws = open_socket(&url).await?;
                init_session(&mut ws, &json!({})).await?;
                let us = micros(t0.elapsed());
                Ok((tokio::spawn(hold(ws, closing, dropped)), us))
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let open_secs = started.elapsed().as_secs_f64();
    let cpu_open = cpu.stop();
    let mut holders = Vec::with_capacity(n);
    let mut connect_us = Vec::with_capacity(n);
    let mut failed = 0;
    let mut first_err = None;
    for r in results {
        match r {
            Ok((h, us)) => {
                holders.push(h);
                connect_us.push(us);
            }
            Err(e) => {
                failed += 1;
                first_err.get_or_insert(e);
            }
        }
    }
    // Let the server settle, then read its memory with every connection held.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_after = server.rss_kb();
    let held = holders.len() - dropped.load(Ordering::Relaxed).min(holders.len());
    if args.hold_secs > 0.0 {
        println!("holding {held} connections for {} s", args.hold_secs);
        tokio::time::sleep(Duration::from_secs_f64(args.hold_secs)).await;
    }
    closing.cancel();
    for h in holders {
        let _ = h.await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_closed = server.rss_kb();
    if let Some(e) = first_err {
        eprintln!("{failed} connections failed; first error: {e:#}");
    }

    let lat = latency(&mut connect_us);
    let per_sec = held as f64 / open_secs;
    let per_conn_kb = match (rss_before, rss_after) {
        (Some(b), Some(a)) if held > 0 => Some((a as f64 - b as f64) / held as f64),
        _ => None,
    };
    let mb = |kb: Option<u64>| {
        kb.map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "{:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>9} {:>10} {:>9} {:>8} {:>8} {:>8}",
        "conns",
        "failed",
        "open s",
        "conns/s",
        "conn p50",
        "conn p99",
        "RSS0 MB",
        "RSS held MB",
        "KB/conn",
        "RSS end",
        "srv cpu",
        "gen cpu"
    );
    println!(
        "{:>7} {:>7} {:>8.2} {:>8.0} {:>8.1} {:>8.1} {:>9} {:>10} {:>9} {:>8} {:>8} {:>8}",
        held,
        failed,
        open_secs,
        per_sec,
        lat.p50,
        lat.p99,
        mb(rss_before),
        mb(rss_after),
        per_conn_kb
            .map(|k| format!("{k:.1}"))
            .unwrap_or_else(|| "-".into()),
        mb(rss_closed),
        pct(cpu_open.server),
        pct(cpu_open.generator),
    );
    if let Some(threads) = &cpu_open.threads {
        println!("server threads while opening: {threads}");
    }
    if let Some(pg) = cpu_open.postgres {
        println!("PostgreSQL processes while opening: {pg:.0}%");
    }
    if let Some(other) = cpu_open.other.filter(|o| *o >= OTHER_LOAD_WARN) {
        println!("!! other processes used {other:.0}% of a core while opening: figures distorted");
    }
    println!("(conn p50/p99 in ms: WebSocket connect + engine.io open + socket.io connect + init_session ack; cpu in % of one core while opening)");
    if failed > 0 {
        bail!("{failed} of {n} connections failed");
    }
    Ok(json!({
        "scenario": "idle",
        "database": server.db_label,
        "conns": held,
        "connsPerSec": round1(per_sec),
        "connectP50Ms": round1(lat.p50),
        "connectP99Ms": round1(lat.p99),
        "rssBeforeKB": rss_before,
        "rssHeldKB": rss_after,
        "rssAfterCloseKB": rss_closed,
        "rssPerConnKB": per_conn_kb.map(round1),
    }))
}

/// Holds an idle connection: answers pings until told to close.
async fn hold(mut ws: Ws, closing: CancellationToken, dropped: Arc<AtomicUsize>) {
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) if t.as_str() == "2" => {
                    if ws.send(Message::text("3")).await.is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Some(Ok(_)) => {}
            },
            _ = closing.cancelled() => {
                close_socket(ws).await;
                return;
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Scenario 2: chat, closed loop
// ------------------------------------------------------------------------------------------

struct Row {
    label: String,
    secs: f64,
    t: Tally,
    lat: Latency,
    ack: Latency,
    cpu: CpuUse,
    rss_kb: Option<u64>,
    writer: Option<WriterUse>,
}

impl Row {
    fn new(label: String, secs: f64, mut t: Tally, cpu: CpuUse, rss_kb: Option<u64>) -> Row {
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

    fn delivered_per_sec(&self) -> f64 {
        self.t.delivered_in_window as f64 / self.secs
    }
    fn sent_per_sec(&self) -> f64 {
        self.t.sent as f64 / self.secs
    }
}

fn print_header(first: &str) {
    println!(
        "{:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>4} {:>4} {:>4} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7} {:>7} {:>6}",
        first, "sent/s", "deliv/s", "p50 ms", "p99 ms", "max ms", "ack p50", "ack p99", "lost",
        "dup", "ooo", "snd", "ovrld", "errors", "batch", "txn ms", "srv cpu", "gen cpu", "box cpu", "RSS MB"
    );
}

fn print_row(r: &Row) {
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

fn row_json(r: &Row) -> Value {
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

async fn chat(args: &Args, server: &Server) -> Result<(u64, Value)> {
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

// ------------------------------------------------------------------------------------------
// Scenario 3: sweep, open loop
// ------------------------------------------------------------------------------------------

async fn sweep(args: &Args, server: &Server) -> Result<(u64, Value)> {
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

/// Latency over the phase's send time: one line per bucket, `max/p99` in ms.
fn print_timeline(t: &Tally, bucket_ms: u64) {
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

fn print_legend() {
    println!(
        "(sent/s: messages sent per second; deliv/s: distinct messages delivered to the watchers per second \
         while sending; p50/p99/max: send -> watcher delivery; lost/dup/ooo: integrity failures on either \
         socket, must be 0; ovrld: `overloaded` rejections; errors: other rejections + sends never \
         answered; ack p50/p99: send -> ack at the sender; batch/txn ms: messages per group-commit \
         transaction and time per transaction, from the server's /metrics when it serves them; \
         cpu: % of one core (box: % of all cores); RSS: server memory after the run)"
    );
}

// ------------------------------------------------------------------------------------------
// Formatting
// ------------------------------------------------------------------------------------------

/// The JSON summary without the fields that were not measured.
fn without_nulls(v: Value) -> Value {
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

fn micros(d: Duration) -> u32 {
    d.as_micros().min(u32::MAX as u128) as u32
}

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.0}%")).unwrap_or_else(|| "-".into())
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push_str("...");
    out
}

//! The server under test: spawned from the release binary in a fresh temp dir (SQLite, or a
//! fresh PostgreSQL database dropped at the end) and killed on drop, or an already running
//! one given by `--url`; its memory and its group-commit writer's figures.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::cli::Args;
use crate::os::{die_with_parent, proc_rss_kb};

/// The server being measured: spawned here (and killed on drop) or given by `--url`.
pub struct Server {
    pub base: String,
    /// The WebSocket handshake URL (`ws://.../socket.io/?EIO=4&transport=websocket`).
    pub ws_url: String,
    pub pid: Option<u32>,
    pub db_label: String,
    child: Option<Child>,
    log: Option<PathBuf>,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn start(args: &Args) -> Result<Server> {
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
        if args.webhooks > 0 {
            cmd.env("ADMIN_EMAIL", crate::webhooks::ADMIN_EMAIL)
                .env("ADMIN_PASSWORD", crate::webhooks::ADMIN_PASSWORD)
                .env("WEBHOOK_ALLOW_PRIVATE", "true");
        }
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

    pub fn print_log_tail(&self) {
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
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some((base, name)) = self.postgres.take() {
            drop_postgres_db(&base, &name);
        }
    }

    pub fn rss_kb(&self) -> Option<u64> {
        self.pid.and_then(proc_rss_kb)
    }

    /// The group-commit writer's histograms from `GET /metrics`, when the server serves it.
    pub async fn writer_stats(&self) -> Option<WriterStats> {
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
pub struct WriterStats {
    batch_sum: f64,
    batch_count: f64,
    txn_sum: f64,
}

/// What the writer did during a run: messages per transaction and time per transaction.
#[derive(Clone, Copy)]
pub struct WriterUse {
    pub batch: f64,
    pub txn_ms: f64,
}

impl WriterUse {
    pub fn between(a: Option<WriterStats>, b: Option<WriterStats>) -> Option<WriterUse> {
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
    testkit::packet::handshake_url(base, testkit::Transport::WebSocket, &[])
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

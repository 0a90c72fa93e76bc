//! Scenario 1, idle connections: opens `--conns` connections (handshake + `init_session`),
//! holds them answering pings, and reports connections per second, connect latency and the
//! server's memory per held connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use testkit::{packet, RawSocket};
use tokio_util::sync::CancellationToken;

use crate::cli::Args;
use crate::cpu::{wait_quiet, CpuMeter};
use crate::report::{micros, pct, round1, OTHER_LOAD_WARN};
use crate::server::Server;
use crate::stats::latency;
use crate::wire::{init_session, open_socket};

pub async fn idle(args: &Args, server: &Server) -> Result<Value> {
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
async fn hold(mut ws: RawSocket, closing: CancellationToken, dropped: Arc<AtomicUsize>) {
    loop {
        tokio::select! {
            frame = ws.next_text() => match frame {
                Ok(Some(t)) if t == packet::PING => {
                    if ws.pong().await.is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                }
                Err(_) => {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Ok(_) => {}
            },
            _ = closing.cancelled() => {
                ws.close().await;
                return;
            }
        }
    }
}

//! Scenario 4, attachments (issue 19): `--upload-clients` clients each upload one file of
//! `--upload-mib` MiB at the same time (`POST /api/chats/:sessionId/attachments`, one
//! session each, so that no session quota is in the way), streamed from a repeated chunk so
//! the generator holds no file either. Reports the upload throughput, the time per upload,
//! and the server's RSS before, at its peak (sampled every 20 ms) and after: an upload must
//! stream to the store, so the peak may not grow with file size times clients.
//!
//! The files are PDFs (their first bytes say so): no thumbnail is made, so what is measured
//! is the streaming path. Run with the server's default store (the database) or another one
//! through `--server-env ATTACHMENT_STORE=dir:/path`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::cli::Args;
use crate::cpu::{wait_quiet, CpuMeter};
use crate::report::{pct, round1, OTHER_LOAD_WARN};
use crate::server::Server;
use crate::wire::{init_session, open_socket};

/// The chunk a file is made of.
const CHUNK: usize = 64 * 1024;

pub async fn uploads(args: &Args, server: &Server) -> Result<Value> {
    let clients = args.upload_clients;
    let size = (args.upload_mib * 1024.0 * 1024.0) as u64;
    println!(
        "\n== uploads: {clients} clients upload {:.1} MiB each at once",
        size as f64 / (1024.0 * 1024.0)
    );
    // One session per client.
    let mut sessions = Vec::with_capacity(clients);
    for _ in 0..clients {
        let mut ws = open_socket(&server.ws_url).await?;
        let ack = init_session(&mut ws, &json!({})).await?;
        sessions.push(ack["sessionId"].as_str().unwrap_or_default().to_string());
        ws.close().await;
    }
    if args.quiet_wait > 0.0 {
        wait_quiet(args).await;
    } else {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let rss_before = server.rss_kb();
    let peak = Arc::new(AtomicU64::new(rss_before.unwrap_or(0)));
    let sampling = {
        let (peak, pid) = (peak.clone(), server.pid);
        tokio::spawn(async move {
            loop {
                if let Some(kb) = pid.and_then(crate::os::proc_rss_kb) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let http = reqwest::Client::new();
    let cpu = CpuMeter::start(server.pid);
    let started = Instant::now();
    let results: Vec<Result<(u16, f64)>> = futures::stream::iter(sessions)
        .map(|sid| {
            let (http, base) = (http.clone(), server.base.clone());
            async move {
                let t0 = Instant::now();
                let part = reqwest::multipart::Part::stream_with_length(pdf_body(size), size)
                    .file_name("bench.pdf")
                    .mime_str("application/pdf")?;
                let form = reqwest::multipart::Form::new().part("file", part);
                let r = http
                    .post(format!("{base}/api/chats/{sid}/attachments"))
                    .multipart(form)
                    .send()
                    .await?;
                let status = r.status().as_u16();
                let _ = r.bytes().await;
                Ok((status, t0.elapsed().as_secs_f64()))
            }
        })
        .buffer_unordered(clients)
        .collect()
        .await;
    let secs = started.elapsed().as_secs_f64();
    let used = cpu.stop();
    tokio::time::sleep(Duration::from_millis(500)).await;
    sampling.abort();
    let rss_after = server.rss_kb();
    let rss_peak = peak.load(Ordering::Relaxed);

    let mut times: Vec<f64> = Vec::new();
    let mut refused = Vec::new();
    for r in results {
        match r {
            Ok((201, t)) => times.push(t),
            Ok((status, _)) => refused.push(status.to_string()),
            Err(e) => refused.push(e.to_string()),
        }
    }
    times.sort_by(f64::total_cmp);
    let ok = times.len();
    let mib = (ok as u64 * size) as f64 / (1024.0 * 1024.0);
    let at = |q: f64| {
        times
            .get(((ok as f64 * q) as usize).min(ok.saturating_sub(1)))
            .copied()
    };
    let mb = |kb: Option<u64>| kb.map(|k| round1(k as f64 / 1024.0));
    println!(
        "uploaded {ok}/{clients} ({mib:.0} MiB) in {secs:.2} s: {:.1} MiB/s; per upload p50 {:.2} s, max {:.2} s",
        mib / secs,
        at(0.5).unwrap_or(0.0),
        times.last().copied().unwrap_or(0.0)
    );
    println!(
        "server RSS: before {} MiB, peak {} MiB, after {} MiB (peak - before: {} MiB for {clients} x {:.0} MiB in flight)",
        mb(rss_before).map_or("?".into(), |v| v.to_string()),
        round1(rss_peak as f64 / 1024.0),
        mb(rss_after).map_or("?".into(), |v| v.to_string()),
        round1(rss_peak.saturating_sub(rss_before.unwrap_or(0)) as f64 / 1024.0),
        size as f64 / (1024.0 * 1024.0),
    );
    println!(
        "CPU: server {}, load generator {}, machine {}",
        pct(used.server),
        pct(used.generator),
        pct(used.machine)
    );
    if used.other.is_some_and(|o| o > OTHER_LOAD_WARN) {
        println!("(other load on the machine during the run: the figures are pessimistic)");
    }
    if !refused.is_empty() {
        bail!(
            "{} uploads failed: {:?}",
            refused.len(),
            &refused[..refused.len().min(5)]
        );
    }
    Ok(json!({
        "scenario": "uploads",
        "clients": clients,
        "fileBytes": size,
        "seconds": round1(secs),
        "mibPerSec": round1(mib / secs),
        "uploadSecsP50": at(0.5),
        "uploadSecsMax": times.last(),
        "rssBeforeMiB": mb(rss_before),
        "rssPeakMiB": round1(rss_peak as f64 / 1024.0),
        "rssAfterMiB": mb(rss_after),
        "serverCpuPct": used.server,
    }))
}

/// `size` bytes that start as a PDF, as a stream of shared chunks.
fn pdf_body(size: u64) -> reqwest::Body {
    let mut first = vec![b'x'; CHUNK];
    first[..9].copy_from_slice(b"%PDF-1.7\n");
    let (first, rest) = (Bytes::from(first), Bytes::from(vec![b'y'; CHUNK]));
    let chunks = size.div_ceil(CHUNK as u64);
    let stream = futures::stream::iter(0..chunks).map(move |i| {
        let chunk = if i == 0 { first.clone() } else { rest.clone() };
        let left = (size - i * CHUNK as u64).min(CHUNK as u64) as usize;
        Ok::<_, std::io::Error>(chunk.slice(..left))
    });
    reqwest::Body::wrap_stream(stream)
}

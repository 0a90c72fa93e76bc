//! `--webhooks N`: N endpoints subscribed to `message.created`, all pointing to a receiver in
//! this process (an axum server answering 200 at once), registered before the scenarios, so
//! that the chat runs with the outbox written in every group commit and deliveries going out
//! meanwhile. The report says how many deliveries arrived during the run (and in how many
//! POSTs: `--webhook-batch N` lets one POST carry up to N events) and how many were still
//! queued at its end (per-endpoint order sends one POST at a time per endpoint).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

use crate::cli::Args;
use crate::server::Server;

pub const ADMIN_EMAIL: &str = "bench-admin@bench.test";
pub const ADMIN_PASSWORD: &str = "bench-admin-passphrase";

/// The registered endpoints and what their receiver heard.
pub struct Hooks {
    received: Arc<AtomicU64>,
    posts: Arc<AtomicU64>,
    ids: Vec<String>,
    token: String,
}

/// Starts the receiver and registers `--webhooks` endpoints to it.
pub async fn register(args: &Args, server: &Server) -> Result<Hooks> {
    let received = Arc::new(AtomicU64::new(0));
    let posts = Arc::new(AtomicU64::new(0));
    let (counter, post_counter) = (received.clone(), posts.clone());
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, _body: axum::body::Bytes| {
                let (counter, post_counter) = (counter.clone(), post_counter.clone());
                async move {
                    // One delivery id per event, comma-separated in a batch.
                    let events = headers
                        .get("x-chatdesk-delivery")
                        .and_then(|v| v.to_str().ok())
                        .map_or(1, |v| v.split(',').count());
                    counter.fetch_add(events as u64, Ordering::Relaxed);
                    post_counter.fetch_add(1, Ordering::Relaxed);
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let login: Value = server
        .http
        .post(format!("{}/api/auth/login", server.base))
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await?
        .json()
        .await?;
    let token = login["token"]
        .as_str()
        .ok_or_else(|| anyhow!("--webhooks: cannot sign in as the bench admin: {login}"))?
        .to_string();
    let mut ids = Vec::new();
    for _ in 0..args.webhooks {
        let made: Value = server
            .http
            .post(format!("{}/api/webhooks", server.base))
            .bearer_auth(&token)
            .json(&json!({
                "url": url,
                "events": ["message.created"],
                "batchSize": args.webhook_batch,
            }))
            .send()
            .await?
            .json()
            .await?;
        ids.push(
            made["id"]
                .as_str()
                .ok_or_else(|| anyhow!("--webhooks: not registered: {made}"))?
                .to_string(),
        );
    }
    println!(
        "webhooks: {} endpoints for message.created -> {url} (up to {} events per POST)",
        ids.len(),
        args.webhook_batch
    );
    Ok(Hooks {
        received,
        posts,
        ids,
        token,
    })
}

impl Hooks {
    /// Deliveries received, and the state of the first endpoint's latest deliveries.
    pub async fn report(&self, server: &Server) -> Value {
        let received = self.received.load(Ordering::Relaxed);
        let posts = self.posts.load(Ordering::Relaxed);
        let mut queued = 0u64;
        if let Some(id) = self.ids.first() {
            let page: Option<Value> = async {
                server
                    .http
                    .get(format!(
                        "{}/api/webhooks/{id}/deliveries?limit=200",
                        server.base
                    ))
                    .bearer_auth(&self.token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()
            }
            .await;
            if let Some(list) = page.as_ref().and_then(|p| p["deliveries"].as_array()) {
                queued = list
                    .iter()
                    .filter(|d| d["status"] == "pending" || d["status"] == "retrying")
                    .count() as u64;
            }
        }
        println!(
            "\nwebhooks: {received} deliveries received in {posts} POSTs by the end of the run \
             ({} endpoints); of the first endpoint's latest 200 deliveries, {queued} still queued",
            self.ids.len()
        );
        json!({
            "scenario": "webhooks",
            "endpoints": self.ids.len(),
            "received": received,
            "posts": posts,
            "queuedOfLatest200": queued,
        })
    }
}

//! `--webhooks N`: N endpoints subscribed to `message.created`, all pointing to a receiver in
//! this process (an axum server answering 200 at once), registered before the scenarios, so
//! that the chat runs with the outbox written in every group commit and deliveries going out
//! meanwhile. The report says how many deliveries arrived during the run and how many were
//! still queued at its end (per-endpoint order sends one delivery at a time per endpoint).

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
    ids: Vec<String>,
    token: String,
}

/// Starts the receiver and registers `--webhooks` endpoints to it.
pub async fn register(args: &Args, server: &Server) -> Result<Hooks> {
    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |_body: axum::body::Bytes| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::http::StatusCode::OK
            }
        }),
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
            .json(&json!({ "url": url, "events": ["message.created"] }))
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
        "webhooks: {} endpoints for message.created -> {url}",
        ids.len()
    );
    Ok(Hooks {
        received,
        ids,
        token,
    })
}

impl Hooks {
    /// Deliveries received, and the state of the first endpoint's latest deliveries.
    pub async fn report(&self, server: &Server) -> Value {
        let received = self.received.load(Ordering::Relaxed);
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
            "\nwebhooks: {received} deliveries received by the end of the run ({} endpoints); \
             of the first endpoint's latest 200 deliveries, {queued} still queued",
            self.ids.len()
        );
        json!({
            "scenario": "webhooks",
            "endpoints": self.ids.len(),
            "received": received,
            "queuedOfLatest200": queued,
        })
    }
}

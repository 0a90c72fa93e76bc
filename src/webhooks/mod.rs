//! Webhooks: admins register URLs (`/api/webhooks`, the console's `/console/webhooks`) for
//! the events of the desk (`session.created`, `message.created`, `session.status_changed`,
//! `session.assigned`, `rating.created`). The stores write each event to the durable outbox
//! (`outbox`) in the transaction of the change; this module owns the endpoints, the
//! delivery log an admin reads (`GET /api/webhooks/:id/deliveries`), manual redelivery,
//! and the worker that POSTs the outbox's rows, signed, in order, with retries
//! ([`deliver`]). Where deliveries may go: [`target`].
//!
//! Each node keeps the outbox's gate ([`crate::outbox::Subscriptions`]) in step with the
//! endpoints: at once after a change made here, through Redis for the other nodes
//! (`cluster::kb::follow`, the knowledge base's channel mechanism), and by a periodic reload.

pub mod deliver;
pub mod http;
pub mod service;
pub mod target;
pub mod types;

use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::error::AppResult;
use crate::outbox::Subscriptions;

/// How deliveries are made (from the `WEBHOOK_*` settings).
#[derive(Debug, Clone)]
pub struct Settings {
    pub timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub retry_window: Duration,
    pub concurrency: usize,
    pub batch: usize,
    pub poll: Duration,
    pub allow_private: bool,
}

impl Settings {
    pub fn of(c: &Config) -> Self {
        Settings {
            timeout: Duration::from_millis(c.webhook_timeout_ms.max(1)),
            backoff_base: Duration::from_millis(c.webhook_backoff_base_ms.max(1)),
            backoff_max: Duration::from_millis(
                c.webhook_backoff_max_ms
                    .max(c.webhook_backoff_base_ms.max(1)),
            ),
            retry_window: Duration::from_secs(c.webhook_retry_window_secs),
            concurrency: c.webhook_concurrency.clamp(1, 1024),
            batch: c.webhook_batch.clamp(1, 500),
            poll: Duration::from_millis(c.webhook_poll_ms.max(10)),
            allow_private: c.webhook_allow_private,
        }
    }
}

/// Tells the other nodes that the endpoints changed.
pub type Announce = Box<dyn Fn(&str) + Send + Sync>;

/// This node's webhooks: the database, the outbox's gate it keeps, the HTTP client, and
/// the active endpoints as last read (the delivery worker's list: it looks at their queues
/// without reading the endpoints again on every wake).
pub struct Webhooks {
    pub db: DatabaseConnection,
    pub subs: Subscriptions,
    pub settings: Settings,
    client: reqwest::Client,
    announce: OnceLock<Announce>,
    active: RwLock<Arc<Vec<entity::webhook_endpoint::Model>>>,
}

impl Webhooks {
    /// Builds the webhooks of this node and reads what is subscribed.
    pub async fn load(
        db: DatabaseConnection,
        subs: Subscriptions,
        config: &Config,
    ) -> anyhow::Result<Arc<Webhooks>> {
        let settings = Settings::of(config);
        let mut client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(4);
        if !settings.allow_private {
            client = client.dns_resolver(Arc::new(target::PublicOnly));
        }
        let hooks = Arc::new(Webhooks {
            db,
            subs,
            settings,
            client: client.build()?,
            announce: OnceLock::new(),
            active: RwLock::default(),
        });
        hooks.reload().await?;
        Ok(hooks)
    }

    /// Re-reads the active endpoints, and so which events are subscribed.
    pub async fn reload(&self) -> AppResult<()> {
        let active = service::active(&self.db).await?;
        let lists: Vec<Vec<crate::outbox::Event>> = active
            .iter()
            .map(|e| crate::outbox::service::events_of(&e.events))
            .collect();
        self.subs
            .set(crate::outbox::Interest::of(lists.iter().map(Vec::as_slice)));
        if let Ok(mut a) = self.active.write() {
            *a = Arc::new(active);
        }
        Ok(())
    }

    /// The active endpoints as last read (at start, after a change made here or announced
    /// by another node, and every `WEBHOOK_RELOAD_SECS`).
    pub fn active(&self) -> Arc<Vec<entity::webhook_endpoint::Model>> {
        self.active.read().map(|a| a.clone()).unwrap_or_default()
    }

    /// The endpoints changed here: this node's gate follows at once, the others are told.
    pub async fn changed(&self) -> AppResult<()> {
        let result = self.reload().await;
        if let Some(announce) = self.announce.get() {
            announce("all");
        }
        self.subs.written(); // a new or switched-on endpoint may have rows waiting
        result
    }

    /// Starts the delivery worker and the periodic reload, until `stop`.
    pub fn spawn(self: &Arc<Self>, every: Duration, stop: CancellationToken) {
        tokio::spawn(deliver::run(self.clone(), stop.clone()));
        let hooks = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let Some(hooks) = hooks.upgrade() else { return };
                if let Err(e) = hooks.reload().await {
                    tracing::warn!(error = %e, "webhook subscriptions not reloaded");
                }
            }
        });
    }
}

impl crate::cluster::kb::Followable for Webhooks {
    fn on_change(&self, announce: Announce) {
        let _ = self.announce.set(announce);
    }
    fn reload(&self, _change: &str) -> futures::future::BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Err(e) = Webhooks::reload(self).await {
                tracing::warn!(error = %e, "webhook subscriptions not reloaded");
            }
        })
    }
}

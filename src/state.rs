//! Shared application state, given to axum and to socketioxide alike.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::auth::Auth;
use crate::config::Config;
use crate::edge::limits::Limits;
use crate::hub::Hub;
use crate::messages::writer::MessageWriter;
use crate::presence::Presence;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub hub: Hub,
    pub writer: MessageWriter,
    /// Creates new sessions in groups (one INSERT for the `init_session`s that arrive together).
    pub sessions: crate::sessions::creator::SessionCreator,
    pub auth: Arc<Auth>,
    pub limits: Arc<Limits>,
    pub presence: Arc<Presence>,
    /// Who is connected to which seed-004 room on this node (`rooms::Online`).
    pub rooms_online: Arc<crate::rooms::Online>,
    /// The assistant: a model (`AI_PROVIDER`), or automatic answers from the knowledge base
    /// and rules; none with `AI_PROVIDER=off`.
    pub assistant: Option<Arc<crate::assistant::Assistant>>,
    /// Attachments: the configured store and limits.
    pub attachments: Arc<crate::attachments::Attachments>,
    /// This node's copy of the knowledge base and auto-reply rules.
    pub kb: Arc<crate::kb::Knowledge>,
    /// Live counters for `/api/stats` and `/metrics`.
    pub stats: Arc<crate::ops::Stats>,
    /// Redis, when `REDIS_URL` is set (the socket.io adapter has its own connections).
    pub redis: Option<Arc<crate::cluster::Redis>>,
    /// What this node announced of the queue (`desk::queue`).
    pub queue: Arc<crate::desk::queue::QueueBoard>,
    /// Serializes auto-assignment on this node.
    pub assign_lock: Arc<tokio::sync::Mutex<()>>,
    /// The sockets' event lanes at work (see `realtime::lane`): shutdown waits for them, so
    /// that every event already taken is answered.
    pub lanes: tokio_util::task::TaskTracker,
    /// The business hours in force (`hours`), cached for a few seconds.
    pub hours: Arc<crate::hours::Hours>,
    /// The desk-wide availability this node told its visitors last (`desk::availability`).
    pub availability: Arc<crate::desk::availability::Board>,
    /// Set at shutdown: new events are answered `overloaded` (retry elsewhere or later).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Which webhook events have a listener (the stores' gate to the outbox).
    pub outbox: crate::outbox::Subscriptions,
    /// The webhooks: endpoints, their deliveries, the delivery worker's settings.
    pub webhooks: Arc<crate::webhooks::Webhooks>,
}

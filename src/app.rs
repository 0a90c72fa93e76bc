//! `App::build` wires everything: database (migrated), the group-commit writer, socket.io
//! and the axum router, bound to a listener (port 0 in tests). `run_until_stopped` serves
//! until the shutdown token fires, then shuts down gracefully: stop accepting, store what
//! was accepted, close sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use axum::Router;
use socketioxide::SocketIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::Config;
use crate::edge::limits::Limits;
use crate::hub::Hub;
use crate::messages::writer::MessageWriter;
use crate::state::AppState;

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
    close_sockets: Closer,
    writer_task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
}

impl App {
    /// Connects and migrates the database, binds the listener, builds the router.
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let config = Arc::new(config);
        let db = crate::db::connect(&config).await?;
        crate::db::migrate(&db).await?;
        crate::metrics::install();

        let secret = crate::auth::tokens::load_secret(&config)?;
        let ttl = config
            .token_ttl()
            .map_err(|e| anyhow::anyhow!("JWT_EXPIRES_IN: {e}"))?;
        let auth = crate::auth::Auth::new(&secret, ttl);
        let has_admin = crate::auth::cli::bootstrap_admin(
            &db,
            config.admin_email.as_deref(),
            config.admin_password.as_deref(),
        )
        .await?;
        if !has_admin {
            // As Grafana and Gitea do: whoever can read this node's log may create the first
            // admin, once. Public registration never makes admins.
            let setup_token = auth.offer_setup();
            tracing::warn!(
                setup_token = %setup_token,
                "the desk has no admin account. Create the first one with POST /api/auth/setup {{token, email, password, name?}} and this one-time token (valid until an admin exists; a new one is printed at each start until then), or set ADMIN_EMAIL and ADMIN_PASSWORD, or run `chatdesk agent create --role admin`"
            );
        }
        if config.insecure_open_admin {
            tracing::warn!("INSECURE_OPEN_ADMIN is on: anyone can act as staff without a token. Use only for old consoles, never in production.");
        }
        let limits = Limits::new(&config);
        if !config.rate_limits_enabled() {
            tracing::warn!("RATE_LIMITS=off: every rate limit is switched off");
        }

        let hub = Hub::with_agent_window(Duration::from_millis(config.agent_update_ms));
        // Which webhook events have a listener: the stores' gate to the outbox.
        let outbox = crate::outbox::Subscriptions::default();
        let webhooks = crate::webhooks::Webhooks::load(db.clone(), outbox.clone(), &config).await?;
        let (writer, writer_task) = MessageWriter::spawn_recording(
            db.clone(),
            hub.clone(),
            config.write_queue_capacity,
            config.write_batch_max,
            config.write_shards,
            outbox.clone(),
        );
        writer.set_announcer(Arc::new(crate::desk::announce::DeskAnnouncer {
            hub: hub.clone(),
            db: db.clone(),
        }));
        let redis_client = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => Some(redis::Client::open(crate::cluster::resp3_url(url))?),
            None => None,
        };
        let redis =
            redis_client.map(|c| Arc::new(crate::cluster::Redis::new(c, &config.redis_prefix)));
        let presence = Arc::new(crate::presence::Presence::default());
        let attachments = crate::attachments::Attachments::from_config(&config, &db).await?;
        let state = AppState {
            db: db.clone(),
            config: config.clone(),
            hub: hub.clone(),
            writer,
            // Up to 256 sessions per INSERT; 4,096 waiting before `overloaded`.
            sessions: crate::sessions::creator::SessionCreator::spawn(
                db.clone(),
                4096,
                256,
                outbox.clone(),
            ),
            auth,
            limits,
            presence: presence.clone(),
            rooms_online: Default::default(),
            assistant: crate::assistant::Assistant::from_config(&config)?,
            attachments,
            kb: crate::kb::Knowledge::load(db.clone(), &config).await?,
            assign_lock: Default::default(),
            queue: Arc::new(crate::desk::queue::QueueBoard::new(Duration::from_millis(
                config.queue_update_ms,
            ))),
            stats: Default::default(),
            redis: redis.clone(),
            lanes: Default::default(),
            draining: Default::default(),
            hours: Default::default(),
            availability: Default::default(),
            outbox,
            webhooks,
        };
        if let Some(redis) = &redis {
            // Presence and gateway clients across nodes.
            let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel();
            presence.attach(crate::cluster::presence::SharedPresence::spawn(
                redis.clone(),
                presence.clone(),
                gone_tx,
            ));
            let st = state.clone();
            tokio::spawn(async move {
                while let Some(gone) = gone_rx.recv().await {
                    crate::desk::agents_lost(&st, gone.agents);
                    crate::desk::visitors::visitors_lost(&st, &gone.visitors).await;
                }
            });
            hub.set_relay(crate::cluster::relay::RedisRelay::spawn(
                redis.clone(),
                hub.downgrade(),
            ));
            if let Some(ai) = &state.assistant {
                crate::cluster::cancel::attach(redis.clone(), ai);
            }
            crate::cluster::kb::attach(redis.clone(), &state.kb);
            crate::cluster::kb::follow(redis.clone(), "webhooks", &state.webhooks);
        }

        let routes = Router::new()
            .merge(crate::ops::router())
            .merge(crate::sessions::http::router())
            .merge(crate::auth::http::router())
            .merge(crate::desk::http::router())
            .merge(crate::conversation::http::router())
            .merge(crate::attachments::http::router(
                config.max_attachment_bytes,
            ))
            .merge(crate::gateway::router())
            .merge(crate::rooms::router())
            .merge(crate::labels::http::router())
            .merge(crate::canned::http::router())
            .merge(crate::search::http::router())
            .merge(crate::reports::http::router())
            .merge(crate::kb::http::router())
            .merge(crate::csat::http::router())
            .merge(crate::hours::http::router())
            .merge(crate::webhooks::http::router())
            .merge(crate::web::router())
            .with_state(state.clone());
        // socket.io, with the local adapter or (with REDIS_URL) the Redis adapter.
        let shutdown = CancellationToken::new();
        let (routes, closer): (Router, Closer) = match redis.clone() {
            None => {
                let (layer, io) = socket_io(&config, state.clone()).build_layer();
                crate::realtime::register(&io);
                hub.set(Arc::new(io.clone()));
                (routes.layer(layer), closer(io))
            }
            Some(redis) => {
                use crate::cluster::driver::{resync_on_recovery, ReconnectingDriver};
                let adapter_config = socketioxide_redis::RedisAdapterConfig::new()
                    .with_prefix(config.redis_prefix.clone());
                let driver = ReconnectingDriver::connect(redis)
                    .await
                    .map_err(|e| anyhow::anyhow!("Redis at REDIS_URL: {e}"))?;
                let adapter = socketioxide_redis::RedisAdapterCtr::new_with_driver(
                    driver.clone(),
                    adapter_config,
                );
                let (layer, io) = socket_io(&config, state.clone())
                    .with_adapter::<crate::realtime::RedisAdapter>(adapter)
                    .build_layer();
                crate::realtime::register_redis(&io).await?;
                hub.set(Arc::new(io.clone()));
                resync_on_recovery(&driver, io.clone(), shutdown.clone());
                tracing::info!("socket.io rooms are shared through Redis");
                (routes.layer(layer), closer(io))
            }
        };
        let router = routes
            .layer(axum::extract::DefaultBodyLimit::max(
                config.max_payload_bytes,
            ))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::edge::guard::guard,
            ))
            .layer(cors_layer(&config))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                crate::edge::guard::origin_guard,
            ))
            .layer(crate::edge::guard::trace_layer());
        spawn_housekeeping(state.clone());
        crate::dashboard::spawn_feed(state.clone(), shutdown.clone());
        crate::desk::availability::spawn_watcher(state.clone(), shutdown.clone());
        state.webhooks.spawn(
            Duration::from_secs(config.webhook_reload_secs),
            shutdown.clone(),
        );

        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        Ok(App {
            listener,
            router,
            state,
            close_sockets: closer,
            writer_task,
            shutdown,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// A token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until the shutdown token is cancelled, then shuts down gracefully.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let App {
            listener,
            router,
            state,
            close_sockets,
            writer_task,
            shutdown,
        } = self;
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        let stop = shutdown.clone();
        // TCP_NODELAY: small frames (acks, tokens) must not wait for the peer's delayed ACK.
        let listener = listener.tap_io(|tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "could not set TCP_NODELAY");
            }
        });
        let server = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stop.cancelled().await });
        let server = tokio::spawn(async move { server.await });

        shutdown.cancelled().await;
        tracing::info!("shutting down: answering accepted events, closing sockets");
        // Clients are told first; events that arrive from now on are answered `overloaded`
        // (nothing stored: a retry with the same clientMsgId on another node is safe), and
        // every event already taken is run and answered, its messages stored and
        // acknowledged, before the sockets close.
        state
            .draining
            .store(true, std::sync::atomic::Ordering::SeqCst);
        state
            .hub
            .to_everyone(
                "server_shutdown",
                &crate::realtime::types::ServerShutdown {
                    reconnect_after_ms: 1000,
                },
            )
            .await;
        state.lanes.close();
        let _ = tokio::time::timeout(grace, state.lanes.wait()).await;
        let _ = tokio::time::timeout(grace, state.writer.flush()).await;
        // The last answers are queued on their sockets; give the writers a moment to send.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = tokio::time::timeout(grace, close_sockets()).await;
        match tokio::time::timeout(grace, server).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!(error = %e, "server error at shutdown"),
            Ok(Err(e)) => tracing::warn!(error = %e, "server task failed"),
            Err(_) => tracing::warn!("connections still open after the grace period"),
        }
        state.writer.flush().await;
        state.presence.leave().await;
        drop(state);
        writer_task.abort();
        tracing::info!("stopped");
        Ok(())
    }
}

/// Closes every socket (whatever the adapter).
type Closer = Box<dyn FnOnce() -> futures::future::BoxFuture<'static, ()> + Send>;

fn closer<A: socketioxide::adapter::Adapter>(io: SocketIo<A>) -> Closer {
    Box::new(move || Box::pin(async move { io.close().await }))
}

/// The socket.io settings shared by both adapters.
fn socket_io(config: &Config, state: AppState) -> socketioxide::SocketIoBuilder {
    use socketioxide::TransportType;
    let mut b = SocketIo::builder()
        .with_state(state)
        .max_payload(config.max_payload_bytes as u64)
        .ws_max_message_size(config.max_payload_bytes)
        .ws_max_frame_size(config.max_payload_bytes)
        // Every WebSocket keeps a read buffer of this size for its whole life. Chat events
        // are a few hundred bytes and fit in one read; a larger message takes more reads.
        .ws_read_buffer_size(512)
        // A full buffer closes the connection (patches/engineioxide, patch 6).
        .max_buffer_size(config.socket_buffer_packets.max(16));
    if config.transport_names() == ["websocket"] {
        b = b.transports([TransportType::Websocket]);
    }
    b
}

/// Periodic clean-up: idle rate-limiter keys, expired token revocations, uploads cut short.
fn spawn_housekeeping(state: AppState) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.limits.sweep();
            if let Err(e) = crate::auth::service::purge_expired_revocations(&state.db).await {
                tracing::debug!(error = %e, "revocation purge failed");
            }
            crate::attachments::sweep(&state).await;
        }
    });
}

/// CORS: permissive unless `CORS_ORIGINS` lists the allowed origins.
fn cors_layer(config: &Config) -> CorsLayer {
    // The paging headers must be readable by a browser console on another origin.
    let base = CorsLayer::new()
        .allow_methods(tower_http::cors::Any)
        .allow_headers(tower_http::cors::Any)
        .expose_headers([
            http::HeaderName::from_static("x-next-after"),
            http::HeaderName::from_static("x-next-before"),
            http::header::RETRY_AFTER,
        ]);
    match config.allowed_origins() {
        None => base.allow_origin(AllowOrigin::mirror_request()),
        Some(list) => {
            let values: Vec<http::HeaderValue> =
                list.iter().filter_map(|o| o.parse().ok()).collect();
            base.allow_origin(AllowOrigin::list(values))
        }
    }
}

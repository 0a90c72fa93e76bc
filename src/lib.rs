//! chatdesk: a support-desk chat server, socket.io-compatible with the reference Node app.
//!
//! Dependencies go one way: protocol adapters (`realtime` for socket.io, `gateway` for `/ws`,
//! the REST handlers in each capability's `http.rs`) call the core (`desk`, `assistant`,
//! `dashboard`, `sessions`), which calls the stores (`sessions::service`, `messages`), which
//! broadcast through the `hub`. A lower layer that must tell a higher one does so through a
//! hook it owns (`messages::writer::Announcer`, `cluster::cancel::Cancellable`,
//! `cluster::presence::LocalPresence`, `hub::HubRelay`). See docs/architecture.md.
//!
//! How a message flows: a socket event is queued on its connection's lane in arrival order
//! (`realtime::lane`), decoded and checked (`realtime::visitor`), handed to the group-commit
//! writer (`messages::writer`) in that order, stored with its `seq` in one transaction per
//! batch (`messages::service`), then broadcast through the hub (`hub`) to the session's room,
//! announced to agents (`desk::announce`), and acknowledged to its sender.
//!
//! - `config`: every setting (clap + env). `app`: builds and runs the server.
//! - `db`: connection, migrations, the database breaker; `files`: owner-only files.
//! - `error`: the one error type, with stable wire codes.
//! - `edge`: origin guard, rate limits, client info. `hub`: broadcasting.
//! - `auth`: accounts, passwords, tokens, the staff/customer extractors.
//! - `sessions`: sessions, their types and the `/api/chats` endpoints.
//! - `messages`: validation, storage, history.
//! - `desk`: workflow (queue, claim, assign, resolve), auto-assignment, announcements.
//! - `presence`: who is online; `cluster`: Redis for several nodes.
//! - `assistant`: AI replies streamed token by token, with hand-over to humans.
//! - `dashboard`: the reference dashboard's lists and pushes.
//! - `realtime`: socket.io namespaces and handlers; `gateway`: plain WebSocket `/ws`.
//! - `rooms`: seed 004's rooms API under `/api/v1` (REST and its WebSocket).
//! - `web`: the agent console and the visitor widget; `ops`: `/ready`, `/metrics`, OpenAPI.

pub mod app;
pub mod assistant;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod dashboard;
pub mod db;
pub mod desk;
pub mod edge;
pub mod error;
pub mod files;
pub mod gateway;
pub mod hub;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod presence;
pub mod realtime;
pub mod rooms;
pub mod sessions;
pub mod state;
pub mod web;

pub use app::App;
pub use config::Config;

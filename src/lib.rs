//! chatdesk: a support-desk chat server, socket.io-compatible with the reference Node app.
//!
//! How a message flows: a socket event is queued on its connection's lane in arrival order
//! (`realtime::lane`), decoded and validated (`sessions::events`), handed to the group-commit
//! writer (`messages::writer`) in that order, stored with its `seq`
//! in one transaction per batch (`messages::service`), then broadcast through the hub
//! (`realtime::hub`) to the session's room, and acknowledged to its sender.
//!
//! - `config`: every setting (clap + env).
//! - `app`: builds and runs the server.
//! - `db`: connection and migrations (SQLite or PostgreSQL); `files`: owner-only files.
//! - `error`: the one error type, with stable wire codes.
//! - `auth`: accounts, passwords, tokens, the staff/customer extractors.
//! - `guard`, `limits`: origin allow-list, rate limits.
//! - `desk`: workflow (queue, claim, assign, resolve), presence, auto-assignment.
//! - `assistant`: AI replies streamed token by token, with hand-over to humans.
//! - `gateway`: plain WebSocket `/ws` for the seed chatbot clients, on the same pipeline.
//! - `web`: the agent console and the visitor widget (static files embedded in the binary).
//! - `ops`: `/ready`, `/metrics`, stats, OpenAPI; `cluster`: Redis for several nodes.
//! - `calls`: WebRTC signalling relay.
//! - `sessions`: sessions, the seed events and the `/api/chats` endpoints.
//! - `messages`: validation, storage, history.
//! - `realtime`: socket.io namespaces, replies, broadcasting.

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
pub mod sessions;
pub mod state;
pub mod web;

pub use app::App;
pub use config::Config;

//! chatdesk: a support-desk chat server, socket.io-compatible with the reference Node app.
//!
//! Dependencies go one way: protocol adapters (`realtime` for socket.io, `gateway` for `/ws`,
//! the REST handlers in each capability's `http.rs`) call the conversation core
//! (`conversation`: open, send, history, typing, read, escalate, clear), which calls the desk
//! (`desk`, `assistant`, `dashboard`, `sessions`), which calls the stores (`sessions::service`, `messages`), which
//! broadcast through the `hub`. A lower layer that must tell a higher one does so through a
//! hook it owns (`messages::writer::Announcer`, `cluster::cancel::Cancellable`,
//! `cluster::presence::LocalPresence`, `hub::HubRelay`). See docs/architecture.md.
//!
//! How a message flows: a socket event is queued on its connection's lane in arrival order
//! (`realtime::lane`), decoded and checked (`realtime::visitor`), handed through the
//! conversation core (`conversation::submit`) to the group-commit writer
//! (`messages::writer`) in that order, stored with its `seq` in one transaction per
//! batch (`messages::service`), then broadcast through the hub (`hub`) to the session's room,
//! announced to agents (`desk::announce`), and acknowledged to its sender.
//!
//! - `config`: every setting (clap + env). `app`: builds and runs the server.
//! - `db`: connection, migrations, the database breaker; `files`: owner-only files.
//! - `error`: the one error type, with stable wire codes.
//! - `edge`: origin guard, rate limits, client info. `hub`: broadcasting.
//! - `auth`: accounts, passwords, tokens, the staff/customer extractors.
//! - `conversation`: the one API every protocol calls (open or resume, send, history, typing,
//!   read, escalate, clear) and the REST of one conversation.
//! - `sessions`: sessions, their types and the `/api/chats` lists.
//! - `messages`: validation, storage, history.
//! - `attachments`: files sent in a conversation (upload, stores, downloads, thumbnails).
//! - `desk`: workflow (queue, claim, assign, resolve), auto-assignment, announcements, a
//!   session's labels.
//! - `csat`: satisfaction ratings (stored once per resolution, the staff listing); `hours`:
//!   business hours (a weekly schedule in an IANA zone). The desk asks for ratings and says
//!   whether anyone can answer (`desk::csat`, `desk::availability`).
//! - `labels`: the labels admins define; `canned`: canned responses; `search`: full-text
//!   search over messages and visitors (agent tools).
//! - `presence`: who is online; `cluster`: Redis for several nodes.
//! - `assistant`: AI replies streamed token by token (an OpenAI-compatible endpoint or seed
//!   001's AI service), grounded in the knowledge base, or automatic answers without a model;
//!   with hand-over to humans.
//! - `kb`: the knowledge base (articles, their search index, safe pages) and auto-reply rules.
//! - `dashboard`: the reference dashboard's lists and pushes.
//! - `reports`: the leads' figures (`/api/reports`: conversations, response and resolution
//!   times, messages, satisfaction; per bucket, agent and label), computed by the database.
//! - `realtime`: socket.io namespaces and handlers; `gateway`: plain WebSocket `/ws`, and
//!   seed 002's `/ws/chat` (`gateway::seed002`).
//! - `rooms`: seed 004's rooms API under `/api/v1` (REST and its WebSocket).
//! - `outbox`: the webhook outbox the stores write in their transactions (below them all);
//!   `webhooks`: the endpoints admins register, the delivery log and the delivery worker.
//! - `web`: the agent console and the visitor widget; `ops`: `/ready`, `/metrics`, OpenAPI.

pub mod app;
pub mod assistant;
pub mod attachments;
pub mod auth;
pub mod canned;
pub mod cluster;
pub mod config;
pub mod conversation;
pub mod csat;
pub mod dashboard;
pub mod db;
pub mod desk;
pub mod edge;
pub mod error;
pub mod files;
pub mod gateway;
pub mod hours;
pub mod hub;
pub mod kb;
pub mod labels;
pub mod messages;
pub mod metrics;
pub mod ops;
pub mod outbox;
pub mod presence;
pub mod realtime;
pub mod reports;
pub mod rooms;
pub mod search;
pub mod sessions;
pub mod state;
pub mod web;
pub mod webhooks;

pub use app::App;
pub use config::Config;

//! Satisfaction ratings, offline contacts and business hours against a real server, on
//! SQLite and PostgreSQL (`both!`), with real socket.io clients and real plain-WebSocket
//! (`/ws`) clients, one module per behaviour.
//!
//! Timing: nothing here asserts a duration. Absence is proven with a bounded wait (`QUIET`).

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../workflow/helpers.rs"]
mod helpers;

mod business_hours;
mod cluster;
mod offline;
mod plain_ws;
mod rating;

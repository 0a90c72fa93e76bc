//! The support-desk workflow (docs/desk.md) against a real server, on SQLite and PostgreSQL,
//! with real socket.io clients, one module per behaviour and one behaviour per test. Every
//! scenario runs twice through `both!` (`<module>::<scenario>::sqlite` and `::postgres`).
//!
//! Timing: nothing here asserts a duration. Absence is proven with a bounded wait (`QUIET`),
//! and the configured timeouts (typing, agent offline grace) are set to 1-2 s where a test
//! waits for them.

// The harness shared with the other test crates: `tests/common/mod.rs`, whose `mod sio;`
// resolves beside it (a `mod.rs` file owns its directory), not under `tests/workflow/`.
#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod agents_feed;
mod auto_assign;
mod calls;
mod chat;
mod claim;
mod delivery;
mod errors;
mod history_clearing;
mod join_history;
mod listing;
mod message_types;
mod offline_grace;
mod presence;
mod queue;
mod read_receipts;
mod resolve_reopen;
mod rest;
mod transfer_release;
mod typing;

//! The socket.io client of chatdesk's integration tests (`tests/`) and load bench
//! (`benches/load/`): engine.io v4 / socket.io v5 over WebSocket or HTTP long-polling, the real
//! wire protocol, with no socket.io library in between. A dev-only workspace crate: it knows
//! the protocol and nothing of chatdesk (the server-spawning helpers stay in `tests/common`).
//!
//! - [`packet`]: the text framing, one place for both directions. Parsing borrows from the
//!   frame, so the bench reads its tens of thousands of packets a second without copies.
//! - [`handshake`]: engine.io open, then socket.io connect to a namespace, over any [`Wire`].
//! - [`RawSocket`]: one WebSocket tuned for many connections (4 KiB read chunk, TCP_NODELAY),
//!   no task and no queue: the caller reads the frames (the bench drives thousands of them
//!   from one thread).
//! - [`SioClient`]: the tests' client on top: a task per connection answers pings, queues
//!   events by name and resolves acks; WebSocket or polling.

pub mod packet;

mod client;
mod handshake;
mod raw;

pub use client::{ConnectOpts, SioClient, WAIT};
pub use handshake::{handshake, ConnectError, Wire};
pub use packet::{Packet, SioKind, SioPacket, Transport};
pub use raw::{RawSocket, WireError};

//! The edge: what every request and connection passes before a protocol sees it. The
//! origin allow-list and request tracing (`guard`), rate limits (`limits`) and who the
//! client is (`client`).

pub mod client;
pub mod guard;
pub mod limits;

//! The scenarios: `idle` (connections held, memory per connection), `chat` (closed loop),
//! `sweep` (open loop, increasing rates), and, only when named, `uploads` (attachments: many
//! large uploads at once, throughput and server memory). Each prints its table and returns
//! its JSON summary line.

mod chat;
mod idle;
mod sweep;
mod uploads;

pub use chat::chat;
pub use idle::idle;
pub use sweep::sweep;
pub use uploads::uploads;

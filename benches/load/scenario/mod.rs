//! The three scenarios: `idle` (connections held, memory per connection), `chat` (closed
//! loop) and `sweep` (open loop, increasing rates). Each prints its table and returns its JSON
//! summary line.

mod chat;
mod idle;
mod sweep;

pub use chat::chat;
pub use idle::idle;
pub use sweep::sweep;

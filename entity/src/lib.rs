//! SeaORM entities for chatdesk: the shape of the tables, no logic.
//!
//! Wire types (what clients see) live in the server crate's `types.rs` files;
//! these models are only what the database stores.

pub mod account;
pub mod auto_reply;
pub mod chat_session;
pub mod kb_article;
pub mod message;
pub mod revoked_token;
pub mod room;
pub mod session_member;

pub mod prelude {
    pub use super::account::Entity as Account;
    pub use super::chat_session::Entity as ChatSession;
    pub use super::message::Entity as Message;
}

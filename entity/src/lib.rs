//! SeaORM entities for chatdesk: the shape of the tables, no logic.
//!
//! Wire types (what clients see) live in the server crate's `types.rs` files;
//! these models are only what the database stores.

pub mod account;
pub mod attachment;
pub mod attachment_blob;
pub mod auto_reply;
pub mod business_hours;
pub mod canned_response;
pub mod chat_session;
pub mod kb_article;
pub mod label;
pub mod message;
pub mod revoked_token;
pub mod room;
pub mod session_label;
pub mod session_member;
pub mod session_rating;
pub mod webhook_delivery;
pub mod webhook_endpoint;

pub mod prelude {
    pub use super::account::Entity as Account;
    pub use super::chat_session::Entity as ChatSession;
    pub use super::message::Entity as Message;
}

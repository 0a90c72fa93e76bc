//! Chat sessions: a visitor's conversation with the desk. `init_session` opens or resumes
//! one; `user_message` / `admin_message` add to it; REST reads them back.

pub mod events;
pub mod http;
pub mod service;
pub mod types;

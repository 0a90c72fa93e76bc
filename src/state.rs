//! Shared application state, given to axum and to socketioxide alike.

use std::sync::Arc;

use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::messages::writer::MessageWriter;
use crate::realtime::hub::Hub;

#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub config: Arc<Config>,
    pub hub: Hub,
    pub writer: MessageWriter,
}

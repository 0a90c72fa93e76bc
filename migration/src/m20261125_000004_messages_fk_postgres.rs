//! PostgreSQL: drops the foreign key from `messages` to `chat_sessions`.
//!
//! Its check ran once per stored message, inside the group commit: a `SELECT ... FOR KEY
//! SHARE` on the session row, 12 µs per message of a 175-message batch (`EXPLAIN ANALYZE`:
//! 2.1 of 5.7 ms), the largest single cost of the commit. It guarded nothing the commit does
//! not already guarantee: the batch statement (`STORE_BATCH_PG` in `src/messages/service.rs`)
//! locks each session row before it inserts that session's messages and inserts only for the
//! rows it locked, and chatdesk never deletes a session (clearing a chat deletes its
//! messages, not the session). SQLite keeps the key; its check is cheap there.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const FK: &str = "fk_messages_chat_session";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE messages DROP CONSTRAINT IF EXISTS {FK}"
            ))
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE messages ADD CONSTRAINT {FK} FOREIGN KEY (chat_session_id) \
                 REFERENCES chat_sessions (id) ON DELETE CASCADE"
            ))
            .await?;
        Ok(())
    }
}

//! Reports read sessions by the instant they were resolved (`src/reports/service.rs`: one
//! range scan per bucket). Sessions by start already have `idx_chat_sessions_created_at`,
//! ratings `ix_session_ratings_created`, messages by time `ix_messages_created`
//! (`created_at, id`, migration 000017, which search also walks).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    ResolvedAt,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_chat_sessions_resolved_at")
                    .table(ChatSessions::Table)
                    .col(ChatSessions::ResolvedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_chat_sessions_resolved_at")
                    .table(ChatSessions::Table)
                    .to_owned(),
            )
            .await
    }
}

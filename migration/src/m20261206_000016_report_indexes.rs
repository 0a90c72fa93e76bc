//! Reports read sessions by the instant they were resolved, and messages by the instant they
//! were sent (`src/reports/service.rs`: one range scan per bucket). Sessions by start already
//! have `idx_chat_sessions_created_at`, ratings `ix_session_ratings_created`.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    CreatedAt,
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
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_created_at")
                    .table(Messages::Table)
                    .col(Messages::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, table) in [
            ("ix_messages_created_at", Messages::Table.into_iden()),
            (
                "ix_chat_sessions_resolved_at",
                ChatSessions::Table.into_iden(),
            ),
        ] {
            manager
                .drop_index(Index::drop().name(name).table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

//! Messages in time order: `(created_at, id)`, the order search answers in (newest first).
//! With it the planner can walk the newest messages and stop at the first page when a word
//! is frequent, instead of fetching and sorting every message that holds it (on PostgreSQL a
//! word in a quarter of 1,000,000 messages took 140 ms; with this index under 1 ms).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum Messages {
    Table,
    CreatedAt,
    Id,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("ix_messages_created")
                    .table(Messages::Table)
                    .col(Messages::CreatedAt)
                    .col(Messages::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("ix_messages_created")
                    .table(Messages::Table)
                    .to_owned(),
            )
            .await
    }
}

//! Satisfaction ratings and offline contacts.
//!
//! `session_ratings`: a visitor's 1-5 rating (and optional comment) of one resolution of a
//! session. A session resolved, reopened and resolved again is rated once per resolution: the
//! resolution is named by the session's `resolved_at` at the time it was asked, unique with the
//! session. `agent_id` is the assignee who resolved it (reports per agent).
//!
//! `chat_sessions.contact_email` / `contact_left_at`: the address a visitor left when nobody
//! was online (offline form), kept on the waiting session for staff to see.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum SessionRatings {
    Table,
    Id,
    SessionPk,
    ResolvedAt,
    AgentId,
    Rating,
    Comment,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    Id,
    ContactEmail,
    ContactLeftAt,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SessionRatings::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SessionRatings::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SessionRatings::SessionPk)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionRatings::ResolvedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionRatings::AgentId)
                            .string_len(36)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(SessionRatings::Rating)
                            .small_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(SessionRatings::Comment).text().null())
                    .col(
                        ColumnDef::new(SessionRatings::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionRatings::Table, SessionRatings::SessionPk)
                            .to(ChatSessions::Table, ChatSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Once per resolution: a second answer for the same resolution is refused by the
        // database, whichever node takes it.
        manager
            .create_index(
                Index::create()
                    .name("ux_session_ratings_resolution")
                    .table(SessionRatings::Table)
                    .col(SessionRatings::SessionPk)
                    .col(SessionRatings::ResolvedAt)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Reports read ratings by time range.
        manager
            .create_index(
                Index::create()
                    .name("ix_session_ratings_created")
                    .table(SessionRatings::Table)
                    .col(SessionRatings::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChatSessions::Table)
                    .add_column(
                        ColumnDef::new(ChatSessions::ContactEmail)
                            .string_len(254)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(ChatSessions::Table)
                    .add_column(
                        ColumnDef::new(ChatSessions::ContactLeftAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SessionRatings::Table).to_owned())
            .await?;
        for col in [ChatSessions::ContactEmail, ChatSessions::ContactLeftAt] {
            manager
                .alter_table(
                    Table::alter()
                        .table(ChatSessions::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

//! Seed 004's rooms: a room is a chat session with members. `rooms` gives a session its
//! stable integer `room_id` (autoincrement, never reused) and the room's name; a row is made
//! when a seed-004 client creates a room, or when a session is first shown as one.
//! `session_members` says who takes part in a session besides its owner's own devices.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rooms {
    Table,
    RoomId,
    SessionPk,
    Name,
    IsDirectChat,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SessionMembers {
    Table,
    SessionPk,
    AccountId,
    MemberRole,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    Id,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Rooms::Table)
                    .if_not_exists()
                    // SQLite: INTEGER PRIMARY KEY AUTOINCREMENT (never reuses an id);
                    // PostgreSQL: bigserial.
                    .col(
                        ColumnDef::new(Rooms::RoomId)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Rooms::SessionPk)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Rooms::Name).string_len(255).not_null())
                    .col(
                        ColumnDef::new(Rooms::IsDirectChat)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Rooms::CreatedBy).string_len(36).null())
                    .col(ts(Rooms::CreatedAt))
                    .col(ts(Rooms::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_rooms_chat_session")
                            .from(Rooms::Table, Rooms::SessionPk)
                            .to(ChatSessions::Table, ChatSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionMembers::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SessionMembers::SessionPk)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionMembers::AccountId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionMembers::MemberRole)
                            .string_len(16)
                            .not_null()
                            .default("Member"),
                    )
                    .col(ts(SessionMembers::CreatedAt))
                    .col(ts(SessionMembers::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(SessionMembers::SessionPk)
                            .col(SessionMembers::AccountId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_session_members_chat_session")
                            .from(SessionMembers::Table, SessionMembers::SessionPk)
                            .to(ChatSessions::Table, ChatSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // "My rooms": the sessions an account is a member of.
        manager
            .create_index(
                Index::create()
                    .name("idx_session_members_account")
                    .table(SessionMembers::Table)
                    .col(SessionMembers::AccountId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SessionMembers::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Rooms::Table).to_owned())
            .await
    }
}

//! Chat sessions and their messages: the seed app's two tables, plus what the desk needs
//! (status, assignee, gap-free `seq`, read watermarks, idempotency keys).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    Id,
    SessionId,
    Code,
    Ip,
    UserAgent,
    Status,
    AssigneeId,
    CustomerId,
    VisitorIdentity,
    LastSeq,
    UserReadSeq,
    AdminReadSeq,
    CreatedAt,
    UpdatedAt,
    LastMessageAt,
    WaitingSince,
    AssignedAt,
    FirstResponseAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Id,
    ChatSessionId,
    Seq,
    Sender,
    Content,
    IsAi,
    ClientMsgId,
    AuthorId,
    CreatedAt,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).timestamp_with_time_zone().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChatSessions::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ChatSessions::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::SessionId)
                            .string_len(36)
                            .not_null()
                            .unique_key(),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::Code)
                            .string_len(12)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(ChatSessions::Ip).string_len(64).null())
                    .col(ColumnDef::new(ChatSessions::UserAgent).text().null())
                    .col(
                        ColumnDef::new(ChatSessions::Status)
                            .string_len(16)
                            .not_null()
                            .default("open"),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::AssigneeId)
                            .string_len(36)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::CustomerId)
                            .string_len(36)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::VisitorIdentity)
                            .string_len(255)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::LastSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::UserReadSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(
                        ColumnDef::new(ChatSessions::AdminReadSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ts(ChatSessions::CreatedAt).not_null())
                    .col(ts(ChatSessions::UpdatedAt).not_null())
                    .col(ts(ChatSessions::LastMessageAt).null())
                    .col(ts(ChatSessions::WaitingSince).null())
                    .col(ts(ChatSessions::AssignedAt).null())
                    .col(ts(ChatSessions::FirstResponseAt).null())
                    .col(ts(ChatSessions::ResolvedAt).null())
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "idx_chat_sessions_created_at",
                vec![ChatSessions::CreatedAt, ChatSessions::Id],
            ),
            (
                "idx_chat_sessions_status",
                vec![ChatSessions::Status, ChatSessions::WaitingSince],
            ),
            ("idx_chat_sessions_assignee", vec![ChatSessions::AssigneeId]),
            (
                "idx_chat_sessions_customer",
                vec![ChatSessions::CustomerId, ChatSessions::CreatedAt],
            ),
            (
                "idx_chat_sessions_identity",
                vec![ChatSessions::VisitorIdentity],
            ),
        ] {
            let mut idx = Index::create();
            idx.name(name).table(ChatSessions::Table).if_not_exists();
            for c in cols {
                idx.col(c);
            }
            manager.create_index(idx.to_owned()).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(Messages::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Messages::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Messages::ChatSessionId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Messages::Seq).big_integer().not_null())
                    .col(ColumnDef::new(Messages::Sender).string_len(16).not_null())
                    .col(ColumnDef::new(Messages::Content).text().not_null())
                    .col(
                        ColumnDef::new(Messages::IsAi)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(Messages::ClientMsgId).string_len(128).null())
                    .col(ColumnDef::new(Messages::AuthorId).string_len(36).null())
                    .col(ts(Messages::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_messages_chat_session")
                            .from(Messages::Table, Messages::ChatSessionId)
                            .to(ChatSessions::Table, ChatSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // One seq per session (gap-free order) and one clientMsgId per session (exactly-once).
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_session_seq")
                    .table(Messages::Table)
                    .col(Messages::ChatSessionId)
                    .col(Messages::Seq)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("uq_messages_session_client_msg")
                    .table(Messages::Table)
                    .col(Messages::ChatSessionId)
                    .col(Messages::ClientMsgId)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Messages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ChatSessions::Table).to_owned())
            .await
    }
}

//! Attachments (issue 19): `attachments` holds each file's metadata and where its bytes are;
//! `attachment_blobs` holds the bytes of the database store, in chunks; `messages.attachment`
//! is the attachment object a message carries (a JSON copy, read back with the message).
//!
//! No foreign key from `attachments` to `chat_sessions`: a cascade would delete the rows
//! of a directory or bucket store's files and leave the files behind. Erasing goes through
//! the server, which deletes the files first (`attachments::erase_session`).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Attachments {
    Table,
    Id,
    ChatSessionId,
    Name,
    ContentType,
    Size,
    Width,
    Height,
    Store,
    StoreKey,
    ThumbKey,
    ThumbContentType,
    Status,
    Uploader,
    UploaderId,
    VisitorHidden,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AttachmentBlobs {
    Table,
    StoreKey,
    Idx,
    Data,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Attachment,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Attachments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Attachments::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Attachments::ChatSessionId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Attachments::Name).text().not_null())
                    .col(
                        ColumnDef::new(Attachments::ContentType)
                            .string_len(128)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Attachments::Size).big_integer().not_null())
                    .col(ColumnDef::new(Attachments::Width).integer().null())
                    .col(ColumnDef::new(Attachments::Height).integer().null())
                    .col(ColumnDef::new(Attachments::Store).string_len(16).not_null())
                    .col(
                        ColumnDef::new(Attachments::StoreKey)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Attachments::ThumbKey).string_len(255).null())
                    .col(
                        ColumnDef::new(Attachments::ThumbContentType)
                            .string_len(128)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Attachments::Status)
                            .string_len(16)
                            .not_null()
                            .default("pending"),
                    )
                    .col(
                        ColumnDef::new(Attachments::Uploader)
                            .string_len(16)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Attachments::UploaderId)
                            .string_len(36)
                            .null(),
                    )
                    .col(
                        ColumnDef::new(Attachments::VisitorHidden)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(Attachments::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_attachments_session")
                    .table(Attachments::Table)
                    .col(Attachments::ChatSessionId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AttachmentBlobs::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AttachmentBlobs::StoreKey)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AttachmentBlobs::Idx).integer().not_null())
                    // SQLite: BLOB; PostgreSQL: bytea.
                    .col(ColumnDef::new(AttachmentBlobs::Data).blob().not_null())
                    .primary_key(
                        Index::create()
                            .col(AttachmentBlobs::StoreKey)
                            .col(AttachmentBlobs::Idx),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(ColumnDef::new(Messages::Attachment).text().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Attachment)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AttachmentBlobs::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Attachments::Table).to_owned())
            .await
    }
}

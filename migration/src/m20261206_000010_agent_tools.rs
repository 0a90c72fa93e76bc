//! Agent tools: canned responses (saved replies with a short code, shared by the desk or
//! personal to one agent), labels (admin-defined, with a colour) put on sessions, and
//! private notes (`messages.private`: staff-only messages inside a conversation), and the
//! staff author's display name on their messages (`messages.author_name`, as it was when
//! they wrote: what the visitor was shown).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum CannedResponses {
    Table,
    Id,
    /// `shared` for the desk's, otherwise the owning agent's account id: with `ShortCode`
    /// unique, so one code means one reply wherever it is looked up.
    Scope,
    ShortCode,
    Content,
    OwnerId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Labels {
    Table,
    Id,
    Name,
    /// `lower(name)`: names are unique whatever their case.
    NameNorm,
    Color,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SessionLabels {
    Table,
    SessionPk,
    LabelId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Private,
    AuthorName,
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

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(
                        ColumnDef::new(Messages::Private)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(ColumnDef::new(Messages::AuthorName).string_len(255).null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(CannedResponses::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(CannedResponses::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(CannedResponses::Scope)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(CannedResponses::ShortCode)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(CannedResponses::Content).text().not_null())
                    .col(
                        ColumnDef::new(CannedResponses::OwnerId)
                            .string_len(36)
                            .null(),
                    )
                    .col(ts(CannedResponses::CreatedAt))
                    .col(ts(CannedResponses::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_canned_scope_code")
                    .table(CannedResponses::Table)
                    .col(CannedResponses::Scope)
                    .col(CannedResponses::ShortCode)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Labels::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Labels::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Labels::Name).string_len(50).not_null())
                    .col(
                        ColumnDef::new(Labels::NameNorm)
                            .string_len(50)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Labels::Color).string_len(7).not_null())
                    .col(ts(Labels::CreatedAt))
                    .col(ts(Labels::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionLabels::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(SessionLabels::SessionPk)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SessionLabels::LabelId)
                            .string_len(36)
                            .not_null(),
                    )
                    .col(ts(SessionLabels::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(SessionLabels::SessionPk)
                            .col(SessionLabels::LabelId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionLabels::Table, SessionLabels::SessionPk)
                            .to(ChatSessions::Table, ChatSessions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionLabels::Table, SessionLabels::LabelId)
                            .to(Labels::Table, Labels::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // Filtering the session list by label reads from the label's side.
        manager
            .create_index(
                Index::create()
                    .name("ix_session_labels_label")
                    .table(SessionLabels::Table)
                    .col(SessionLabels::LabelId)
                    .col(SessionLabels::SessionPk)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            SessionLabels::Table.into_iden(),
            Labels::Table.into_iden(),
            CannedResponses::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(t).if_exists().to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Private)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::AuthorName)
                    .to_owned(),
            )
            .await
    }
}

//! The knowledge base and the desk's automatic answers: `kb_articles` (help articles in
//! Markdown, a unique `slug`, published or draft), `auto_replies` (admin-defined pattern ->
//! reply rules, answered without a model), and `messages.source`, which says what produced an
//! automatic message (`llm`, `kb` or `rule`; null for people). One file because the three
//! ship together as one feature (numbers 9 and 10 are other branches'); each is still its own
//! statement (SQLite's ALTER TABLE adds one column at a time).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KbArticles {
    Table,
    Id,
    Slug,
    Title,
    Body,
    Tags,
    Published,
    AuthorId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum AutoReplies {
    Table,
    Id,
    Pattern,
    Reply,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Messages {
    Table,
    Source,
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
                    .table(KbArticles::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(KbArticles::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(KbArticles::Slug)
                            .string_len(128)
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(KbArticles::Title).string_len(200).not_null())
                    .col(ColumnDef::new(KbArticles::Body).text().not_null())
                    // A JSON array of strings (portable across both databases).
                    .col(
                        ColumnDef::new(KbArticles::Tags)
                            .text()
                            .not_null()
                            .default("[]"),
                    )
                    .col(
                        ColumnDef::new(KbArticles::Published)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(ColumnDef::new(KbArticles::AuthorId).string_len(36).null())
                    .col(ts(KbArticles::CreatedAt))
                    .col(ts(KbArticles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AutoReplies::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(AutoReplies::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AutoReplies::Pattern)
                            .string_len(500)
                            .not_null(),
                    )
                    .col(ColumnDef::new(AutoReplies::Reply).text().not_null())
                    .col(
                        ColumnDef::new(AutoReplies::Active)
                            .boolean()
                            .not_null()
                            .default(true),
                    )
                    .col(ts(AutoReplies::CreatedAt))
                    .col(ts(AutoReplies::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .add_column(ColumnDef::new(Messages::Source).string_len(8).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Messages::Table)
                    .drop_column(Messages::Source)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(AutoReplies::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(KbArticles::Table).to_owned())
            .await
    }
}

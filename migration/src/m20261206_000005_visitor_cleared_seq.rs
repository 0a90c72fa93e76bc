//! A visitor's "cleared up to" watermark per session: a visitor's `clear_history` hides the
//! messages up to this `seq` from the visitor's own views; staff keep seeing all of them.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    VisitorClearedSeq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChatSessions::Table)
                    .add_column(
                        ColumnDef::new(ChatSessions::VisitorClearedSeq)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ChatSessions::Table)
                    .drop_column(ChatSessions::VisitorClearedSeq)
                    .to_owned(),
            )
            .await
    }
}

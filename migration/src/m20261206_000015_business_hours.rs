//! Business hours: the desk's weekly opening schedule and its IANA time zone, one row
//! (`id = 'desk'`), set by admins. Off (no row, or `enabled = false`) by default: the desk
//! is then open whenever an agent is online.
//!
//! `schedule` is the JSON of the days (`{"mon": [["09:00", "17:00"]], ...}`), checked by the
//! server before it is stored.

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum BusinessHours {
    Table,
    Id,
    Enabled,
    Timezone,
    Schedule,
    UpdatedAt,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BusinessHours::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(BusinessHours::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(BusinessHours::Enabled)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .col(
                        ColumnDef::new(BusinessHours::Timezone)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(ColumnDef::new(BusinessHours::Schedule).text().not_null())
                    .col(
                        ColumnDef::new(BusinessHours::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BusinessHours::Table).to_owned())
            .await
    }
}

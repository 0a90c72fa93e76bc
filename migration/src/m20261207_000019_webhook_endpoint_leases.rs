//! Webhook endpoints get a lease and a batch size.
//!
//! - `lease`, `locked_until`: the delivery worker claims a whole endpoint (one row) for a run,
//!   instead of each of its deliveries: per message, the outbox row then gets one new version
//!   (its outcome) instead of three (claim, outcome, release), and a run is one UPDATE of the
//!   endpoint plus one of its deliveries, whatever their number. The deliveries' own
//!   `lease`/`locked_until` stay (unused) so that an older node is not broken by the schema.
//! - `batch_size`: how many events one POST may carry (1, the default: one event per POST,
//!   the body unchanged; more: `{"events": [...]}` of up to that many, in order).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Lease,
    LockedUntil,
    BatchSize,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for col in [
            ColumnDef::new(WebhookEndpoints::Lease)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoints::LockedUntil)
                .timestamp_with_time_zone()
                .null()
                .to_owned(),
            ColumnDef::new(WebhookEndpoints::BatchSize)
                .integer()
                .not_null()
                .default(1)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .add_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            WebhookEndpoints::BatchSize,
            WebhookEndpoints::LockedUntil,
            WebhookEndpoints::Lease,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WebhookEndpoints::Table)
                        .drop_column(col)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

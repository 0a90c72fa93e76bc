//! `webhook_deliveries.message_pk`: a `message.created` delivery keeps the message's id, not a
//! copy of its body. The body is rendered from the stored message when it is sent, so the
//! outbox row written in the group commit, and the versions of it the claim and the success
//! write, are a few dozen bytes instead of the whole message (the chat's PostgreSQL writes
//! them thousands of times a second while an endpoint listens to every message).

use sea_orm_migration::prelude::*;

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    MessagePk,
}

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .add_column(ColumnDef::new(WebhookDeliveries::MessagePk).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WebhookDeliveries::Table)
                    .drop_column(WebhookDeliveries::MessagePk)
                    .to_owned(),
            )
            .await
    }
}

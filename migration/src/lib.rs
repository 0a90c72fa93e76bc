//! Database migrations, append-only, one change per file. They run at start-up and through
//! `chatdesk migrate`, and must work on SQLite and PostgreSQL alike.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_chat_tables;
mod m20261125_000002_create_accounts;
mod m20261125_000003_message_interrupted;
mod m20261125_000004_messages_fk_postgres;
mod m20261206_000005_visitor_cleared_seq;
mod m20261206_000006_session_ai_mode;
mod m20261206_000007_message_type;
mod m20261206_000008_rooms;
mod m20261206_000009_attachments;
mod m20261206_000010_agent_tools;
mod m20261206_000011_knowledge_base;
mod m20261206_000012_message_search;
mod m20261206_000013_csat_offline;
mod m20261206_000014_webhooks;
mod m20261206_000015_business_hours;
mod m20261206_000016_report_indexes;
mod m20261206_000017_messages_by_time;
mod m20261206_000018_webhook_message_refs;
mod m20261207_000019_webhook_endpoint_leases;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_chat_tables::Migration),
            Box::new(m20261125_000002_create_accounts::Migration),
            Box::new(m20261125_000003_message_interrupted::Migration),
            Box::new(m20261125_000004_messages_fk_postgres::Migration),
            Box::new(m20261206_000005_visitor_cleared_seq::Migration),
            Box::new(m20261206_000006_session_ai_mode::Migration),
            Box::new(m20261206_000007_message_type::Migration),
            Box::new(m20261206_000008_rooms::Migration),
            Box::new(m20261206_000009_attachments::Migration),
            Box::new(m20261206_000010_agent_tools::Migration),
            Box::new(m20261206_000011_knowledge_base::Migration),
            Box::new(m20261206_000012_message_search::Migration),
            Box::new(m20261206_000013_csat_offline::Migration),
            Box::new(m20261206_000014_webhooks::Migration),
            Box::new(m20261206_000015_business_hours::Migration),
            Box::new(m20261206_000016_report_indexes::Migration),
            Box::new(m20261206_000017_messages_by_time::Migration),
            Box::new(m20261206_000018_webhook_message_refs::Migration),
            Box::new(m20261207_000019_webhook_endpoint_leases::Migration),
        ]
    }
}

//! Database connection: SQLite (embedded default) or PostgreSQL, chosen by `DATABASE_URL`.
//!
//! SQLite runs in WAL mode with `synchronous=FULL`, so an acknowledged message survives a
//! crash or power loss; PostgreSQL keeps its default `synchronous_commit=on`.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbBackend};

use crate::config::Config;

/// Connects to the configured database (creating an SQLite file if needed).
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let url = normalize_url(&config.database_url);
    let mut opts = ConnectOptions::new(url.clone());
    opts.max_connections(config.db_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.map_sqlx_sqlite_opts(|o| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    }
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None).await?;
    Ok(())
}

/// A short name of the backend, for logs.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "other",
    }
}

/// Accepts `postgresql://` as well as `postgres://`, and a bare `*.db` path as SQLite.
fn normalize_url(url: &str) -> String {
    if url.starts_with("sqlite:") || url.starts_with("postgres://") {
        url.to_string()
    } else if let Some(rest) = url.strip_prefix("postgresql://") {
        format!("postgres://{rest}")
    } else if !url.contains("://") {
        format!("sqlite://{url}?mode=rwc")
    } else {
        url.to_string()
    }
}

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
        // A database that cannot be reached is reported within about a second (sqlx keeps
        // retrying the connection until this timeout); the breaker then answers at once.
        .acquire_timeout(Duration::from_millis(config.db_acquire_timeout_ms.max(100)))
        .sqlx_logging(false);
    if let Some(path) = sqlite_file(&url).filter(|_| !url.contains("mode=ro")) {
        // Created here, owner-only, rather than by SQLite with the umask's mode (usually
        // 0644); SQLite gives its -wal and -shm files the database file's mode.
        crate::files::create_private_if_missing(&path, "SQLite database file")
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
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
    if url.starts_with("postgres") && !url.contains("sslmode") && is_loopback(&url) {
        // TLS over loopback buys nothing, and sqlx does not set TCP_NODELAY: each batch's
        // TLS records then wait ~40 ms for the server's delayed ACK (measured). An explicit
        // `sslmode=` in DATABASE_URL is always respected.
        opts.map_sqlx_postgres_opts(|o| o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable));
    }
    let db = Database::connect(opts).await?;
    Ok(db)
}

/// The PostgreSQL advisory lock key that serializes migrations ("chatdesk" in ASCII).
const MIGRATION_LOCK: i64 = 0x6368_6174_6465_736b;

/// Applies every pending migration.
///
/// On PostgreSQL several nodes may start at once on a new database; migrating concurrently
/// fails (two `CREATE TABLE`s of one name collide in `pg_type`), so each node first takes a
/// session advisory lock on a dedicated connection outside the pool, migrates (finding
/// nothing left to do if another node went first), then unlocks. Were the node to die while
/// holding it, its connection would close and PostgreSQL would release the lock.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};
    let mut lock = db
        .get_postgres_connection_pool()
        .connect_options()
        .connect()
        .await?;
    sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await?;
    let migrated = Migrator::up(db, None).await;
    let unlocked = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut lock)
        .await;
    let _ = lock.close().await;
    migrated?;
    unlocked?;
    Ok(())
}

/// The file of an SQLite database URL (`sqlite://path?...`, `sqlite:path`); `None` for an
/// in-memory database or another backend.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or("");
    if path.is_empty() || path.contains(":memory:") || rest.contains("mode=memory") {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// A short name of the backend, for logs.
pub fn backend_name(db: &DatabaseConnection) -> &'static str {
    match db.get_database_backend() {
        DbBackend::Postgres => "postgresql",
        DbBackend::Sqlite => "sqlite",
        _ => "other",
    }
}

/// Whether the URL's host is this machine (`localhost`, `127.x`, `::1`, or a Unix socket).
fn is_loopback(url: &str) -> bool {
    let rest = url.split("://").nth(1).unwrap_or("");
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or(host);
    let host = host.split(':').next().unwrap_or(host);
    host.is_empty()
        || host == "localhost"
        || host.starts_with("127.")
        || host == "::1"
        || authority.ends_with("[::1]")
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

#[cfg(test)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_hosts() {
        assert!(is_loopback("postgres://postgres@127.0.0.1:5432/db"));
        assert!(is_loopback("postgres://u:p@localhost/db"));
        assert!(!is_loopback("postgres://u:p@db.example.com:5432/db"));
        assert!(!is_loopback("postgres://u@10.0.0.5/db"));
    }
}

/// Whether a database error says the database cannot be reached (rather than that one
/// statement failed): no connection could be had, or the connection broke.
pub fn is_unreachable(e: &sea_orm::DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{DbErr, RuntimeErr};
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e.as_ref(),
                Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed
            )
        }
        _ => false,
    }
}

/// The circuit breaker in front of the database. When a write finds the database
/// unreachable, the breaker opens: sends are answered `overloaded` (HTTP 503) at once
/// instead of each waiting for a connection, and a task pings the database every 250 ms;
/// the first ping that succeeds closes it again.
#[derive(Clone, Default)]
pub struct Breaker(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Breaker {
    /// True while the database is known to be unreachable.
    pub fn is_open(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Opens the breaker (if closed) and starts pinging the database until it answers.
    pub fn trip(&self, db: &DatabaseConnection) {
        if self.0.swap(true, std::sync::atomic::Ordering::AcqRel) {
            return;
        }
        tracing::error!(
            "database unreachable: sends are refused with `overloaded` until it answers again"
        );
        crate::metrics::db_breaker(true);
        let (flag, db) = (self.0.clone(), db.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let ping = tokio::time::timeout(Duration::from_secs(1), db.ping()).await;
                if matches!(ping, Ok(Ok(()))) {
                    flag.store(false, std::sync::atomic::Ordering::Release);
                    crate::metrics::db_breaker(false);
                    tracing::info!("database reachable again: sends are accepted");
                    return;
                }
            }
        });
    }
}

/// Begins a transaction that writes. On SQLite it takes the write lock at once (`BEGIN
/// IMMEDIATE`, waiting up to the busy timeout for another writer): a plain `BEGIN` that
/// reads first and writes later fails with "database is locked" at once, without waiting,
/// when another connection committed a write in between (SQLite cannot upgrade a stale read
/// snapshot). On PostgreSQL, and inside a transaction already (a savepoint), it is `begin`.
pub async fn begin_write<C>(db: &C) -> Result<C::Transaction, sea_orm::DbErr>
where
    C: sea_orm::ConnectionTrait + sea_orm::TransactionTrait,
{
    if db.get_database_backend() == DbBackend::Sqlite {
        db.begin_with_options(sea_orm::TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..Default::default()
        })
        .await
    } else {
        db.begin().await
    }
}

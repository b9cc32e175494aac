//! The database pool, on SQLite or PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    DatabaseConnection, SqliteTransactionMode, SqlxPostgresConnector, SqlxSqliteConnector,
    TransactionOptions, TransactionTrait,
};

/// How long a SQLite writer waits for the lock before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Pool sizes when `SAASKIT_DB_MAX_CONNECTIONS` is unset.
const POSTGRES_POOL: u32 = 10;
/// SQLite has one writer at a time; beyond a few connections the others only wait longer
/// (measured: 4 connections halve the tail latency of 16 at the same throughput).
const SQLITE_POOL: u32 = 4;

/// Opens a pool on `url`, of `max_connections` or the database's default size.
///
/// SQLite is opened durable and ready for concurrent use: WAL journal, `synchronous=FULL`,
/// a busy timeout, and foreign keys enforced.
///
/// # Errors
/// The URL cannot be parsed, or the database cannot be reached.
pub async fn connect(
    url: &str,
    max_connections: Option<u32>,
) -> Result<DatabaseConnection, sea_orm::sqlx::Error> {
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.unwrap_or(SQLITE_POOL))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
    } else {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.unwrap_or(POSTGRES_POOL))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool))
    }
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`), so concurrent writers wait their turn under the busy timeout instead of
/// failing with `database is locked` when a read-then-write transaction tries to upgrade.
///
/// # Errors
/// The database refuses to begin (e.g. the busy timeout passed).
pub async fn begin_write<C: TransactionTrait>(db: &C) -> Result<C::Transaction, sea_orm::DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

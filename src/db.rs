//! The database pools, on SQLite or PostgreSQL.

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

/// A database and how many connections to hold to it, parsed once and opened as often as
/// needed: each HTTP worker opens its own share, so that a connection's socket belongs to the
/// runtime of the worker that uses it (no thread has to wake another for a database reply).
#[derive(Debug, Clone)]
pub enum PoolSpec {
    Sqlite(SqliteConnectOptions, u32),
    Postgres(PgConnectOptions, u32),
}

impl PoolSpec {
    /// SQLite is opened durable and ready for concurrent use: WAL journal,
    /// `synchronous=FULL`, a busy timeout, and foreign keys enforced.
    ///
    /// # Errors
    /// The URL cannot be parsed.
    pub fn parse(url: &str, max_connections: Option<u32>) -> Result<Self, sea_orm::sqlx::Error> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            Ok(PoolSpec::Sqlite(
                options,
                max_connections.unwrap_or(SQLITE_POOL),
            ))
        } else {
            let options = PgConnectOptions::from_str(url)?;
            Ok(PoolSpec::Postgres(
                options,
                max_connections.unwrap_or(POSTGRES_POOL),
            ))
        }
    }

    /// One of `parts` equal shares of the connections (at least one each).
    pub fn share(&self, parts: usize) -> PoolSpec {
        let parts = u32::try_from(parts.max(1)).unwrap_or(u32::MAX);
        let share = |max: u32| max.div_ceil(parts).max(1);
        match self {
            PoolSpec::Sqlite(options, max) => PoolSpec::Sqlite(options.clone(), share(*max)),
            PoolSpec::Postgres(options, max) => PoolSpec::Postgres(options.clone(), share(*max)),
        }
    }

    /// The same database with `connections` connections.
    pub fn with_connections(&self, connections: u32) -> PoolSpec {
        match self {
            PoolSpec::Sqlite(options, _) => PoolSpec::Sqlite(options.clone(), connections),
            PoolSpec::Postgres(options, _) => PoolSpec::Postgres(options.clone(), connections),
        }
    }

    /// How many group-commit writers of usage (see `services::usage::Coalescer`) to run when
    /// `SAASKIT_USAGE_WRITERS` is unset: SQLite writes one transaction at a time; PostgreSQL
    /// writes two batches of different businesses side by side (`bench/batch.sh` at 100
    /// businesses: 2 writers did 19% more than 1 and 30% more than 4).
    pub fn usage_writers(&self, configured: Option<u32>) -> u32 {
        configured.unwrap_or(match self {
            PoolSpec::Sqlite(..) => 1,
            PoolSpec::Postgres(..) => 2,
        })
    }

    /// Opens the pool and one connection, to know the database answers.
    ///
    /// # Errors
    /// The database cannot be reached.
    pub async fn open(&self) -> Result<DatabaseConnection, sea_orm::sqlx::Error> {
        Ok(counted(match self {
            PoolSpec::Sqlite(options, max) => SqlxSqliteConnector::from_sqlx_sqlite_pool(
                sqlite_pool(*max).connect_with(options.clone()).await?,
            ),
            PoolSpec::Postgres(options, max) => SqlxPostgresConnector::from_sqlx_postgres_pool(
                postgres_pool(*max).connect_with(options.clone()).await?,
            ),
        }))
    }

    /// Opens the pool without connecting: connections open when first needed, on the runtime
    /// of the task that needs them.
    pub fn open_lazy(&self) -> DatabaseConnection {
        counted(match self {
            PoolSpec::Sqlite(options, max) => SqlxSqliteConnector::from_sqlx_sqlite_pool(
                sqlite_pool(*max).connect_lazy_with(options.clone()),
            ),
            PoolSpec::Postgres(options, max) => SqlxPostgresConnector::from_sqlx_postgres_pool(
                postgres_pool(*max).connect_lazy_with(options.clone()),
            ),
        })
    }
}

/// `db`, counting every statement it runs (`saaskit_db_statements_total`): what a request
/// costs the database, which `bench/reads.sh` reads per request.
fn counted(mut db: DatabaseConnection) -> DatabaseConnection {
    db.set_metric_callback(|_| crate::telemetry::metrics::statement_run());
    db
}

fn sqlite_pool(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

fn postgres_pool(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Opens a pool on `url`, of `max_connections` or the database's default size.
///
/// # Errors
/// The URL cannot be parsed, or the database cannot be reached.
pub async fn connect(
    url: &str,
    max_connections: Option<u32>,
) -> Result<DatabaseConnection, sea_orm::sqlx::Error> {
    PoolSpec::parse(url, max_connections)?.open().await
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

//! The job queue: apalis storage in the data's own database (SQLite file or PostgreSQL), on
//! connections of its own. apalis-sqlite's setup turns `synchronous` off on the pool it is
//! given; handing it the data's pool would make the data lose durability, so it never gets it.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use apalis::prelude::{TaskBuilder, TaskSink};
use apalis_postgres::PostgresStorage;
use apalis_sqlite::SqliteStorage;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use super::SendMail;

/// How long the queue's SQLite connections wait for the write lock the data also takes.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Where jobs are stored: one variant per database saaskit runs on.
#[derive(Clone)]
pub enum Queue {
    Sqlite(SqliteStorage<SendMail>),
    Postgres(PostgresStorage<SendMail>),
}

impl Queue {
    /// Opens the queue's own pool on `database_url` and creates apalis's tables when missing.
    ///
    /// # Errors
    /// The database cannot be reached or apalis's migrations fail.
    pub async fn open(database_url: &str) -> anyhow::Result<Self> {
        if database_url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(database_url)?
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT);
            let pool = SqlitePoolOptions::new()
                .max_connections(2)
                .connect_with(options)
                .await
                .context("cannot open the job queue's connections")?;
            SqliteStorage::setup(&pool)
                .await
                .context("cannot create the job queue's tables")?;
            Ok(Queue::Sqlite(SqliteStorage::new(&pool)))
        } else {
            let options = PgConnectOptions::from_str(database_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(3)
                .connect_with(options)
                .await
                .context("cannot open the job queue's connections")?;
            PostgresStorage::setup(&pool)
                .await
                .context("cannot create the job queue's tables")?;
            let storage = PostgresStorage::new(&pool);
            // A worker that dies holding jobs gives them back after three missed heartbeats
            // (15 s) rather than apalis's default five minutes, and holds a few at a time.
            let config = storage
                .config()
                .clone()
                .heartbeat_interval(Duration::from_secs(5))
                .missed_heartbeats(3)
                .batch_size(4);
            Ok(Queue::Postgres(storage.with_config(config)))
        }
    }

    /// Stores `job`, to run once `delay` has passed. Once this returns `Ok`, the job survives
    /// a crash of this process.
    ///
    /// # Errors
    /// The queue's database refused the write.
    pub async fn push(&self, job: SendMail, delay: Duration) -> anyhow::Result<()> {
        let task = TaskBuilder::new(job).run_after(delay).build();
        match self {
            Queue::Sqlite(storage) => storage.clone().push_task(task).await?,
            Queue::Postgres(storage) => storage.clone().push_task(task).await?,
        }
        Ok(())
    }
}

//! What the cycle sweeps away: usage idempotency keys past their window, sessions past their
//! expiry, password resets used or expired. Each in bounded batches, so no statement holds
//! locks (or SQLite's one writer) for long however much has piled up.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, Statement};

use crate::error::AppError;

/// Rows deleted by one sweep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub usage_events: u64,
    pub sessions: u64,
    pub password_resets: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.usage_events + self.sessions + self.password_resets
    }
}

/// Deletes usage events recorded before `events_before`, sessions expired before `now`, and
/// password resets used or expired before `now`, `batch` rows per statement.
///
/// # Errors
/// The database failed; what was deleted before stays deleted (each batch commits alone).
#[tracing::instrument(skip_all)]
pub async fn prune<C: ConnectionTrait>(
    db: &C,
    events_before: DateTime<Utc>,
    now: DateTime<Utc>,
    batch: u64,
) -> Result<Pruned, AppError> {
    Ok(Pruned {
        usage_events: in_batches(db, "usage_events", "created_at < $1", events_before, batch)
            .await?,
        sessions: in_batches(db, "sessions", "expires_at < $1", now, batch).await?,
        password_resets: in_batches(
            db,
            "password_resets",
            "(used_at IS NOT NULL OR expires_at < $1)",
            now,
            batch,
        )
        .await?,
    })
}

async fn in_batches<C: ConnectionTrait>(
    db: &C,
    table: &'static str,
    condition: &'static str,
    before: DateTime<Utc>,
    batch: u64,
) -> Result<u64, AppError> {
    let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (SELECT id FROM {table} WHERE {condition} LIMIT $2)"
    );
    let mut total = 0;
    loop {
        let deleted = db
            .execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                sql.as_str(),
                [before.into(), batch.into()],
            ))
            .await?
            .rows_affected();
        total += deleted;
        if deleted < u64::try_from(batch).unwrap_or(u64::MAX) {
            return Ok(total);
        }
    }
}

//! What the cycle sweeps away: usage idempotency keys past their window, sessions past their
//! expiry, password resets used or expired, invitations past their 7 days (freeing their seats)
//! and the password-less accounts only those invitations held. Each in bounded batches, so no statement holds
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
    pub invitations: u64,
    /// Accounts an invitation made, that never got a password and belong to no team any more.
    pub invited_accounts: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.usage_events
            + self.sessions
            + self.password_resets
            + self.invitations
            + self.invited_accounts
    }
}

/// Pending invitations whose key died.
const EXPIRED_INVITATION: &str = "status = 'invited' AND activation_expires_at < $1";
/// What an invitation left behind: no password, no membership, a person, created before now.
/// (The conditions are re-checked on the row when it is deleted, so an account claimed or
/// invited again meanwhile stays.)
const ORPHANED_ACCOUNT: &str = "password_hash IS NULL AND is_staff = false AND is_bot = false \
     AND created_at < $1 AND NOT EXISTS (SELECT 1 FROM team_members m WHERE m.user_id = users.id)";

/// Deletes usage events recorded before `events_before`, sessions expired before `now`,
/// password resets used or expired before `now`, invitations expired before `now` and then
/// the accounts only they held, `batch` rows per statement.
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
        invitations: in_batches(db, "team_members", EXPIRED_INVITATION, now, batch).await?,
        invited_accounts: in_batches(db, "users", ORPHANED_ACCOUNT, now, batch).await?,
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

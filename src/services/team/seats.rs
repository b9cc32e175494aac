//! Seats: the plan's `members` limit, taken by invited and active humans. Counted by
//! [`crate::services::usage::seats`], the one definition the dashboard shows too.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

use crate::error::AppError;
use crate::services::usage;

pub const METRIC: &str = "members";

/// Checks, inside the transaction `txn`, that one more seat fits the plan of `business_id`.
/// On PostgreSQL the business row is locked first (`FOR UPDATE`), so concurrent callers count
/// one after the other until commit; on SQLite `begin_write`'s `BEGIN IMMEDIATE` already
/// serializes writers.
///
/// # Errors
/// `QUOTA_EXCEEDED` (`metric: "members"`) when the seats are all taken.
pub async fn ensure_one_free<C: ConnectionTrait>(
    txn: &C,
    business_id: Uuid,
) -> Result<(), AppError> {
    lock_business(txn, business_id).await?;
    let Some(limit) = limit(txn, business_id).await? else {
        return Ok(());
    };
    let used = usage::seats(txn, business_id).await?;
    if used >= limit {
        return Err(AppError::QuotaExceeded {
            metric: METRIC.to_owned(),
            limit,
            used,
        });
    }
    Ok(())
}

/// Locks the business row until the end of the transaction (PostgreSQL only).
pub async fn lock_business<C: ConnectionTrait>(txn: &C, business_id: Uuid) -> Result<(), AppError> {
    if txn.get_database_backend() == DbBackend::Postgres {
        txn.query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id FROM businesses WHERE id = $1 FOR UPDATE",
            [business_id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The plan's seat limit; `None` when unlimited (or the plan has no such limit).
async fn limit<C: ConnectionTrait>(db: &C, business_id: Uuid) -> Result<Option<i64>, AppError> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT l.max FROM subscriptions s \
             JOIN plan_limits l ON l.plan_id = s.plan_id AND l.metric = $2 \
             WHERE s.business_id = $1",
            [business_id.into(), METRIC.into()],
        ))
        .await?;
    match row {
        Some(row) => Ok(row.try_get::<Option<i64>>("", "max")?),
        None => Ok(None),
    }
}

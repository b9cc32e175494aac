//! Seats: the plan's `members` limit, taken by invited and active humans. Counted by
//! [`crate::services::usage::seats`], the one definition the dashboard shows too.

use sea_orm::{ConnectionTrait, Statement};
use uuid::Uuid;

use crate::error::AppError;
#[cfg(doc)]
use crate::services::locks;
use crate::services::usage;

pub const METRIC: &str = "members";

/// Checks, inside the transaction `txn`, that one more seat fits the plan of `business_id`.
/// The caller holds [`locks::team`] (the subscription shared, then the business row), so
/// concurrent seat-takers count one after the other until commit, and a plan change waits for
/// them (or they for it) — the limit read here is the one in force when the seat commits.
///
/// # Errors
/// `QUOTA_EXCEEDED` (`metric: "members"`) when the seats are all taken.
pub async fn ensure_one_free<C: ConnectionTrait>(
    txn: &C,
    business_id: Uuid,
) -> Result<(), AppError> {
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

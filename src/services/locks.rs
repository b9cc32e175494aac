//! The one lock order, written down once. Every write that reads a plan's limits, or changes
//! what they apply to, takes its row locks in this order and in no other:
//!
//! 1. **the business's subscription row** — *shared* by writes that count against the limits
//!    (usage in every path, every team step), *exclusive* by writes that change the limits or
//!    what they apply to (a plan change at either timing, cancel and resume, staff's grants,
//!    every step of the cycle). Several businesses' rows are taken in `business_id` order.
//! 2. **the business row**, exclusive, by team steps: seats have no counter row, so this row
//!    serializes the steps that count and take them. `FOR NO KEY UPDATE`, not `FOR UPDATE`:
//!    it must not block the foreign-key checks of rows that merely name the business (an
//!    acceptance's session and audit rows), or an acceptance holding its invitation's row and
//!    a revoke holding the business row deadlock (the checker saw it).
//! 3. **usage counters**, in `(subscription_id, metric)` order.
//!
//! Why this makes a limit read exact: a writer that counts holds (1) shared until it commits,
//! so a plan change — which needs (1) exclusive — waits for every such writer and then reads
//! what they committed; a writer that waited for a plan change reads the new plan, because in
//! PostgreSQL's `READ COMMITTED` each statement after the lock sees the newest committed rows.
//! And since everyone takes (1) before (2) and (3), two writers never wait on each other in a
//! cycle. The one-statement paths (a usage call, a usage batch, a renewal on PostgreSQL) take
//! (1) inside their statement, and the usage ones check that the row they locked is the row
//! their snapshot read (`xmin`): if it changed meanwhile they count nothing and the caller
//! takes the transaction path, which locks first and reads after.
//!
//! The one exception: staff editing a plan's limits takes none of these (a plan may have
//! 100,000 subscribers), only the plan row, so that two edits of one plan run one after the
//! other. A call judged against the limit as it was before the edit may commit
//! right after it, so a lowered limit can be exceeded by what was in flight, never more;
//! raised limits only let more in.
//!
//! On SQLite every write transaction is `BEGIN IMMEDIATE` ([`crate::db::begin_write`]): one
//! writer at a time, which is this order trivially, so the functions here lock nothing there.

use std::future::Future;
use std::time::Duration;

use entity::subscriptions;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QuerySelect, Statement,
    Value,
};
use uuid::Uuid;

use crate::error::{AppError, is_retryable};

/// Step 1, shared: the subscription rows of `business_ids`, in `business_id` order, until the
/// transaction ends.
pub async fn share_subscriptions<C: ConnectionTrait>(
    txn: &C,
    business_ids: impl IntoIterator<Item = Uuid>,
) -> Result<(), AppError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let mut ids: Vec<Uuid> = business_ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let values: Vec<Value> = ids.into_iter().map(Value::from).collect();
    let placeholders = (1..=values.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    txn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        format!(
            "SELECT id FROM subscriptions WHERE business_id IN ({placeholders}) \
             ORDER BY business_id FOR SHARE"
        ),
        values,
    ))
    .await?;
    Ok(())
}

/// Step 1, exclusive: the business's subscription, read and locked until the transaction ends.
///
/// # Errors
/// `NOT_FOUND` when the business has none (it does not exist).
pub async fn subscription_exclusive<C: ConnectionTrait>(
    txn: &C,
    business_id: Uuid,
) -> Result<subscriptions::Model, AppError> {
    subscriptions::Entity::find()
        .filter(subscriptions::Column::BusinessId.eq(business_id))
        .lock_exclusive()
        .one(txn)
        .await?
        .ok_or(AppError::NotFound { what: "business" })
}

/// Steps 1 and 2 for a team step: the subscription shared, then the business row exclusive.
pub async fn team<C: ConnectionTrait>(txn: &C, business_id: Uuid) -> Result<(), AppError> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    share_subscriptions(txn, [business_id]).await?;
    txn.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT id FROM businesses WHERE id = $1 FOR NO KEY UPDATE",
        [business_id.into()],
    ))
    .await?;
    Ok(())
}

/// How many times a write is tried when PostgreSQL aborts it for a serialization failure or a
/// deadlock.
pub const ATTEMPTS: u32 = 5;

/// Runs `write` (one whole transaction) again, up to [`ATTEMPTS`] times in all, while
/// PostgreSQL aborts it as [`is_retryable`]; each retry waits a little longer.
///
/// # Errors
/// `write`'s error; a retryable one only once the attempts are spent.
pub async fn retrying<T, F, Fut>(mut write: F) -> Result<T, AppError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AppError>>,
{
    let mut attempt = 1;
    loop {
        match write().await {
            Err(AppError::Database(err)) if is_retryable(&err) && attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

//! One call on its own, in as few round trips as the database allows: without a key, one
//! conditional `UPDATE` ([`super::rule_as_update`]); with a key on PostgreSQL, that update
//! and the event's insert as one statement; else a transaction that creates the counter on
//! first use, explains a refusal or replays a key ([`super::slow`]).
//!
//! A writer of the [`Coalescer`](super::Coalescer) writes a call this way when it is alone
//! in its queue, and [`super::reference::record`] writes every call this way.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use super::rule_as_update::{OneStatement, add_fast, count_and_record_at_once};
use super::slow::{Added, Earlier, add_slow, earlier, replay};
use super::{Recorded, Valid};
use crate::error::AppError;
use crate::services::locks;

/// Writes one checked call on its own.
///
/// # Errors
/// As [`super::reference::record`].
pub(crate) async fn write_alone(
    db: &DatabaseConnection,
    business_id: Uuid,
    valid: Valid,
    now: DateTime<Utc>,
) -> Result<Recorded, AppError> {
    let Valid {
        metric,
        quantity,
        key,
    } = valid;

    // Without a key the common case is one statement, with no transaction around it.
    if key.is_none()
        && let Some((used, limit)) = add_fast(db, business_id, &metric, quantity).await?
    {
        return Ok(Recorded {
            metric,
            used,
            limit,
            duplicate: false,
        });
    }
    if let Some(key) = &key
        && db.get_database_backend() == DbBackend::Postgres
    {
        match count_and_record_at_once(db, business_id, &metric, quantity, key, now).await? {
            OneStatement::Counted(used, limit) => {
                return Ok(Recorded {
                    metric,
                    used,
                    limit,
                    duplicate: false,
                });
            }
            OneStatement::Seen => {
                return replay(first_answer(db, business_id, key).await?, &metric, quantity);
            }
            OneStatement::Missed => {}
        }
    }
    let txn = crate::db::begin_write(db).await?;
    locks::share_subscriptions(&txn, [business_id]).await?;
    let (used, limit) = match add_fast(&txn, business_id, &metric, quantity).await? {
        Some(added) => added,
        None => {
            // A replay is answered as the first call was, before any refusal is diagnosed:
            // the plan or the subscription may have changed since.
            if let Some(key) = &key
                && let Some(first) = earlier(&txn, business_id, key).await?
            {
                return replay(first, &metric, quantity);
            }
            match add_slow(&txn, business_id, &metric, quantity).await? {
                Added::Counted { used, limit } => (used, limit),
                Added::Refused(error) => return Err(error),
            }
        }
    };
    let backend = txn.get_database_backend();
    if let Some(key) = &key {
        let inserted = txn
            .execute_raw(Statement::from_sql_and_values(
                backend,
                "INSERT INTO usage_events (id, business_id, idempotency_key, metric, quantity, \
                   accepted, used_after, limit_after, created_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8) \
                 ON CONFLICT (business_id, idempotency_key) DO NOTHING",
                [
                    Uuid::now_v7().into(),
                    business_id.into(),
                    key.clone().into(),
                    metric.clone().into(),
                    quantity.into(),
                    used.into(),
                    limit.into(),
                    now.into(),
                ],
            ))
            .await?;
        if inserted.rows_affected() == 0 {
            // Someone recorded this key first: undo our count and answer as they were answered.
            txn.rollback().await?;
            return replay(first_answer(db, business_id, key).await?, &metric, quantity);
        }
    }
    txn.commit().await?;
    Ok(Recorded {
        metric,
        used,
        limit,
        duplicate: false,
    })
}

/// The recorded first call with `key`, which a unique-key violation has just shown to exist.
async fn first_answer<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    key: &str,
) -> Result<Earlier, AppError> {
    earlier(db, business_id, key)
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("idempotency key vanished")))
}

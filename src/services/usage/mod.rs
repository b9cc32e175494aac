//! Usage metering: `recordUsage`'s exactly-once, limit-enforcing counter, and the dashboard's
//! view of it.
//!
//! A call adds `quantity` to the metric's counter only when [`rule::judge`] allows it: an
//! increase stays within the plan's limit, a decrement stays at or above zero — one
//! conditional `UPDATE`, so concurrent calls never overshoot. With an idempotency key the event
//! is recorded under `(business, key)` in the same transaction; a second call with that key
//! counts nothing and returns the first call's answer, whatever has changed since. Refused
//! calls count nothing and record nothing, so a key may be retried after a refusal.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use uuid::Uuid;

use crate::error::AppError;

mod at_once;
mod batch;
mod coalesce;
mod dashboard;
mod fast;
pub mod rule;
mod slow;

pub use batch::BeforeCommit;
pub use coalesce::{Coalescer, MAX_BATCH, QUEUED_EVENTS};
pub use dashboard::{Usage, of_business, seats};
use fast::{OneStatement, add_fast, count_and_record_at_once};
use slow::{Added, Earlier, add_slow, earlier, replay};

/// The most events one `recordUsages` call takes.
pub const MAX_EVENTS: usize = 100;

/// Metrics counted from other data, not recorded.
const BUILT_IN: &[&str] = &["members"];
const MAX_KEY: usize = 255;

/// A metric's name as given, the way it is counted — and the way a token's `metric(m)` fact
/// names it, so that a holder's check judges the metric that is recorded.
pub fn metric_name(given: &str) -> &str {
    given.trim()
}

/// `recordUsage`'s input.
pub struct Record {
    pub metric: String,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
}

/// What a metric stands at after a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub metric: String,
    pub used: i64,
    pub limit: Option<i64>,
    /// This call repeated an earlier one with the same key and counted nothing.
    pub duplicate: bool,
}

fn check_key(key: Option<String>) -> Result<Option<String>, AppError> {
    let Some(key) = key else { return Ok(None) };
    let printable = key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if key.is_empty() || key.len() > MAX_KEY || !printable {
        return Err(AppError::bad_input(
            "idempotencyKey",
            "use 1 to 255 printable ASCII characters",
        ));
    }
    Ok(Some(key))
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

/// Records `input` for `business_id`.
///
/// # Errors
/// `BAD_USER_INPUT` on `metric` (unknown or built in), `quantity` (zero; negative on a
/// resetting metric or below zero) or `idempotencyKey`; `QUOTA_EXCEEDED`;
/// `SUBSCRIPTION_INACTIVE`; `CONFLICT` on `idempotencyKey` reused with another metric or
/// quantity. Nothing is counted on any error.
#[tracing::instrument(skip_all, fields(metric = %input.metric))]
pub async fn record(
    db: &DatabaseConnection,
    business_id: Uuid,
    input: Record,
    now: DateTime<Utc>,
) -> Result<Recorded, AppError> {
    record_valid(db, business_id, Valid::parse(input)?, now).await
}

/// A call whose input has been checked: what [`record`] and a batch both judge.
#[derive(Debug, Clone)]
pub(crate) struct Valid {
    pub(crate) metric: String,
    pub(crate) quantity: i64,
    pub(crate) key: Option<String>,
}

impl Valid {
    /// # Errors
    /// `BAD_USER_INPUT` as listed on [`record`].
    pub(crate) fn parse(input: Record) -> Result<Valid, AppError> {
        let key = check_key(input.idempotency_key)?;
        let metric = metric_name(&input.metric).to_owned();
        if input.quantity == 0 {
            return Err(AppError::bad_input("quantity", "must not be zero"));
        }
        if BUILT_IN.contains(&metric.as_str()) {
            return Err(AppError::bad_input(
                "metric",
                format!("{metric} is counted by saaskit itself"),
            ));
        }
        Ok(Valid {
            metric,
            quantity: input.quantity,
            key,
        })
    }
}

/// [`record`] after the input was checked: one call on its own, in as few round trips as the
/// database allows.
pub(crate) async fn record_valid(
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

/// Refuses a `recordUsages` call of more than [`MAX_EVENTS`] events.
///
/// # Errors
/// `BAD_USER_INPUT` on `inputs`.
pub fn check_count(events: usize) -> Result<(), AppError> {
    if events > MAX_EVENTS {
        return Err(AppError::bad_input(
            "inputs",
            format!("send at most {MAX_EVENTS} events per call"),
        ));
    }
    Ok(())
}

/// Records `inputs` for `business_id` in one transaction (the server queues them with others
/// through [`Coalescer::record_many`]): each judged on its own, in order,
/// exactly as if sent one after the other (a key repeated within the call is a `duplicate` of
/// its first use). Answers in input order.
///
/// # Errors
/// `BAD_USER_INPUT` on `inputs` beyond [`MAX_EVENTS`]; an internal error when the transaction
/// failed (nothing counted). Each event's own refusal is its answer, as listed on [`record`].
#[tracing::instrument(skip_all, fields(events = inputs.len()))]
pub async fn record_many(
    db: &DatabaseConnection,
    business_id: Uuid,
    inputs: Vec<Record>,
    now: DateTime<Utc>,
) -> Result<Vec<Result<Recorded, AppError>>, AppError> {
    check_count(inputs.len())?;
    let parsed: Vec<Result<Valid, AppError>> = inputs.into_iter().map(Valid::parse).collect();
    let calls: Vec<batch::Call> = parsed
        .iter()
        .filter_map(|valid| valid.as_ref().ok())
        .map(|valid| batch::Call {
            business_id,
            valid: valid.clone(),
            now,
        })
        .collect();
    let written = batch::write_all(db, &calls, None).await?;
    Ok(in_input_order(parsed, written))
}

/// Each input's answer, in input order: its own refusal when it did not parse, else the next
/// of `written` (the answers of the inputs that parsed, in order).
fn in_input_order(
    parsed: Vec<Result<Valid, AppError>>,
    written: Vec<Result<Recorded, AppError>>,
) -> Vec<Result<Recorded, AppError>> {
    let mut written = written.into_iter();
    parsed
        .into_iter()
        .map(|valid| {
            valid.and_then(|_| {
                written
                    .next()
                    .unwrap_or_else(|| Err(anyhow::anyhow!("an event was not answered").into()))
            })
        })
        .collect()
}

//! The unqueued entry points: each call written straight to the database, without the
//! [`Coalescer`](super::Coalescer) that the server sends every call through.
//!
//! [`record`] is the reference: one call on its own, exactly the answer one-by-one calls get.
//! The batch paths — [`record_batch`] here, and the coalescer's group commit — are held to it
//! by `tests/api/usage_batch/equivalence.rs`. Tools and tests call these; the server calls
//! [`Coalescer::submit`](super::Coalescer::submit) and
//! [`Coalescer::submit_batch`](super::Coalescer::submit_batch).

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::alone::write_alone;
use super::{Record, Recorded, Valid, batch, check_count, in_input_order};
use crate::error::AppError;

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
    write_alone(db, business_id, Valid::parse(input)?, now).await
}

/// Records `inputs` for `business_id` in one transaction (the server queues them with others
/// through [`Coalescer::submit_batch`](super::Coalescer::submit_batch)): each judged on its
/// own, in order,
/// exactly as if sent one after the other (a key repeated within the call is a `duplicate` of
/// its first use). Answers in input order.
///
/// # Errors
/// `BAD_USER_INPUT` on `inputs` beyond [`MAX_EVENTS`]; an internal error when the transaction
/// failed (nothing counted). Each event's own refusal is its answer, as listed on [`record`].
#[tracing::instrument(skip_all, fields(events = inputs.len()))]
pub async fn record_batch(
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
    let written = batch::write_all(db, &calls, &batch::WriteOptions::default()).await?;
    Ok(in_input_order(parsed, written))
}

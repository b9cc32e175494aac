//! Usage metering: `recordUsage`'s exactly-once, limit-enforcing counter, and the dashboard's
//! view of it.
//!
//! A call adds `quantity` to the metric's counter only when [`rule::judge`] allows it: an
//! increase stays within the plan's limit, a decrement stays at or above zero — one
//! conditional `UPDATE`, so concurrent calls never overshoot. With an idempotency key the event
//! is recorded under `(business, key)` in the same transaction; a second call with that key
//! counts nothing and returns the first call's answer, whatever has changed since. Refused
//! calls count nothing and record nothing, so a key may be retried after a refusal.
//!
//! Entry points: the server sends every call through the [`Coalescer`] ([`Coalescer::submit`]
//! for `recordUsage`, [`Coalescer::submit_batch`] for `recordUsages`), which shares one write
//! among concurrent calls. [`reference::record`] writes one call straight away: the
//! reference every batch is held to.
//!
//! One rule, three forms, side by side:
//! - [`rule`]: the rule as Rust ([`rule::judge`]), which also explains a refusal;
//! - `rule_as_update.rs`: the same rule as one conditional `UPDATE` (a call that counts);
//! - `rule_as_batch_statement.rs`: the same rule as one PostgreSQL statement for a whole batch.
//!
//! `tests/api/security/usage.rs` (`the_rule_explains_exactly_what_the_sql_refuses`) holds the
//! first two to each other over random plans, counters and quantities;
//! `tests/api/usage_batch/equivalence.rs` holds every batch path — the statement, the
//! portable transaction, the coalescer — to [`reference::record`] called one by one.
//!
//! Tenants stay apart: a metric's name ([`metric_name`]) and an idempotency key are checked
//! before a call is queued, so nothing the database cannot store reaches a batch that other
//! businesses share; and a batch whose write still fails for what its calls carried is
//! written again in parts, so one tenant's bad call never fails another tenant's call
//! (`isolate.rs`). A call that has entered a batch gets the batch's answer even when its
//! request's time runs out; one still queued is withdrawn and counts nothing (`pending.rs`).
//!
//! Files, in reading order: [`rule`], `rule_as_update.rs`, `rule_as_batch_statement.rs`,
//! `alone.rs` (one call on its own), `slow.rs` (first uses, refusals, replays), `batch.rs`
//! (many calls in one transaction), `coalesce.rs` (the queue and its writers), `isolate.rs`
//! (a failed batch written again in parts), `pending.rs` (a request's deadline and its queued
//! calls), [`reference`], `dashboard.rs` (what the dashboard shows).

use crate::error::AppError;
use crate::services::validate::{TextRule, refused_text};

mod alone;
mod batch;
mod coalesce;
mod dashboard;
mod isolate;
mod pending;
pub mod reference;
pub mod rule;
mod rule_as_batch_statement;
mod rule_as_update;
mod slow;

pub use batch::{BatchPath, BeforeCommit, WriteOptions};
pub use coalesce::{Coalescer, MAX_BATCH, QUEUED_EVENTS};
pub use dashboard::{Usage, of_business, seats};
pub use pending::Pending;

/// The most events one `recordUsages` call takes.
pub const MAX_EVENTS: usize = 100;

/// Metrics counted from other data, not recorded.
const BUILT_IN: &[&str] = &["members"];
const MAX_KEY: usize = 255;

/// The longest metric name: a plan's limits name their metrics with at most 64 characters
/// (`plan_admin`), so no longer name can ever be counted.
pub const MAX_METRIC: usize = 64;

/// A metric's name as given, the way it is counted — and the way a token's `metric(m)` fact
/// names it, so that a holder's check judges the metric that is recorded: trimmed, 1 to
/// [`MAX_METRIC`] bytes, nothing the text rule refuses ([`refused_text`]: control characters, NUL
/// included, bidirectional controls, non-characters). Every name a plan can have passes;
/// what is refused here could never be counted, and is refused before it is queued, so that a
/// name the database cannot store never reaches a batch shared with other businesses.
///
/// # Errors
/// `BAD_USER_INPUT` on `metric`.
pub fn metric_name(given: &str) -> Result<&str, AppError> {
    let name = given.trim();
    let unsafe_text = refused_text(name, TextRule::Line).is_some();
    if name.is_empty() || name.len() > MAX_METRIC || unsafe_text {
        return Err(AppError::bad_input(
            "metric",
            format!("use 1 to {MAX_METRIC} printable characters"),
        ));
    }
    Ok(name)
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

/// A call whose input has been checked: what every path judges.
#[derive(Debug, Clone)]
pub(crate) struct Valid {
    pub(crate) metric: String,
    pub(crate) quantity: i64,
    pub(crate) key: Option<String>,
}

impl Valid {
    /// # Errors
    /// `BAD_USER_INPUT` as listed on [`reference::record`].
    pub(crate) fn parse(input: Record) -> Result<Valid, AppError> {
        let key = check_key(input.idempotency_key)?;
        let metric = metric_name(&input.metric)?.to_owned();
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

/// Each input's answer, in input order: its own refusal when it did not parse, else the next
/// of `written` (the answers of the inputs that parsed, in order).
pub(crate) fn in_input_order(
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

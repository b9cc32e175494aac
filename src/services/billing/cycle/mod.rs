//! The subscription cycle: every subscription whose period has ended is renewed, expired or
//! set past due by DESIGN's rules ([`decide`]), each exactly once ([`renew::settle`]), and
//! the tables that only grow are swept ([`housekeeping`]).
//!
//! Files, in reading order: this file (a pass), [`decide`] (the rules as pure functions),
//! [`renew`] (one subscription settled, as a transaction) beside `renew_one_statement.rs`
//! (the same renewal as one PostgreSQL statement; the cycle tests hold both to the same
//! outcomes on each database), `archive.rs` (a period's counters archived and reset),
//! [`housekeeping`] (what only grows, swept).
//!
//! [`run_once`] is one pass. It holds no state between passes and may run in several
//! processes at once: the scheduler (`saaskit worker`'s timer, `saaskit cycle --once`) calls it
//! every `SAASKIT_CYCLE_EVERY`, and a retried or overlapping pass does no harm.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use entity::{plans, subscriptions};
use futures_util::{StreamExt, stream};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, Statement, TransactionTrait};

use super::{charges, subscription};
use crate::config::Settings;
use crate::error::AppError;

mod archive;
pub mod decide;
pub mod housekeeping;
pub mod renew;
mod renew_one_statement;

pub use super::provider::{Answer, BillingProvider, Charge, Decision, ManualProvider};
pub use archive::{Span, archive_and_reset};
pub use housekeeping::Pruned;
use renew::Settled;

/// How a pass runs.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Subscriptions read per query, and rows deleted per housekeeping statement.
    pub batch: u64,
    /// Renewals in flight at once (each its own transaction).
    pub parallel: usize,
    /// `SAASKIT_BILLING_GRACE`: how long PAST_DUE lasts before EXPIRED.
    pub grace: TimeDelta,
    /// `SAASKIT_IDEMPOTENCY_WINDOW`: how long usage events are kept.
    pub idempotency_window: TimeDelta,
}

impl Policy {
    /// The settings' grace and window; batches of 500, and as many renewals in flight as the
    /// database can write at once (PostgreSQL: several; SQLite: one writer).
    pub fn from_settings(settings: &Settings, backend: DbBackend) -> Self {
        let delta = |d| TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX);
        Policy {
            batch: 500,
            parallel: if backend == DbBackend::Postgres { 8 } else { 1 },
            grace: delta(settings.billing_grace),
            idempotency_window: delta(settings.idempotency_window),
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub renewed: u64,
    pub expired: u64,
    /// Declined and set PAST_DUE in this pass.
    pub past_due: u64,
    /// Declined again, still within the grace period.
    pub still_past_due: u64,
    /// Scheduled plan changes that took effect.
    pub plan_changes: u64,
    /// Settled meanwhile by another pass (or changed by a person): left to them.
    pub skipped: u64,
    /// Could not be settled (the provider gave no answer, the database failed): untouched,
    /// and tried again by the next pass.
    pub failed: u64,
    /// Charges cut off halfway (a crash, no answer) asked again with their own key and
    /// settled.
    pub recovered: u64,
    pub pruned: Pruned,
}

impl Summary {
    fn add(&mut self, settled: Settled) {
        let changed = match settled {
            Settled::Renewed { plan_changed } => {
                self.renewed += 1;
                plan_changed
            }
            Settled::Expired { plan_changed } => {
                self.expired += 1;
                plan_changed
            }
            Settled::PastDue { plan_changed } => {
                self.past_due += 1;
                plan_changed
            }
            Settled::StillPastDue => {
                self.still_past_due += 1;
                false
            }
            Settled::Skipped => {
                self.skipped += 1;
                false
            }
        };
        self.plan_changes += u64::from(changed);
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "renewed {}, expired {}, past due {} (still past due {}), plan changes {}, \
             skipped {}, failed {}, recovered {}, pruned {} (usage events {}, sessions {}, password resets {}, \
             invitations {}, invited accounts {})",
            self.renewed,
            self.expired,
            self.past_due,
            self.still_past_due,
            self.plan_changes,
            self.skipped,
            self.failed,
            self.recovered,
            self.pruned.total(),
            self.pruned.usage_events,
            self.pruned.sessions,
            self.pruned.password_resets,
            self.pruned.invitations,
            self.pruned.invited_accounts,
        )
    }
}

/// One pass at `now`: settles every subscription (ACTIVE or PAST_DUE) whose period ended at or
/// before `now`, in batches in the order their periods ended, then prunes.
///
/// A subscription that cannot be settled (the provider gave no answer, the database failed
/// or broke a deadlock) is left untouched, logged and counted in [`Summary::failed`]: the
/// others are settled all the same, and the next pass tries it again.
///
/// # Errors
/// The database failed to list the plans or the due subscriptions, or to prune.
#[tracing::instrument(skip_all, fields(%now))]
pub async fn run_once<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
    provider: &dyn BillingProvider,
    policy: &Policy,
) -> Result<Summary, AppError> {
    let plans: HashMap<_, _> = plans::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .map(|plan| (plan.id, plan))
        .collect();
    let mut summary = Summary::default();
    recover(db, now, provider, policy, &plans, &mut summary).await?;
    let mut after = None;
    loop {
        let due = due(db, now, after, policy.batch).await?;
        let Some(last) = due.last() else { break };
        after = Some((last.current_period_end, last.id));
        let full = due.len() as u64 >= policy.batch;
        let settled: Vec<(uuid::Uuid, Result<Settled, AppError>)> = stream::iter(due)
            .map(|sub| async {
                let id = sub.id;
                (
                    id,
                    renew::settle(db, sub, &plans, provider, policy.grace, now).await,
                )
            })
            .buffer_unordered(policy.parallel.max(1))
            .collect()
            .await;
        for (subscription_id, outcome) in settled {
            match outcome {
                Ok(settled) => summary.add(settled),
                Err(error) => {
                    tracing::warn!(%subscription_id, ?error, "a renewal failed; the next pass tries again");
                    summary.failed += 1;
                }
            }
        }
        if !full {
            break;
        }
    }
    let events_before = now
        .checked_sub_signed(policy.idempotency_window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    summary.pruned = housekeeping::prune(db, events_before, now, policy.batch).await?;
    tracing::info!(%summary, "subscription cycle pass");
    Ok(summary)
}

/// Asks the provider again, with the same key, for every charge cut off halfway (its lease
/// ran out while it was pending), and writes the answer as the call that claimed it would
/// have: a renewal, a plan change, a restart. Another pass may be doing the same: the lease
/// is taken over by one of them only.
async fn recover<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    now: DateTime<Utc>,
    provider: &dyn BillingProvider,
    policy: &Policy,
    plans: &HashMap<uuid::Uuid, plans::Model>,
    summary: &mut Summary,
) -> Result<(), AppError> {
    use entity::ChargePurpose;
    let purposes = [
        ChargePurpose::Renewal,
        ChargePurpose::PlanChange,
        ChargePurpose::Restart,
    ];
    for charge in charges::cut_off(db, &purposes, now, policy.batch).await? {
        if !charges::renew_lease(db, &charge, now).await? {
            continue;
        }
        let decision = match provider.charge(&charges::request(&charge)).await {
            Ok(decision) => decision,
            Err(error) => {
                tracing::warn!(charge_id = %charge.id, %error, "the provider gave no answer again");
                charges::release(db, charge.id, now).await?;
                summary.failed += 1;
                continue;
            }
        };
        let settled = match charge.purpose {
            ChargePurpose::Renewal => {
                renew::commit(db, &charge, plans, &decision, policy.grace, now)
                    .await
                    .map(|settled| summary.add(settled))
            }
            ChargePurpose::PlanChange | ChargePurpose::Restart => {
                match subscription::commit_paid_change(db, &charge, None, &decision, now).await {
                    Ok(_) | Err(AppError::Conflict { .. } | AppError::QuotaExceeded { .. }) => {
                        Ok(())
                    }
                    Err(other) => Err(other),
                }
            }
        };
        match settled {
            Ok(()) => summary.recovered += 1,
            Err(error) => {
                tracing::warn!(charge_id = %charge.id, ?error, "a cut-off charge could not be settled");
                summary.failed += 1;
            }
        }
    }
    Ok(())
}

/// The next `batch` due subscriptions after `after` (period end, id). The status condition is
/// written out, not bound, so that the partial index `subscriptions_due` serves the query.
async fn due<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    after: Option<(DateTime<Utc>, uuid::Uuid)>,
    batch: u64,
) -> Result<Vec<subscriptions::Model>, AppError> {
    let batch = i64::try_from(batch.max(1)).unwrap_or(i64::MAX);
    let (sql, values) = match after {
        None => (
            "SELECT * FROM subscriptions WHERE status IN ('active', 'past_due') \
             AND current_period_end <= $1 ORDER BY current_period_end, id LIMIT $2",
            vec![now.into(), batch.into()],
        ),
        Some((end, id)) => (
            "SELECT * FROM subscriptions WHERE status IN ('active', 'past_due') \
             AND current_period_end <= $1 \
             AND (current_period_end > $3 OR (current_period_end = $3 AND id > $4)) \
             ORDER BY current_period_end, id LIMIT $2",
            vec![now.into(), batch.into(), end.into(), id.into()],
        ),
    };
    Ok(subscriptions::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            values,
        ))
        .all(db)
        .await?)
}

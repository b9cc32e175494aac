//! The cycle's rules for one subscription whose period has ended, in DESIGN's order, as pure
//! functions of what was read: a scheduled plan takes effect; `cancel_at_period_end` expires;
//! a free plan renews; a paid plan spends a credit period, else is charged.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{SubscriptionStatus, plans, subscriptions};
use uuid::Uuid;

use crate::services::billing::periods::{Cadence, Period};
use crate::services::billing::subscription::cadence;

/// How a renewal was paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    Free,
    Credit,
    Provider,
}

impl Paid {
    pub fn as_str(self) -> &'static str {
        match self {
            Paid::Free => "free",
            Paid::Credit => "credit",
            Paid::Provider => "provider",
        }
    }
}

/// Why a subscription ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Canceled,
    Unpaid,
}

/// What becomes of a due subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Renew(Paid),
    Expire(Ending),
    /// The charge was declined: usage stops until it is paid or the grace period ends.
    PastDue {
        reason: String,
    },
    /// Still declined, still within the grace period: nothing to write.
    Wait,
}

/// The plan the subscription continues on: the scheduled one, if any.
pub fn next_plan_id(sub: &subscriptions::Model) -> Uuid {
    sub.scheduled_plan_id.unwrap_or(sub.plan_id)
}

/// The outcome when no payment is needed; `None` when the plan must be charged.
pub fn without_payment(sub: &subscriptions::Model, plan: &plans::Model) -> Option<Outcome> {
    if sub.cancel_at_period_end {
        Some(Outcome::Expire(Ending::Canceled))
    } else if plan.price_cents <= 0 {
        Some(Outcome::Renew(Paid::Free))
    } else if sub.credit_periods > 0 {
        Some(Outcome::Renew(Paid::Credit))
    } else {
        None
    }
}

/// After a decline: PAST_DUE at first, EXPIRED once `grace` has passed since the period
/// ended (never, when that lies beyond the calendar).
pub fn after_decline(
    sub: &subscriptions::Model,
    grace: TimeDelta,
    now: DateTime<Utc>,
    reason: String,
) -> Outcome {
    let grace_over = sub
        .current_period_end
        .checked_add_signed(grace)
        .is_some_and(|until| now >= until);
    if grace_over {
        Outcome::Expire(Ending::Unpaid)
    } else if sub.status == SubscriptionStatus::PastDue {
        Outcome::Wait
    } else {
        Outcome::PastDue { reason }
    }
}

/// The new period: the one on `plan`'s cadence that contains `now`, so that periods missed
/// while no worker ran are skipped in one step. It continues the old anchor when the cadence
/// is unchanged, and starts a new one at the old period's end otherwise (a plan with another
/// period, or a period that does not sit on the anchor's grid). `None` past the calendar.
pub fn next_period(
    sub: &subscriptions::Model,
    old_plan: &plans::Model,
    plan: &plans::Model,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Period)> {
    let old_end = sub.current_period_end;
    let on = cadence(plan);
    if on == cadence(old_plan) {
        let anchor = sub.period_anchor.unwrap_or(sub.current_period_start);
        if let Some(period) = on.containing(anchor, now)
            && period.start >= old_end
            && grid_has(on, anchor, old_end)
        {
            return Some((anchor, period));
        }
    }
    on.containing(old_end, now).map(|period| (old_end, period))
}

/// Whether `at` is one of the anchor's period boundaries.
fn grid_has(on: Cadence, anchor: DateTime<Utc>, at: DateTime<Utc>) -> bool {
    on.containing(anchor, at)
        .is_some_and(|period| period.start == at)
}

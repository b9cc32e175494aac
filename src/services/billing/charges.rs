//! Charges: claim, charge, commit.
//!
//! Money moves outside the database, so a charge is three steps, never one transaction:
//!
//! 1. **claim** — inside the transaction that holds the subscription exclusive
//!    ([`crate::services::locks`]), a `pending` row is written with the attempt's idempotency
//!    key, and committed. While it is pending, every other change to the subscription (a plan
//!    change, cancel, resume, a grant, a renewal) is refused or skipped: nothing can move
//!    under the charge.
//! 2. **charge** — the provider is asked, with no lock held (usage goes on meanwhile).
//! 3. **commit** — a second transaction locks the subscription again, settles the row
//!    (`applied` or `declined`) and writes what was paid for, only if the row is still pending.
//!
//! An attempt cut off between 1 and 3 (a crash, no answer) stays pending until its
//! [`LEASE`] passes; the cycle then asks the provider again *with the same key* — a provider
//! charges once per key — and commits the answer. A declined attempt is settled, and the next
//! one gets a new key (`attempt` + 1), so a provider never replays an old decline.

use chrono::{DateTime, TimeDelta, Utc};
use entity::{ChargePurpose, ChargeStatus, billing_charges, plans, subscriptions};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveEnum, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::json;
use uuid::Uuid;

use super::periods::Cadence;
use super::provider::Charge;
use super::subscription::cadence;
use crate::error::AppError;
use crate::services::audit;

/// How long a claimed charge may take before it counts as cut off.
pub const LEASE: TimeDelta = TimeDelta::minutes(5);

/// How long after a declined renewal the cycle asks the provider again (a new attempt, with a
/// new key). Passes run every minute; a card is not retried every minute.
pub const RETRY_AFTER_DECLINE: TimeDelta = TimeDelta::hours(1);

/// Refuses while a charge of `subscription_id` is pending. Call it holding the subscription
/// exclusive.
///
/// # Errors
/// `CONFLICT` when a charge is pending.
pub async fn ensure_none_pending<C: ConnectionTrait>(
    txn: &C,
    subscription_id: Uuid,
) -> Result<(), AppError> {
    match pending_of(txn, subscription_id).await? {
        Some(_) => Err(AppError::Conflict {
            field: None,
            message: "a payment for this subscription is being taken; try again in a moment"
                .to_owned(),
        }),
        None => Ok(()),
    }
}

/// The subscription's pending charge, if any (there is at most one).
pub async fn pending_of<C: ConnectionTrait>(
    db: &C,
    subscription_id: Uuid,
) -> Result<Option<billing_charges::Model>, AppError> {
    Ok(billing_charges::Entity::find()
        .filter(billing_charges::Column::SubscriptionId.eq(subscription_id))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Pending))
        .one(db)
        .await?)
}

/// What one attempt is for.
pub struct Claim<'a> {
    pub purpose: ChargePurpose,
    pub plan: &'a plans::Model,
    pub from_plan_id: Option<Uuid>,
    pub amount_cents: i64,
}

/// Step 1: writes a pending attempt for `sub`'s current period. The caller holds the
/// subscription exclusive, has checked that nothing is pending, and commits.
pub async fn claim<C: ConnectionTrait>(
    txn: &C,
    sub: &subscriptions::Model,
    claim: Claim<'_>,
    now: DateTime<Utc>,
) -> Result<billing_charges::Model, AppError> {
    let earlier = billing_charges::Entity::find()
        .filter(billing_charges::Column::SubscriptionId.eq(sub.id))
        .filter(billing_charges::Column::Purpose.eq(claim.purpose))
        .filter(billing_charges::Column::PeriodEnd.eq(sub.current_period_end))
        .count(txn)
        .await?;
    let attempt = i32::try_from(earlier + 1).unwrap_or(i32::MAX);
    let purpose = claim.purpose.to_value();
    let charge = billing_charges::Model {
        id: Uuid::now_v7(),
        subscription_id: sub.id,
        business_id: sub.business_id,
        purpose: claim.purpose,
        plan_id: claim.plan.id,
        from_plan_id: claim.from_plan_id,
        amount_cents: claim.amount_cents,
        currency: claim.plan.currency.clone(),
        period_end: sub.current_period_end,
        attempt,
        idempotency_key: key(&purpose, sub.id, sub.current_period_end, attempt),
        status: ChargeStatus::Pending,
        reason: None,
        lease_until: now + LEASE,
        created_at: now,
        settled_at: None,
    };
    billing_charges::Entity::insert(billing_charges::ActiveModel::from(charge.clone()))
        .exec_without_returning(txn)
        .await?;
    Ok(charge)
}

/// The idempotency key of an attempt: the attempt is counted per exact period end, so the
/// key names that end to the microsecond the database keeps (in whole seconds, two periods
/// restarted within one second shared their first attempt's key, and the second claim failed
/// on the unique key).
fn key(purpose: &str, subscription: Uuid, period_end: DateTime<Utc>, attempt: i32) -> String {
    format!(
        "saaskit:{purpose}:{subscription}:{}:{attempt}",
        period_end.timestamp_micros()
    )
}

/// Takes over a pending attempt that was cut off: a new lease, the same key.
pub async fn renew_lease<C: ConnectionTrait>(
    txn: &C,
    charge: &billing_charges::Model,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let taken = billing_charges::Entity::update_many()
        .col_expr(
            billing_charges::Column::LeaseUntil,
            Expr::value(now + LEASE),
        )
        .filter(billing_charges::Column::Id.eq(charge.id))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Pending))
        .filter(billing_charges::Column::LeaseUntil.lte(now))
        .exec(txn)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives up the lease of a pending attempt whose provider gave no answer, so that the next
/// pass asks again — with the same key — instead of waiting for the lease to run out.
pub async fn release<C: ConnectionTrait>(
    db: &C,
    charge_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    billing_charges::Entity::update_many()
        .col_expr(billing_charges::Column::LeaseUntil, Expr::value(now))
        .filter(billing_charges::Column::Id.eq(charge_id))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Pending))
        .exec(db)
        .await?;
    Ok(())
}

/// When the newest declined renewal attempt of `sub`'s current period was settled, if any.
pub async fn last_declined_renewal<C: ConnectionTrait>(
    db: &C,
    sub: &subscriptions::Model,
) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(billing_charges::Entity::find()
        .filter(billing_charges::Column::SubscriptionId.eq(sub.id))
        .filter(billing_charges::Column::Purpose.eq(ChargePurpose::Renewal))
        .filter(billing_charges::Column::PeriodEnd.eq(sub.current_period_end))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Declined))
        .order_by_desc(billing_charges::Column::Attempt)
        .one(db)
        .await?
        .and_then(|charge| charge.settled_at))
}

/// Settles an approved `charge` whose purchase could no longer be made (the subscription
/// changed meanwhile) as `unapplied`, and audits it for staff to refund. Nothing when another
/// process settled it first.
pub async fn settle_unapplied<C: ConnectionTrait>(
    txn: &C,
    charge: &billing_charges::Model,
    actor: Option<Uuid>,
    target: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if !settle(txn, charge.id, ChargeStatus::Unapplied, None, now).await? {
        return Ok(());
    }
    tracing::warn!(charge_id = %charge.id, "an approved charge could not be applied; refund it");
    let entry = audit::Entry {
        business_id: Some(charge.business_id),
        actor_user_id: actor,
        action: "subscription.charge_unapplied",
        target: Some(target.to_owned()),
        data: Some(
            json!({ "amountCents": charge.amount_cents, "chargeId": charge.id,
                           "purpose": charge.purpose }),
        ),
    };
    audit::record(txn, entry, now).await
}

/// Declined plan changes and restarts one subscription may try per [`DECLINES_WINDOW`]: a
/// caller with a declining card cannot make saaskit ask the provider without end.
pub const MAX_DECLINES: u64 = 5;
/// The window [`MAX_DECLINES`] counts over.
pub const DECLINES_WINDOW: TimeDelta = TimeDelta::hours(1);

/// Refuses another paid change of `subscription_id` after [`MAX_DECLINES`] declines in the
/// last [`DECLINES_WINDOW`]. Call it holding the subscription exclusive, before claiming.
///
/// # Errors
/// `RATE_LIMITED` with `retryAfter`: the seconds until the oldest counted decline leaves the
/// window.
pub async fn ensure_may_try<C: ConnectionTrait>(
    txn: &C,
    subscription_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let declined: Vec<DateTime<Utc>> = billing_charges::Entity::find()
        .select_only()
        .column(billing_charges::Column::CreatedAt)
        .filter(billing_charges::Column::SubscriptionId.eq(subscription_id))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Declined))
        .filter(billing_charges::Column::Purpose.ne(ChargePurpose::Renewal))
        .filter(billing_charges::Column::CreatedAt.gt(now - DECLINES_WINDOW))
        .order_by_desc(billing_charges::Column::CreatedAt)
        .limit(MAX_DECLINES)
        .into_tuple()
        .all(txn)
        .await?;
    match declined.last() {
        Some(oldest) if declined.len() as u64 >= MAX_DECLINES => Err(AppError::RateLimited {
            retry_after_secs: u64::try_from((*oldest + DECLINES_WINDOW - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        }),
        _ => Ok(()),
    }
}

/// What the provider is asked for `charge`.
pub fn request(charge: &billing_charges::Model) -> Charge {
    Charge {
        subscription_id: charge.subscription_id,
        business_id: charge.business_id,
        plan_id: charge.plan_id,
        purpose: charge.purpose,
        amount_cents: charge.amount_cents,
        currency: charge.currency.clone(),
        period_end: charge.period_end,
        idempotency_key: charge.idempotency_key.clone(),
    }
}

/// Step 3's bookkeeping: settles `charge_id` as `status` if it is still pending; `false` when
/// another process settled it first (then the caller writes nothing).
pub async fn settle<C: ConnectionTrait>(
    txn: &C,
    charge_id: Uuid,
    status: ChargeStatus,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let settled = billing_charges::Entity::update_many()
        .col_expr(billing_charges::Column::Status, Expr::value(status))
        .col_expr(billing_charges::Column::Reason, Expr::value(reason))
        .col_expr(billing_charges::Column::SettledAt, Expr::value(now))
        .filter(billing_charges::Column::Id.eq(charge_id))
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Pending))
        .exec(txn)
        .await?;
    Ok(settled.rows_affected == 1)
}

/// Pending attempts whose lease has passed, oldest first: cut off, to be asked again.
pub async fn cut_off<C: ConnectionTrait>(
    db: &C,
    purposes: &[ChargePurpose],
    now: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<billing_charges::Model>, AppError> {
    Ok(billing_charges::Entity::find()
        .filter(billing_charges::Column::Status.eq(ChargeStatus::Pending))
        .filter(billing_charges::Column::LeaseUntil.lte(now))
        .filter(billing_charges::Column::Purpose.is_in(purposes.iter().copied()))
        .order_by_asc(billing_charges::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// What moving from `from` to `to` for the rest of the period `[start, end)` costs at `now`:
/// each plan priced by the second over one of its own periods from `start`, the difference
/// over the time left, rounded up to the cent. Zero or less means nothing is charged (and
/// nothing refunded).
pub fn prorated(
    from: &plans::Model,
    to: &plans::Model,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
) -> i64 {
    let left = i128::from((end - now.max(start)).num_seconds().max(0));
    let (to_len, from_len) = (
        i128::from(period_seconds(cadence(to), start)),
        i128::from(period_seconds(cadence(from), start)),
    );
    // In exact integers: to's price per second minus from's, times the seconds left, as one
    // fraction over both periods' lengths; whole cents, rounded up.
    let numerator =
        (i128::from(to.price_cents) * from_len - i128::from(from.price_cents) * to_len) * left;
    let denominator = to_len * from_len;
    if numerator <= 0 {
        return 0;
    }
    i64::try_from((numerator + denominator - 1) / denominator).unwrap_or(i64::MAX)
}

fn period_seconds(cadence: Cadence, start: DateTime<Utc>) -> i64 {
    cadence
        .boundary(start, 1)
        .map_or(i64::MAX, |end| (end - start).num_seconds().max(1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn periods_ending_within_one_second_have_their_own_keys() {
        let subscription = uuid::Uuid::now_v7();
        let end = chrono::DateTime::from_timestamp(1_799_093_932, 284_501_000).expect("a time");
        let later = end + chrono::TimeDelta::milliseconds(155);
        assert_ne!(
            super::key("plan_change", subscription, end, 1),
            super::key("plan_change", subscription, later, 1)
        );
    }

    use chrono::TimeZone;
    use entity::PeriodUnit;

    use super::*;

    fn plan(price_cents: i64, unit: PeriodUnit) -> plans::Model {
        let now = Utc::now();
        plans::Model {
            id: Uuid::now_v7(),
            code: format!("p{price_cents}"),
            name: "plan".to_owned(),
            description: None,
            price_cents,
            currency: "usd".to_owned(),
            period_count: 1,
            period_unit: unit,
            is_public: true,
            is_default: false,
            archived_at: None,
            created_at: now,
            updated_at: now,
        }
    }

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 4, d, 0, 0, 0)
            .single()
            .expect("a date")
    }

    #[test]
    fn an_upgrade_halfway_through_costs_half_the_difference() {
        let (free, pro) = (plan(0, PeriodUnit::Month), plan(3_000, PeriodUnit::Month));
        // April has 30 days: from the 16th, half of it is left.
        assert_eq!(
            prorated(&free, &pro, day(1), day(1) + TimeDelta::days(30), day(16)),
            1_500
        );
        assert_eq!(
            prorated(&pro, &free, day(1), day(1) + TimeDelta::days(30), day(16)),
            0
        );
        assert_eq!(
            prorated(&free, &pro, day(1), day(1) + TimeDelta::days(30), day(1)),
            3_000
        );
    }

    #[test]
    fn nothing_is_charged_once_the_period_is_over() {
        let (free, pro) = (plan(0, PeriodUnit::Month), plan(3_000, PeriodUnit::Month));
        let end = day(1) + TimeDelta::days(30);
        assert_eq!(prorated(&free, &pro, day(1), end, end), 0);
    }

    #[test]
    fn plans_of_other_periods_are_priced_by_the_second() {
        let monthly = plan(1_000, PeriodUnit::Month);
        let yearly = plan(12_000, PeriodUnit::Year);
        // 12,000 a year is about 986 a 30-day month: cheaper per second than 1,000 a month.
        let end = day(1) + TimeDelta::days(30);
        assert_eq!(prorated(&monthly, &yearly, day(1), end, day(1)), 0);
        assert!(prorated(&yearly, &monthly, day(1), end, day(1)) > 0);
    }
}

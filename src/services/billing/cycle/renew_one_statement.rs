//! PostgreSQL: a renewal as one statement.
//!
//! The portable renewal ([`super::renew::settle`]) is a transaction of six statements: claim
//! the subscription, lock its counters, archive them, reset them, write the audit. On
//! PostgreSQL the same writes fit in one statement of data-modifying CTEs, which commits on
//! its own: one round trip instead of eight (with `BEGIN` and `COMMIT`), which is what lets a
//! pass keep up with the database (`bench/cycle.sh`). Every write hangs off `claimed` — the
//! conditional update of the subscription as it was read — so a renewal that lost the race to
//! another pass writes nothing, exactly as the portable one. Alone, the statement is exact
//! only when every resetting counter already exists (see [`renew`]); otherwise the caller runs
//! it again after locking the subscription.

use chrono::{DateTime, Utc};
use entity::subscriptions;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
use uuid::Uuid;

use crate::error::AppError;
use crate::services::billing::periods::Period;

/// A UUIDv7 made by PostgreSQL (15 has no `uuidv7()`): `usage_periods` are listed newest
/// first by id, so archived periods need time-ordered ids like every other row.
macro_rules! uuid_v7 {
    () => {
        "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing \
           substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) \
           FROM 3) FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid"
    };
}

/// A resetting metric of the old plan ($4) with no counter of subscription $1 in the
/// statement's snapshot: a first use may be creating it right now, unseen by the statement.
macro_rules! missing {
    () => {
        "SELECT 1 FROM plan_limits l WHERE l.plan_id = $4 AND l.resets_each_period \
         AND NOT EXISTS (SELECT 1 FROM usage_counters c WHERE c.subscription_id = $1 \
         AND c.metric = l.metric)"
    };
}

/// $1 id, $2 old period end, $3 old status, $4 old plan, $5 old scheduled plan, $6 old
/// cancel flag, $7 old credits (the subscription as read); $8 new plan, $9 new period start,
/// $10 new period end, $11 anchor, $12 credits spent, $13 now; $14 renewal audit id, $15 its
/// data (without `countersArchived`, added here); $16 plan-change audit id (NULL: none),
/// $17 its data; $18 business, $19 audit target (the plan's code); $20 the old period's start;
/// $21 whether to refuse (write nothing, `missing` true) when a resetting counter is missing
/// from the statement's snapshot. A subscription with a charge pending in the snapshot is
/// left alone (as the portable renewal leaves it): the charge settles first. A charge claimed
/// after the snapshot but before this statement locked the row is the one case it cannot
/// see; that charge then finds the period moved on and is settled `unapplied`, audited for
/// staff to refund.
const RENEW: &str = concat!(
    "WITH claimed AS (\
       UPDATE subscriptions SET plan_id = $8, scheduled_plan_id = NULL, updated_at = $13, \
         current_period_start = $9, current_period_end = $10, period_anchor = $11, \
         status = 'active', credit_periods = credit_periods - $12 \
       WHERE id = $1 AND current_period_end = $2 AND status = $3 AND plan_id = $4 \
         AND scheduled_plan_id IS NOT DISTINCT FROM $5 AND cancel_at_period_end = $6 \
         AND credit_periods = $7 \
         AND NOT ($21 AND EXISTS (",
    missing!(),
    ")) \
         AND NOT EXISTS (SELECT 1 FROM billing_charges b WHERE b.subscription_id = $1 \
                         AND b.status = 'pending') \
       RETURNING id), \
     counters AS (\
       SELECT c.metric, c.used FROM usage_counters c \
       JOIN plan_limits l ON l.plan_id = $4 AND l.metric = c.metric AND l.resets_each_period \
       WHERE c.subscription_id = (SELECT id FROM claimed) \
       ORDER BY c.metric \
       FOR UPDATE OF c), \
     archived AS (\
       INSERT INTO usage_periods (id, subscription_id, metric, period_start, period_end, used) \
       SELECT ",
    uuid_v7!(),
    ", $1, metric, $20, $9, used FROM counters \
       ON CONFLICT (subscription_id, metric, period_start) DO NOTHING \
       RETURNING 1), \
     reset AS (\
       UPDATE usage_counters c SET used = 0, period_start = $9 FROM counters k \
       WHERE c.subscription_id = $1 AND c.metric = k.metric), \
     audited AS (\
       INSERT INTO audit_events (id, business_id, actor_user_id, action, target, data, created_at) \
       SELECT a.id, $18, NULL, a.action, $19, a.data, $13 FROM claimed, (VALUES \
         ($16::uuid, 'subscription.plan_changed', $17::json), \
         ($14::uuid, 'subscription.renewed', \
          ($15::jsonb || jsonb_build_object('countersArchived', \
                                            (SELECT count(*) FROM archived)))::json)) \
         AS a(id, action, data) \
       WHERE a.id IS NOT NULL) \
     SELECT (SELECT count(*) FROM claimed) AS claimed, (SELECT count(*) FROM archived) AS archived, \
       EXISTS (",
    missing!(),
    ") AS missing"
);

/// A renewal's new state, as [`super::decide`] chose it.
pub struct Renewal<'a> {
    pub plan_id: Uuid,
    pub plan_code: &'a str,
    pub period: Period,
    pub anchor: DateTime<Utc>,
    pub credits_spent: i32,
    /// The `subscription.renewed` audit data but `countersArchived`.
    pub renewed: serde_json::Value,
    /// The `subscription.plan_changed` audit data, when the plan changes.
    pub plan_changed: Option<serde_json::Value>,
}

/// What the statement did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Renewed {
    /// Renewed; this many counters archived.
    Archived(u64),
    /// Another pass (or a person) changed the subscription first: nothing written.
    Skipped,
    /// Asked to (`whole`), it wrote nothing: a resetting metric had no counter in its snapshot,
    /// so a first use may be creating one unseen. Renew holding the subscription instead.
    CounterMissing,
}

/// Renews `sub` if it is still as read. With `whole`, only when every resetting metric of the
/// old plan already has a counter (then no first use can be creating one the statement would
/// not see): on its own, the statement is exact only then. Without it, the caller holds the
/// subscription exclusive, so every usage write has committed before the statement began.
///
/// # Errors
/// The database failed; nothing is written then (one statement).
pub async fn renew<C: ConnectionTrait>(
    db: &C,
    sub: &subscriptions::Model,
    renewal: Renewal<'_>,
    whole: bool,
    now: DateTime<Utc>,
) -> Result<Renewed, AppError> {
    let plan_change_id = renewal.plan_changed.as_ref().map(|_| Uuid::now_v7());
    let renewed_id = Uuid::now_v7();
    let values: Vec<Value> = vec![
        sub.id.into(),
        sub.current_period_end.into(),
        sea_orm::ActiveEnum::to_value(&sub.status).into(),
        sub.plan_id.into(),
        sub.scheduled_plan_id.into(),
        sub.cancel_at_period_end.into(),
        sub.credit_periods.into(),
        renewal.plan_id.into(),
        renewal.period.start.into(),
        renewal.period.end.into(),
        renewal.anchor.into(),
        renewal.credits_spent.into(),
        now.into(),
        renewed_id.into(),
        renewal.renewed.into(),
        plan_change_id.into(),
        renewal.plan_changed.into(),
        sub.business_id.into(),
        renewal.plan_code.to_owned().into(),
        sub.current_period_start.into(),
        whole.into(),
    ];
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            RENEW,
            values,
        ))
        .await?
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the renewal returned no row")))?;
    let claimed: i64 = row.try_get("", "claimed")?;
    let archived: i64 = row.try_get("", "archived")?;
    let missing: bool = row.try_get("", "missing")?;
    Ok(if claimed > 0 {
        Renewed::Archived(u64::try_from(archived).unwrap_or(0))
    } else if whole && missing {
        Renewed::CounterMissing
    } else {
        Renewed::Skipped
    })
}

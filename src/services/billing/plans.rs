//! Plans and their limits.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{PeriodUnit, plan_limits, plans};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::error::{AppError, is_unique_violation};

/// Most plans one list returns (`plans`, `allPlans`): the cheapest ones. The document limits
/// count a plan list as this long.
pub const MAX_LISTED: u64 = 100;

/// Most limits (metrics) one plan has; `createPlan` and `updatePlan` refuse more. A plan's
/// `limits` and a subscription's `usage` (one per limit) are therefore at most this long.
pub const MAX_LIMITS: usize = 20;

/// The plans anyone may see: public and not archived, cheapest first, at most [`MAX_LISTED`].
#[tracing::instrument(skip_all)]
pub async fn list_public<C: ConnectionTrait>(db: &C) -> Result<Vec<plans::Model>, AppError> {
    Ok(plans::Entity::find()
        .filter(plans::Column::IsPublic.eq(true))
        .filter(plans::Column::ArchivedAt.is_null())
        .order_by_asc(plans::Column::PriceCents)
        .order_by_asc(plans::Column::Code)
        .limit(MAX_LISTED)
        .all(db)
        .await?)
}

/// Whether the database answers with saaskit's tables in it (for readiness probes).
///
/// # Errors
/// The database is unreachable or not migrated.
pub async fn check_schema<C: ConnectionTrait>(db: &C) -> Result<(), AppError> {
    plans::Entity::find().one(db).await?;
    Ok(())
}

/// The limits of each of `plan_ids`, in one query, ordered by metric. A plan without limits
/// maps to an empty list.
#[tracing::instrument(skip_all, fields(plans = plan_ids.len()))]
pub async fn limits_for<C: ConnectionTrait>(
    db: &C,
    plan_ids: &[Uuid],
) -> Result<HashMap<Uuid, Vec<plan_limits::Model>>, AppError> {
    let rows = plan_limits::Entity::find()
        .filter(plan_limits::Column::PlanId.is_in(plan_ids.iter().copied()))
        .order_by_asc(plan_limits::Column::Metric)
        .all(db)
        .await?;
    let mut by_plan: HashMap<Uuid, Vec<plan_limits::Model>> =
        plan_ids.iter().map(|id| (*id, Vec::new())).collect();
    for row in rows {
        by_plan.entry(row.plan_id).or_default().push(row);
    }
    Ok(by_plan)
}

/// One metric's limit as the seed writes it.
struct SeedLimit {
    metric: &'static str,
    max: Option<i64>,
    resets_each_period: bool,
}

struct SeedPlan {
    code: &'static str,
    name: &'static str,
    description: &'static str,
    price_cents: i64,
    is_public: bool,
    is_default: bool,
    limits: [SeedLimit; 3],
}

const fn limits(
    recordings: Option<i64>,
    applications: Option<i64>,
    members: Option<i64>,
) -> [SeedLimit; 3] {
    [
        SeedLimit {
            metric: "recordings",
            max: recordings,
            resets_each_period: true,
        },
        SeedLimit {
            metric: "applications",
            max: applications,
            resets_each_period: false,
        },
        SeedLimit {
            metric: "members",
            max: members,
            resets_each_period: false,
        },
    ]
}

const DEFAULT_PLANS: [SeedPlan; 3] = [
    SeedPlan {
        code: "free",
        name: "Free",
        description: "For trying things out.",
        price_cents: 0,
        is_public: true,
        is_default: true,
        limits: limits(Some(1_000), Some(1), Some(3)),
    },
    SeedPlan {
        code: "pro",
        name: "Pro",
        description: "For teams in production.",
        price_cents: 4_900,
        is_public: true,
        is_default: false,
        limits: limits(Some(100_000), Some(10), Some(20)),
    },
    SeedPlan {
        code: "unlimited",
        name: "Unlimited",
        description: "Granted by staff, e.g. to beta users.",
        price_cents: 0,
        is_public: false,
        is_default: false,
        limits: limits(None, None, None),
    },
];

/// Seeds `free`, `pro` and `unlimited` when there are no plans at all; returns whether it did.
/// Safe when several processes start at once: the one that loses the race seeds nothing.
#[tracing::instrument(skip_all)]
pub async fn seed_defaults<C: TransactionTrait + ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    if plans::Entity::find().count(db).await? > 0 {
        return Ok(false);
    }
    let txn = crate::db::begin_write(db).await?;
    for seed in &DEFAULT_PLANS {
        let id = Uuid::now_v7();
        let plan = plans::ActiveModel {
            id: Set(id),
            code: Set(seed.code.to_owned()),
            name: Set(seed.name.to_owned()),
            description: Set(Some(seed.description.to_owned())),
            price_cents: Set(seed.price_cents),
            currency: Set("USD".to_owned()),
            period_count: Set(1),
            period_unit: Set(PeriodUnit::Month),
            is_public: Set(seed.is_public),
            is_default: Set(seed.is_default),
            archived_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        };
        match plans::Entity::insert(plan)
            .exec_without_returning(&txn)
            .await
        {
            Ok(_) => {}
            // A concurrent start seeded first; its plans stand.
            Err(err) if is_unique_violation(&err) => {
                txn.rollback().await?;
                return Ok(false);
            }
            Err(err) => return Err(err.into()),
        }
        let limits = seed.limits.iter().map(|limit| plan_limits::ActiveModel {
            plan_id: Set(id),
            metric: Set(limit.metric.to_owned()),
            max: Set(limit.max),
            resets_each_period: Set(limit.resets_each_period),
        });
        plan_limits::Entity::insert_many(limits)
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    tracing::info!("seeded the default plans: free, pro, unlimited");
    Ok(true)
}

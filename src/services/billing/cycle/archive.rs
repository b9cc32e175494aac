//! The end of a period for the usage counters: each resetting counter is written to
//! `usage_periods` and starts again from zero.

use chrono::{DateTime, Utc};
use entity::{usage_counters, usage_periods};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
};
use uuid::Uuid;

use crate::error::AppError;

/// The span of usage that ends.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Archives every counter of `subscription_id` whose metric resets on `plan_id` as one
/// `usage_periods` row for `span`, and resets it to zero for the period that starts at
/// `next_start`. Returns how many counters were archived.
///
/// Run it inside the transaction that moves the subscription's period: the counters are
/// locked first (PostgreSQL), so a `recordUsage` that commits meanwhile waits and lands in
/// the new period instead of being lost between the archive and the reset. The unique key
/// `(subscription_id, metric, period_start)` keeps a span from being archived twice.
#[tracing::instrument(skip_all, fields(%subscription_id))]
pub async fn archive_and_reset<C: ConnectionTrait>(
    db: &C,
    subscription_id: Uuid,
    plan_id: Uuid,
    span: Span,
    next_start: DateTime<Utc>,
) -> Result<u64, AppError> {
    let backend = db.get_database_backend();
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE OF c"
    } else {
        ""
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "SELECT c.metric, c.used FROM usage_counters c \
                 JOIN plan_limits l ON l.plan_id = $2 AND l.metric = c.metric \
                 WHERE c.subscription_id = $1 AND l.resets_each_period ORDER BY c.metric{lock}"
            ),
            [subscription_id.into(), plan_id.into()],
        ))
        .await?;
    let mut archived = Vec::with_capacity(rows.len());
    let mut metrics = Vec::with_capacity(rows.len());
    for row in rows {
        let metric: String = row.try_get("", "metric")?;
        let used: i64 = row.try_get("", "used")?;
        archived.push(usage_periods::ActiveModel {
            id: Set(Uuid::now_v7()),
            subscription_id: Set(subscription_id),
            metric: Set(metric.clone()),
            period_start: Set(span.start),
            period_end: Set(span.end),
            used: Set(used),
        });
        metrics.push(metric);
    }
    if metrics.is_empty() {
        return Ok(0);
    }
    let inserted = usage_periods::Entity::insert_many(archived)
        .on_conflict(
            OnConflict::columns([
                usage_periods::Column::SubscriptionId,
                usage_periods::Column::Metric,
                usage_periods::Column::PeriodStart,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    usage_counters::Entity::update_many()
        .col_expr(usage_counters::Column::Used, Expr::value(0i64))
        .col_expr(usage_counters::Column::PeriodStart, Expr::value(next_start))
        .filter(usage_counters::Column::SubscriptionId.eq(subscription_id))
        .filter(usage_counters::Column::Metric.is_in(metrics))
        .exec(db)
        .await?;
    Ok(inserted)
}

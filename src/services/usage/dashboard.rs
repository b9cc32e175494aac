//! What the dashboard shows: every metric of the plan and what has been used of it.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, team_members};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    Statement,
};
use uuid::Uuid;

use crate::error::AppError;

/// One metric on the dashboard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub metric: String,
    pub used: i64,
    pub limit: Option<i64>,
    /// When the counter starts again from zero; `None` for metrics that do not reset.
    pub resets_at: Option<DateTime<Utc>>,
}

/// Every metric of the business's plan with what it has used, in one query (plus one count of
/// seats for `members`).
pub async fn of_business(
    db: &DatabaseConnection,
    business_id: Uuid,
) -> Result<Vec<Usage>, AppError> {
    let backend = db.get_database_backend();
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            "SELECT l.metric, l.max, l.resets_each_period, c.used, s.current_period_end \
             FROM subscriptions s \
             JOIN plan_limits l ON l.plan_id = s.plan_id \
             LEFT JOIN usage_counters c ON c.subscription_id = s.id AND c.metric = l.metric \
             WHERE s.business_id = $1 \
             ORDER BY l.metric",
            [business_id.into()],
        ))
        .await?;
    let mut usage = Vec::with_capacity(rows.len());
    for row in rows {
        let metric: String = row.try_get("", "metric")?;
        let resets: bool = row.try_get("", "resets_each_period")?;
        let used = if metric == "members" {
            seats(db, business_id).await?
        } else {
            row.try_get::<Option<i64>>("", "used")?.unwrap_or(0)
        };
        usage.push(Usage {
            metric,
            used,
            limit: row.try_get("", "max")?,
            resets_at: if resets {
                Some(row.try_get("", "current_period_end")?)
            } else {
                None
            },
        });
    }
    Ok(usage)
}

/// Seats taken: invited and active human members.
pub async fn seats<C: ConnectionTrait>(db: &C, business_id: Uuid) -> Result<i64, AppError> {
    let count = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .filter(team_members::Column::Status.is_in([MemberStatus::Invited, MemberStatus::Active]))
        .count(db)
        .await?;
    Ok(i64::try_from(count).unwrap_or(i64::MAX))
}

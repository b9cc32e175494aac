//! Batch reads by id, for the GraphQL loaders: one query for many ids.

use std::collections::HashMap;

use entity::{audit_events, businesses, plans, subscriptions, usage_periods, users};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::AppError;

pub async fn users<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, users::Model>, AppError> {
    let rows = users::Entity::find()
        .filter(users::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

pub async fn plans<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, plans::Model>, AppError> {
    let rows = plans::Entity::find()
        .filter(plans::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

pub async fn businesses<C: ConnectionTrait>(
    db: &C,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, businesses::Model>, AppError> {
    let rows = businesses::Entity::find()
        .filter(businesses::Column::Id.is_in(ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row)).collect())
}

/// Subscriptions by the id of their business.
pub async fn subscriptions_of<C: ConnectionTrait>(
    db: &C,
    business_ids: &[Uuid],
) -> Result<HashMap<Uuid, subscriptions::Model>, AppError> {
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::BusinessId.is_in(business_ids.iter().copied()))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.business_id, row)).collect())
}

/// One page of a business's audit log, newest first: entries older than `before`, at most
/// `limit` plus one (to tell whether there is more).
pub async fn audit_page<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<audit_events::Model>, AppError> {
    let mut query = audit_events::Entity::find()
        .filter(audit_events::Column::BusinessId.eq(business_id))
        .order_by_desc(audit_events::Column::Id);
    if let Some(before) = before {
        query = query.filter(audit_events::Column::Id.lt(before));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// One page of a business's archived usage, newest first (rows are archived in period order,
/// and ids sort by creation): rows older than `before`, at most `limit` plus one.
pub async fn usage_history_page<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    before: Option<Uuid>,
    limit: u64,
) -> Result<Vec<usage_periods::Model>, AppError> {
    let mut query = usage_periods::Entity::find()
        .inner_join(subscriptions::Entity)
        .filter(subscriptions::Column::BusinessId.eq(business_id))
        .order_by_desc(usage_periods::Column::Id);
    if let Some(before) = before {
        query = query.filter(usage_periods::Column::Id.lt(before));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

//! The audit log: who did what to which business.

use chrono::{DateTime, Utc};
use entity::audit_events;
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use uuid::Uuid;

use crate::error::AppError;

/// One entry to write.
pub struct Entry<'a> {
    pub business_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub action: &'a str,
    pub target: Option<String>,
    pub data: Option<serde_json::Value>,
}

/// Writes `entry` (inside the caller's transaction when given one).
#[tracing::instrument(skip_all, fields(action = entry.action))]
pub async fn record<C: ConnectionTrait>(
    db: &C,
    entry: Entry<'_>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    audit_events::Entity::insert(audit_events::ActiveModel {
        id: Set(Uuid::now_v7()),
        business_id: Set(entry.business_id),
        actor_user_id: Set(entry.actor_user_id),
        action: Set(entry.action.to_owned()),
        target: Set(entry.target),
        data: Set(entry.data),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

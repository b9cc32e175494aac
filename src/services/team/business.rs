//! Businesses: reading, renaming and memberships.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, businesses, team_members};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionSession, TransactionTrait,
};
use uuid::Uuid;

use crate::error::AppError;
use crate::services::{audit, validate};

/// # Errors
/// `NOT_FOUND` when there is no such business.
pub async fn get<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<businesses::Model, AppError> {
    businesses::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "business" })
}

/// Renames the business; a `None` name changes nothing. The change and its audit entry are
/// one transaction.
///
/// # Errors
/// `BAD_USER_INPUT` on `name`; `NOT_FOUND` when there is no such business.
pub async fn update<C: ConnectionTrait + TransactionTrait>(
    db: &C,
    actor: Uuid,
    id: Uuid,
    name: Option<&str>,
    now: DateTime<Utc>,
) -> Result<businesses::Model, AppError> {
    let Some(name) = name else {
        return get(db, id).await;
    };
    let name = validate::name(name, "name")?;
    let txn = crate::db::begin_write(db).await?;
    let business = get(&txn, id).await?;
    let mut active: businesses::ActiveModel = business.into();
    active.name = Set(name.clone());
    active.updated_at = Set(now);
    let updated = businesses::Entity::update(active).exec(&txn).await?;
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(id),
            actor_user_id: Some(actor),
            action: "business.updated",
            target: None,
            data: Some(serde_json::json!({ "name": name })),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// Most memberships one user's list returns (`Viewer.memberships`): the most recently joined.
/// The document limits count the list as this long.
pub const MAX_MEMBERSHIPS: u64 = 100;

/// The businesses `user_id` is an active human member of, with the role in each, most
/// recently joined first, at most [`MAX_MEMBERSHIPS`].
pub async fn memberships<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
) -> Result<Vec<(businesses::Model, Role)>, AppError> {
    let rows = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(user_id))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .order_by_desc(team_members::Column::JoinedAt)
        .limit(MAX_MEMBERSHIPS)
        .find_also_related(businesses::Entity)
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(member, business)| business.map(|b| (b, member.role)))
        .collect())
}

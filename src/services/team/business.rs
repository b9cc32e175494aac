//! Businesses: reading, renaming, memberships, and staff's search over all of them.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, businesses, team_members, users};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
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

/// One page of all businesses, oldest first, for staff: those after `after`, at most `limit`
/// (plus one, to tell whether there is more), matching `search` in their name or in a member's
/// e-mail when given.
pub async fn search<C: ConnectionTrait>(
    db: &C,
    search: Option<&str>,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<businesses::Model>, AppError> {
    let mut query = businesses::Entity::find().order_by_asc(businesses::Column::Id);
    if let Some(after) = after {
        query = query.filter(businesses::Column::Id.gt(after));
    }
    if let Some(term) = search.map(str::trim).filter(|t| !t.is_empty()) {
        let pattern = format!("%{}%", escape_like(&term.to_lowercase()));
        let by_member = Query::select()
            .column(team_members::Column::BusinessId)
            .from(team_members::Entity)
            .inner_join(
                users::Entity,
                Expr::col((users::Entity, users::Column::Id))
                    .equals((team_members::Entity, team_members::Column::UserId)),
            )
            .and_where(Expr::col((users::Entity, users::Column::Email)).like(like(&pattern)))
            .to_owned();
        query = query.filter(
            Condition::any()
                .add(
                    Expr::expr(Func::lower(Expr::col((
                        businesses::Entity,
                        businesses::Column::Name,
                    ))))
                    .like(like(&pattern)),
                )
                .add(businesses::Column::Id.in_subquery(by_member)),
        );
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

fn like(pattern: &str) -> sea_orm::sea_query::LikeExpr {
    sea_orm::sea_query::LikeExpr::new(pattern).escape('\\')
}

fn escape_like(term: &str) -> String {
    term.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

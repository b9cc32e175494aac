//! Managing members: changing roles, deactivating and reactivating. Rights live in tokens, so
//! every change that takes rights away revokes the member's sessions in the business in the
//! same transaction; the caller forgets their cached tokens after commit
//! ([`Changed::revoked_user`]).

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, SessionKind, sessions, team_members};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter,
};
use serde_json::json;
use uuid::Uuid;

use super::{Actor, find_member, role_name, seats};
use crate::error::AppError;
use crate::services::{audit, locks};

/// A member after a change, and the user whose tokens must be forgotten (when any were revoked).
pub struct Changed {
    pub member: team_members::Model,
    pub revoked_user: Option<Uuid>,
}

/// Gives member `member_id` the role `role`; the same role changes nothing.
///
/// # Errors
/// `NOT_FOUND` (another business's member, the SDK member); `BAD_USER_INPUT` on `role` for SDK,
/// and for OWNER on a pending invitation;
/// `FORBIDDEN` for one's own role, for OWNER/ADMIN changes by a non-owner, and for demoting the
/// last active owner.
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn update_role(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    locks::retrying(|| update_role_once(db, actor, member_id, role, now)).await
}

async fn update_role_once(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    if role == Role::Sdk {
        return Err(AppError::bad_input(
            "role",
            "members are OWNER, ADMIN or MEMBER",
        ));
    }
    let txn = crate::db::begin_write(db).await?;
    locks::team(&txn, actor.business_id).await?;
    let member = find_member(&txn, actor, member_id).await?;
    if member.user_id == actor.user_id {
        return Err(AppError::forbidden("you cannot change your own role"));
    }
    actor.ensure_may_manage(member.role)?;
    actor.ensure_may_manage(role)?;
    // Invitations are for ADMIN or MEMBER, however they are changed after they are sent.
    if member.status == MemberStatus::Invited && role == Role::Owner {
        return Err(AppError::bad_input(
            "role",
            "an invitation is for ADMIN or MEMBER; make them an owner once they have joined",
        ));
    }
    if member.role == role {
        return Ok(unchanged(member));
    }
    if member.role == Role::Owner {
        ensure_not_last_owner(&txn, &member).await?;
    }
    let changed = change(&txn, member.clone(), Some(role), None, now).await?;
    let data = json!({ "from": role_name(member.role), "to": role_name(role) });
    record(&txn, actor, "member.role_changed", &member, data, now).await?;
    txn.commit().await?;
    Ok(changed)
}

/// Deactivates member `member_id`: its sessions in the business end at once. Deactivating a
/// deactivated member changes nothing.
///
/// # Errors
/// `NOT_FOUND` as [`update_role`]; `BAD_USER_INPUT` on `memberId` for a pending invitation
/// (revoke it instead); `FORBIDDEN` for oneself, for owners and admins when the actor is not an
/// owner, and for the last active owner.
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn deactivate(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    locks::retrying(|| deactivate_once(db, actor, member_id, now)).await
}

async fn deactivate_once(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    let txn = crate::db::begin_write(db).await?;
    locks::team(&txn, actor.business_id).await?;
    let member = find_member(&txn, actor, member_id).await?;
    if member.user_id == actor.user_id {
        return Err(AppError::forbidden("you cannot deactivate yourself"));
    }
    actor.ensure_may_manage(member.role)?;
    match member.status {
        MemberStatus::Deactivated => return Ok(unchanged(member)),
        MemberStatus::Invited => return Err(not_active_yet()),
        MemberStatus::Active => {}
    }
    if member.role == Role::Owner {
        ensure_not_last_owner(&txn, &member).await?;
    }
    let changed = change(
        &txn,
        member.clone(),
        None,
        Some(MemberStatus::Deactivated),
        now,
    )
    .await?;
    record(&txn, actor, "member.deactivated", &member, json!({}), now).await?;
    txn.commit().await?;
    Ok(changed)
}

/// Reactivates a deactivated member, if a seat is free. Reactivating an active member changes
/// nothing.
///
/// # Errors
/// `NOT_FOUND` and `FORBIDDEN` as [`deactivate`]; `BAD_USER_INPUT` on `memberId` for a pending
/// invitation; `QUOTA_EXCEEDED` (`members`) when the seats are taken.
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn reactivate(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    locks::retrying(|| reactivate_once(db, actor, member_id, now)).await
}

async fn reactivate_once(
    db: &DatabaseConnection,
    actor: &Actor,
    member_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    let txn = crate::db::begin_write(db).await?;
    locks::team(&txn, actor.business_id).await?;
    let member = find_member(&txn, actor, member_id).await?;
    actor.ensure_may_manage(member.role)?;
    match member.status {
        MemberStatus::Active => return Ok(unchanged(member)),
        MemberStatus::Invited => return Err(not_active_yet()),
        MemberStatus::Deactivated => {}
    }
    seats::ensure_one_free(&txn, actor.business_id).await?;
    let mut changed = change(&txn, member.clone(), None, Some(MemberStatus::Active), now).await?;
    changed.revoked_user = None;
    record(&txn, actor, "member.reactivated", &member, json!({}), now).await?;
    txn.commit().await?;
    Ok(changed)
}

fn unchanged(member: team_members::Model) -> Changed {
    Changed {
        member,
        revoked_user: None,
    }
}

fn not_active_yet() -> AppError {
    AppError::bad_input(
        "memberId",
        "this member has not accepted their invitation; revoke it instead",
    )
}

async fn ensure_not_last_owner<C: ConnectionTrait>(
    db: &C,
    member: &team_members::Model,
) -> Result<(), AppError> {
    let owners = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(member.business_id))
        .filter(team_members::Column::Role.eq(Role::Owner))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .filter(team_members::Column::Id.ne(member.id))
        .count(db)
        .await?;
    if owners == 0 && member.status == MemberStatus::Active {
        return Err(AppError::forbidden(
            "a business keeps at least one active owner",
        ));
    }
    Ok(())
}

/// Writes the new role or status and revokes the member's sessions in the business.
async fn change<C: ConnectionTrait>(
    db: &C,
    mut member: team_members::Model,
    role: Option<Role>,
    status: Option<MemberStatus>,
    now: DateTime<Utc>,
) -> Result<Changed, AppError> {
    let mut update = team_members::ActiveModel {
        id: Set(member.id),
        updated_at: Set(now),
        ..Default::default()
    };
    if let Some(role) = role {
        update.role = Set(role);
        member.role = role;
    }
    if let Some(status) = status {
        update.status = Set(status);
        member.status = status;
    }
    member.updated_at = now;
    team_members::Entity::update(update).exec(db).await?;
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(member.user_id))
        .filter(sessions::Column::BusinessId.eq(member.business_id))
        .filter(sessions::Column::Kind.ne(SessionKind::ApiKey))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(Changed {
        revoked_user: Some(member.user_id),
        member,
    })
}

async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    action: &str,
    member: &team_members::Model,
    data: serde_json::Value,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let entry = audit::Entry {
        business_id: Some(actor.business_id),
        actor_user_id: Some(actor.user_id),
        action,
        target: Some(member.id.to_string()),
        data: Some(data),
    };
    audit::record(db, entry, now).await
}

//! Staff acting inside a business: time-boxed, read-only unless asked, and audited on every use.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, SessionKind, team_members};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::sessions::{self, Issued, NewSession};
use crate::auth::{Principal, rights};
use crate::error::AppError;
use crate::services::audit;
use crate::services::team;

/// How long an impersonation token lives.
pub const TTL: TimeDelta = TimeDelta::hours(1);
const MAX_REASON: usize = 500;

/// Opens an impersonation session of `business_id` for the staff `principal`. The token acts
/// as the business's owner with read rights, or manage rights too when `write`.
///
/// # Errors
/// `BAD_USER_INPUT` on `reason` when empty; `NOT_FOUND` for an unknown business.
pub async fn start(
    db: &DatabaseConnection,
    root: &KeyPair,
    principal: &Principal,
    business_id: Uuid,
    reason: &str,
    write: bool,
    now: DateTime<Utc>,
) -> Result<Issued, AppError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::bad_input(
            "reason",
            "say why you need to act in this business",
        ));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(AppError::bad_input(
            "reason",
            format!("at most {MAX_REASON} characters"),
        ));
    }
    let business = team::business::get(db, business_id).await?;
    let owner = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business.id))
        .filter(team_members::Column::Role.eq(Role::Owner))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .order_by_asc(team_members::Column::JoinedAt)
        .one(db)
        .await?
        .ok_or(AppError::NotFound {
            what: "business owner",
        })?;
    let role = if write { Role::Admin } else { Role::Member };
    let session = NewSession {
        user_id: owner.user_id,
        kind: SessionKind::Impersonation,
        business: Some((business.id, role)),
        rights: rights::impersonation(write),
        staff: false,
        impersonator: Some(principal.user_id),
        reason: Some(reason.to_owned()),
        expires_at: Some(sessions::expiry(now, TTL)?),
    };
    let txn = crate::db::begin_write(db).await?;
    let issued = sessions::open(&txn, root, session, now).await?;
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(business.id),
            actor_user_id: Some(principal.user_id),
            action: "impersonation.started",
            target: Some(issued.claims.session_id.to_string()),
            data: Some(serde_json::json!({ "reason": reason, "write": write })),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(issued)
}

/// Writes one use of an impersonation token to its business's audit log.
pub async fn record_use<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    operations: &[crate::auth::token::Operation],
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let operations: Vec<&str> = operations.iter().map(|op| op.name.as_str()).collect();
    audit::record(
        db,
        audit::Entry {
            business_id: principal.business_id,
            actor_user_id: principal.impersonator,
            action: "impersonation.request",
            target: Some(principal.session_id.to_string()),
            data: Some(serde_json::json!({ "operations": operations })),
        },
        now,
    )
    .await
}

//! Founding a business: what sign-up does for a new account, and `createBusiness` for a
//! signed-in one — one code path, so a business founded either way is the same: its owner, its
//! SDK bot with its API key, an ACTIVE subscription on the default plan from now, and an audit
//! entry, all in the caller's transaction.
//!
//! A user owns at most [`MAX_OWNED`] businesses (as an active OWNER): creating one costs
//! nothing, so without a cap one session could mint businesses, bots and keys without end.
//! The count and the insert are one transaction that first locks the user's row, so concurrent
//! calls never overshoot the cap.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, SessionKind, businesses, team_members, users};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect,
};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::AppError;
use crate::services::billing::subscription;
use crate::services::identity::accounts::add_member;
use crate::services::identity::api_keys;
use crate::services::identity::sessions::{self, Issued, NewSession};
use crate::services::{audit, validate};

/// Most businesses one user owns (is an active OWNER of).
pub const MAX_OWNED: u64 = 10;
/// The metric a refusal names.
const METRIC: &str = "owned_businesses";

/// Writes a new business named `name` (already validated) with `owner` as its OWNER, its SDK
/// bot and key, and its subscription on the default plan, inside `txn`; returns its id.
///
/// # Errors
/// Database errors; internal when there is no default plan.
pub(crate) async fn found<C: ConnectionTrait>(
    txn: &C,
    root: &KeyPair,
    owner: &users::Model,
    name: String,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    let business_id = Uuid::now_v7();
    businesses::Entity::insert(businesses::ActiveModel {
        id: Set(business_id),
        name: Set(name),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(txn)
    .await?;
    add_member(txn, business_id, owner.id, Role::Owner, now).await?;
    api_keys::create_bot(txn, root, business_id, now).await?;
    subscription::start(txn, business_id, now).await?;
    audit::record(
        txn,
        audit::Entry {
            business_id: Some(business_id),
            actor_user_id: Some(owner.id),
            action: "business.created",
            target: None,
            data: None,
        },
        now,
    )
    .await?;
    Ok(business_id)
}

/// Founds another business for the caller, who becomes its OWNER, and opens a session in it.
/// Only a login session may: an API key acts for its business only, an impersonation for the
/// staff member behind it, who must not found businesses in a user's name.
///
/// # Errors
/// `FORBIDDEN` for API keys and impersonation; `BAD_USER_INPUT` on `name`; `QUOTA_EXCEEDED`
/// (`metric: "owned_businesses"`) when the caller already owns [`MAX_OWNED`].
#[tracing::instrument(skip_all, fields(user = %principal.user_id))]
pub async fn create(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    principal: &Principal,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Issued, AppError> {
    if principal.kind != SessionKind::Login || principal.impersonator.is_some() {
        return Err(AppError::forbidden(
            "only a user's own login session can create a business",
        ));
    }
    let name = validate::name(name, "name")?;
    let txn = crate::db::begin_write(db).await?;
    // Locked so that concurrent calls count one after the other.
    let user = users::Entity::find_by_id(principal.user_id)
        .lock(LockType::NoKeyUpdate)
        .one(&txn)
        .await?
        .filter(|user| user.is_active && !user.is_bot)
        .ok_or(AppError::Unauthenticated)?;
    let owned = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(user.id))
        .filter(team_members::Column::Role.eq(Role::Owner))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .count(&txn)
        .await?;
    if owned >= MAX_OWNED {
        return Err(AppError::QuotaExceeded {
            metric: METRIC.to_owned(),
            limit: i64::try_from(MAX_OWNED).unwrap_or(i64::MAX),
            used: i64::try_from(owned).unwrap_or(i64::MAX),
        });
    }
    let business_id = found(&txn, root, &user, name, now).await?;
    let session = NewSession::login(
        &user,
        Some((business_id, Role::Owner)),
        sessions::expiry(now, session_ttl)?,
    );
    let issued = sessions::open(&txn, root, session, now).await?;
    txn.commit().await?;
    Ok(issued)
}

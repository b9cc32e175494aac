//! Staff users: created by `saaskit staff create` or the bootstrap variables, demoted by
//! `saaskit staff deactivate`.

use chrono::{DateTime, Utc};
use entity::{sessions, users};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use uuid::Uuid;

use super::accounts::{find_by_email, new_user};
use crate::auth::password;
use crate::error::{AppError, is_unique_violation};
use crate::services::{audit, validate};

/// What [`ensure_staff`] does with an existing account that is not staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IfNotStaff {
    /// Leave it as it is (the bootstrap variables: whoever chose that account's password may
    /// not be the operator).
    Refuse,
    /// Make it staff, keeping its password (`saaskit staff create --promote`).
    Promote,
}

/// What [`ensure_staff`] found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    AlreadyStaff,
    Promoted,
    /// An account with that e-mail exists, is not staff, and was left as it is.
    Refused,
}

/// Makes sure a staff user with `email` exists: creates it with `password`, confirms an
/// existing staff user (changing nothing, not even a deactivated one), and makes an existing
/// non-staff account staff only when `if_not_staff` is [`IfNotStaff::Promote`].
///
/// # Errors
/// `BAD_USER_INPUT` for a malformed e-mail, a weak password, or the address of an SDK bot.
#[tracing::instrument(skip_all)]
pub async fn ensure_staff(
    db: &DatabaseConnection,
    email: &str,
    password: SecretString,
    if_not_staff: IfNotStaff,
    now: DateTime<Utc>,
) -> Result<Ensured, AppError> {
    let email = validate::email(email, "email")?;
    if let Some(user) = find_by_email(db, &email).await? {
        if user.is_bot {
            return Err(AppError::bad_input(
                "email",
                "that address belongs to an SDK bot",
            ));
        }
        if user.is_staff {
            return Ok(Ensured::AlreadyStaff);
        }
        if if_not_staff == IfNotStaff::Refuse {
            return Ok(Ensured::Refused);
        }
        users::Entity::update_many()
            .col_expr(users::Column::IsStaff, Expr::value(true))
            .col_expr(users::Column::IsActive, Expr::value(true))
            .col_expr(users::Column::UpdatedAt, Expr::value(now))
            .filter(users::Column::Id.eq(user.id))
            .exec(db)
            .await?;
        return Ok(Ensured::Promoted);
    }
    password::validate(&password, "password")?;
    // The command line and start-up, not a request: a budget of its own.
    let ticket = password::Budget::new().take()?;
    let hash = password::hash(&ticket, password).await?;
    let mut user = new_user(email, Some("Staff".to_owned()), Some(hash), false, now);
    user.is_staff = true;
    match users::Entity::insert(users::ActiveModel::from(user))
        .exec_without_returning(db)
        .await
    {
        Ok(_) => Ok(Ensured::Created),
        // Another replica created it at the same moment.
        Err(err) if is_unique_violation(&err) => Ok(Ensured::AlreadyStaff),
        Err(err) => Err(err.into()),
    }
}

/// What [`deactivate`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deactivated {
    pub user_id: Uuid,
    /// Whether the user was staff until now.
    pub was_staff: bool,
    /// Sessions revoked: the user's own and the impersonations they opened.
    pub sessions_revoked: u64,
}

/// Takes staff standing away from the user with `email`, in one transaction: the account stays,
/// as an ordinary active user (`is_staff = false`), and every live session of theirs and every
/// impersonation session they opened is revoked. Nodes refuse those tokens at once when they
/// have not cached them, and within [`crate::auth::cache::TTL`] when they have; a node in the
/// same process should also call `TokenCache::forget_user`. Running it twice is harmless.
///
/// # Errors
/// `NOT_FOUND` when no user has that e-mail.
#[tracing::instrument(skip_all)]
pub async fn deactivate(
    db: &DatabaseConnection,
    email: &str,
    now: DateTime<Utc>,
) -> Result<Deactivated, AppError> {
    let email = validate::normalize_email(email);
    let txn = crate::db::begin_write(db).await?;
    let user = find_by_email(&txn, &email)
        .await?
        .ok_or(AppError::NotFound { what: "user" })?;
    users::Entity::update_many()
        .col_expr(users::Column::IsStaff, Expr::value(false))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    let revoked = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(
            Condition::any()
                .add(sessions::Column::UserId.eq(user.id))
                .add(sessions::Column::ImpersonatorId.eq(user.id)),
        )
        .exec(&txn)
        .await?
        .rows_affected;
    audit::record(
        &txn,
        audit::Entry {
            business_id: None,
            actor_user_id: None,
            action: "staff.deactivated",
            target: Some(user.id.to_string()),
            data: Some(serde_json::json!({ "sessionsRevoked": revoked })),
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Deactivated {
        user_id: user.id,
        was_staff: user.is_staff,
        sessions_revoked: revoked,
    })
}

//! Accounts: logging in and out, switching business, changing a password (signing up is
//! [`super::signup`]).

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, SessionKind, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::sessions::{self, Issued, NewSession};
use super::throttle;
use crate::auth::{Principal, password};
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::services::validate;

pub(crate) fn new_user(
    email: String,
    name: Option<String>,
    password_hash: Option<String>,
    is_bot: bool,
    now: DateTime<Utc>,
) -> users::Model {
    users::Model {
        id: Uuid::now_v7(),
        email,
        name,
        password_hash,
        is_active: true,
        is_staff: false,
        is_bot,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    }
}

/// Makes `user_id` an active member of `business_id` with `role`, joined `now`.
pub async fn add_member<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    user_id: Uuid,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    team_members::Entity::insert(team_members::ActiveModel {
        id: Set(Uuid::now_v7()),
        business_id: Set(business_id),
        user_id: Set(user_id),
        role: Set(role),
        status: Set(MemberStatus::Active),
        invited_by: Set(None),
        activation_key_hash: Set(None),
        activation_expires_at: Set(None),
        joined_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    Ok(())
}

pub(crate) async fn find_by_email<C: ConnectionTrait>(
    db: &C,
    email: &str,
) -> Result<Option<users::Model>, AppError> {
    Ok(users::Entity::find()
        .filter(users::Column::Email.eq(email))
        .one(db)
        .await?)
}

/// `login`'s input.
pub struct Login {
    pub email: String,
    pub password: SecretString,
    pub business_id: Option<Uuid>,
    pub client_addr: ClientAddr,
    pub budget: password::Budget,
}

/// Checks the password and opens a session in `business_id`, or by default in the business the
/// user joined most recently. Unknown e-mails and wrong passwords get the same answer in about
/// the same time. The attempt is throttled before the password is checked (see [`throttle`]).
///
/// # Errors
/// `UNAUTHENTICATED` for wrong credentials, `RATE_LIMITED` (with `retryAfter`) after repeated
/// attempts, `NOT_FOUND` for a business the user is not an active member of.
#[tracing::instrument(skip_all)]
pub async fn login(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    now: DateTime<Utc>,
    rate: &throttle::AddressRate,
    input: Login,
) -> Result<Issued, AppError> {
    rate.check(&input.client_addr)?;
    let email = validate::normalize_email(&input.email);
    let ticket = input.budget.take()?;
    let attempt = throttle::begin(db, &email, &input.client_addr, now).await?;
    let user = find_by_email(db, &email).await?.filter(|user| !user.is_bot);
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let matches = match password::verify(&ticket, input.password, hash).await {
        Ok(matches) => matches,
        Err(err) => {
            attempt.not_checked(db).await?;
            return Err(err);
        }
    };
    let user = match user {
        Some(user) if matches && user.is_active => user,
        _ => {
            attempt.failed(db, now).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    let membership = choose_membership(db, user.id, input.business_id).await?;
    let session = NewSession::login(&user, membership, sessions::expiry(now, session_ttl)?);
    let txn = crate::db::begin_write(db).await?;
    let issued = sessions::open(&txn, root, session, now).await?;
    attempt.succeeded(&txn, now).await?;
    users::Entity::update_many()
        .col_expr(users::Column::LastLoginAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(issued)
}

/// The active human membership to act in: the one asked for, or the most recently joined.
pub(crate) async fn choose_membership<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    business_id: Option<Uuid>,
) -> Result<Option<(Uuid, Role)>, AppError> {
    let mut query = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(user_id))
        .filter(team_members::Column::Status.eq(MemberStatus::Active))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .order_by_desc(team_members::Column::JoinedAt);
    if let Some(business_id) = business_id {
        query = query.filter(team_members::Column::BusinessId.eq(business_id));
    }
    let found = query.one(db).await?.map(|m| (m.business_id, m.role));
    if business_id.is_some() && found.is_none() {
        return Err(AppError::NotFound { what: "business" });
    }
    Ok(found)
}

/// A new session in another of the caller's businesses. Only login sessions switch.
///
/// # Errors
/// `FORBIDDEN` for API keys and impersonation; `NOT_FOUND` for a business the user is not an
/// active member of.
pub async fn switch_business(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    now: DateTime<Utc>,
    principal: &Principal,
    business_id: Uuid,
) -> Result<Issued, AppError> {
    require_login(principal)?;
    let user = users::Entity::find_by_id(principal.user_id)
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let membership = choose_membership(db, user.id, Some(business_id)).await?;
    sessions::open(
        db,
        root,
        NewSession::login(&user, membership, sessions::expiry(now, session_ttl)?),
        now,
    )
    .await
}

fn require_login(principal: &Principal) -> Result<(), AppError> {
    if principal.kind == SessionKind::Login {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Ends the caller's session. An API key is not a session to log out of: rotate it instead.
///
/// # Errors
/// `FORBIDDEN` for an API key.
pub async fn logout<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if principal.kind == SessionKind::ApiKey {
        return Err(AppError::Forbidden);
    }
    sessions::revoke(db, principal.session_id, now).await
}

/// Ends every login session of the caller's user, this one included.
///
/// # Errors
/// `FORBIDDEN` unless the caller holds a login session.
pub async fn logout_everywhere<C: ConnectionTrait>(
    db: &C,
    principal: &Principal,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    require_login(principal)?;
    sessions::revoke_logins(db, principal.user_id, None, now)
        .await
        .map(drop)
}

/// `changePassword`'s input.
pub struct ChangePassword {
    pub current: SecretString,
    pub new: SecretString,
    pub client_addr: ClientAddr,
    pub budget: password::Budget,
}

/// Sets a new password after checking the current one; every other login session of the user
/// is revoked. Checking the current password is a login attempt (a stolen session must not be a
/// password oracle): it takes the request's one password ticket, counts against the user's
/// rate on this node, and is throttled per client address and per account exactly as `login`
/// (see [`throttle`]), the two counted together.
///
/// # Errors
/// `BAD_USER_INPUT` on `currentPassword` when it is wrong, on `newPassword` when it is weak;
/// `RATE_LIMITED` (with `retryAfter`) past the throttle, for a second password field in one
/// HTTP request, or when the hashing queue is full.
#[tracing::instrument(skip_all)]
pub async fn change_password(
    db: &DatabaseConnection,
    rates: (&throttle::AddressRate, &throttle::KeyRate),
    principal: &Principal,
    input: ChangePassword,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    require_login(principal)?;
    password::validate(&input.new, "newPassword")?;
    let ticket = input.budget.take()?;
    let (per_address, per_user) = rates;
    per_address.check(&input.client_addr)?;
    per_user.check(&principal.user_id)?;
    let user = users::Entity::find_by_id(principal.user_id)
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let attempt = throttle::begin(db, &user.email, &input.client_addr, now).await?;
    let checked = password::verify(&ticket, input.current, user.password_hash.clone()).await;
    let matches = match checked {
        Ok(matches) => matches,
        Err(err) => {
            attempt.not_checked(db).await?;
            return Err(err);
        }
    };
    if !matches {
        attempt.failed(db, now).await?;
        return Err(AppError::bad_input(
            "currentPassword",
            "the current password is wrong",
        ));
    }
    let hash = password::hash(&ticket, input.new).await?;
    let txn = crate::db::begin_write(db).await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    sessions::revoke_logins(&txn, user.id, Some(principal.session_id), now).await?;
    attempt.succeeded(&txn, now).await?;
    txn.commit().await?;
    Ok(())
}

//! Accounts: signing up, logging in and out, passwords, staff users.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, SessionKind, businesses, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter,
    QueryOrder,
};
use secrecy::SecretString;
use uuid::Uuid;

use super::sessions::{self, Issued, NewSession};
use super::{api_keys, throttle};
use crate::auth::{Principal, password};
use crate::client_addr::ClientAddr;
use crate::error::{AppError, is_unique_violation};
use crate::services::billing::subscription;
use crate::services::{audit, validate};

/// `signup`'s input.
pub struct Signup {
    pub email: String,
    pub password: SecretString,
    pub name: String,
    pub business_name: String,
    pub client_addr: ClientAddr,
}

/// Creates, in one transaction, the business, its owner, its SDK bot with its API key and an
/// active subscription on the default plan; returns the owner's session.
///
/// # Errors
/// `RATE_LIMITED` past the client address's rate (see [`throttle`]); `BAD_USER_INPUT` naming
/// the field; `CONFLICT` on `email` when the address is taken.
#[tracing::instrument(skip_all)]
pub async fn signup(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    now: DateTime<Utc>,
    rate: &throttle::AddressRate,
    input: Signup,
) -> Result<Issued, AppError> {
    rate.check(&input.client_addr)?;
    let email = validate::email(&input.email, "email")?;
    let name = validate::name(&input.name, "name")?;
    let business_name = validate::name(&input.business_name, "businessName")?;
    password::validate(&input.password, "password")?;
    if find_by_email(db, &email).await?.is_some() {
        return Err(email_taken());
    }
    let password_hash = password::hash(input.password).await?;

    let txn = crate::db::begin_write(db).await?;
    let business_id = Uuid::now_v7();
    businesses::Entity::insert(businesses::ActiveModel {
        id: Set(business_id),
        name: Set(business_name),
        created_at: Set(now),
        updated_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    let owner = new_user(email, Some(name), Some(password_hash), false, now);
    // The pre-check above can lose a race; the unique key cannot.
    users::Entity::insert(users::ActiveModel::from(owner.clone()))
        .exec_without_returning(&txn)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                email_taken()
            } else {
                err.into()
            }
        })?;
    add_member(&txn, business_id, owner.id, Role::Owner, now).await?;
    api_keys::create_bot(&txn, root, business_id, now).await?;
    subscription::start(&txn, business_id, now).await?;
    audit::record(
        &txn,
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
    let session = NewSession::login(
        &owner,
        Some((business_id, Role::Owner)),
        sessions::expiry(now, session_ttl)?,
    );
    let issued = sessions::open(&txn, root, session, now).await?;
    txn.commit().await?;
    Ok(issued)
}

fn email_taken() -> AppError {
    AppError::conflict("email", "an account with this e-mail already exists")
}

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
    let attempt = throttle::begin(db, &email, &input.client_addr, now).await?;
    let user = find_by_email(db, &email).await?.filter(|user| !user.is_bot);
    let hash = user.as_ref().and_then(|user| user.password_hash.clone());
    let matches = password::verify(input.password, hash).await?;
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

/// Sets a new password after checking the current one; every other login session of the user
/// is revoked.
///
/// # Errors
/// `BAD_USER_INPUT` on `currentPassword` when it is wrong, on `newPassword` when it is weak.
pub async fn change_password(
    db: &DatabaseConnection,
    principal: &Principal,
    current: SecretString,
    new: SecretString,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    require_login(principal)?;
    password::validate(&new, "newPassword")?;
    let user = users::Entity::find_by_id(principal.user_id)
        .one(db)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    if !password::verify(current, user.password_hash.clone()).await? {
        return Err(AppError::bad_input(
            "currentPassword",
            "the current password is wrong",
        ));
    }
    let hash = password::hash(new).await?;
    let txn = crate::db::begin_write(db).await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    sessions::revoke_logins(&txn, user.id, Some(principal.session_id), now).await?;
    txn.commit().await?;
    Ok(())
}

//! The invitee's side: what an activation key invites to, and accepting it.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, businesses, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use secrecy::SecretString;
use serde_json::json;
use uuid::Uuid;

use super::keys;
use crate::auth::password;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::services::identity::sessions::{self, Issued, NewSession};
use crate::services::identity::throttle;
use crate::services::{audit, validate};

/// What an invitation offers, to pre-fill the sign-up form.
pub struct Preview {
    pub email: String,
    pub name: Option<String>,
    pub business_name: String,
    pub invited_by_name: Option<String>,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    /// Whether the invitee already has a password (accepting then proves it).
    pub has_account: bool,
}

/// The invitation `raw_key` opens at `now`; `None` when the key is unknown, used, revoked or
/// expired — the four are not told apart.
pub async fn preview<C: ConnectionTrait>(
    db: &C,
    raw_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Preview>, AppError> {
    let Some((invitation, user)) = pending(db, raw_key)
        .await?
        .filter(|(invitation, _)| !expired(invitation, now))
    else {
        return Ok(None);
    };
    let business = businesses::Entity::find_by_id(invitation.business_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "business" })?;
    let inviter = match invitation.invited_by {
        Some(id) => users::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    Ok(Some(Preview {
        email: user.email,
        name: user.name,
        business_name: business.name,
        invited_by_name: inviter.map(|u| u.name.unwrap_or(u.email)),
        role: invitation.role,
        expires_at: invitation.activation_expires_at.unwrap_or(now),
        has_account: user.password_hash.is_some(),
    }))
}

/// Whether the invitation's key has outlived its 7 days at `now`.
fn expired(invitation: &team_members::Model, now: DateTime<Utc>) -> bool {
    invitation.activation_expires_at.is_none_or(|at| at <= now)
}

/// The pending invitation holding `raw_key` (expired or not), and its invitee.
async fn pending<C: ConnectionTrait>(
    db: &C,
    raw_key: &str,
) -> Result<Option<(team_members::Model, users::Model)>, AppError> {
    let Some(hash) = keys::hash_of(raw_key) else {
        return Ok(None);
    };
    let found = team_members::Entity::find()
        .filter(team_members::Column::ActivationKeyHash.eq(hash))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    Ok(found.and_then(|(invitation, user)| user.map(|user| (invitation, user))))
}

/// `acceptInvitation`'s input.
pub struct Accept {
    pub activation_key: String,
    pub password: SecretString,
    pub name: Option<String>,
    pub client_addr: ClientAddr,
    pub budget: password::Budget,
}

fn dead_key() -> AppError {
    AppError::bad_input(
        "activationKey",
        "this invitation link is not valid: it may have been used or revoked",
    )
}

fn expired_key() -> AppError {
    AppError::Expired {
        field: "activationKey".to_owned(),
        message: "this invitation has expired; ask the team for a new one".to_owned(),
    }
}

/// Accepts an invitation: a new invitee sets their password (and name); an invitee who already
/// has an account proves its password. Then, in one transaction, the membership becomes ACTIVE,
/// the key dies, and a session in the business opens.
///
/// # Errors
/// `BAD_USER_INPUT` on `activationKey` (one message for unknown, used and revoked keys),
/// `EXPIRED` on `activationKey` for a key past its 7 days (until housekeeping deletes it),
/// on `password` or `name`; `UNAUTHENTICATED` when an existing account's password is wrong (the
/// key stays alive); `RATE_LIMITED` past the client address's rate, after repeated wrong
/// passwords, or for a second password field in one HTTP request.
#[tracing::instrument(skip_all)]
pub async fn accept(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    now: DateTime<Utc>,
    rate: &throttle::AddressRate,
    input: Accept,
) -> Result<Issued, AppError> {
    rate.check(&input.client_addr)?;
    let name = validate::optional_name(input.name.as_deref(), "name")?;
    let (invitation, user) = pending(db, &input.activation_key)
        .await?
        .ok_or_else(dead_key)?;
    if expired(&invitation, now) {
        return Err(expired_key());
    }
    let ticket = input.budget.take()?;
    let new_hash = match &user.password_hash {
        None => {
            password::validate(&input.password, "password")?;
            Some(password::hash(&ticket, input.password).await?)
        }
        Some(hash) => {
            // Proving an existing password is a login: throttled like one.
            let attempt = throttle::begin(db, &user.email, &input.client_addr, now).await?;
            let checked = password::verify(&ticket, input.password, Some(hash.clone())).await;
            let matches = match checked {
                Ok(matches) => matches,
                Err(err) => {
                    attempt.not_checked(db).await?;
                    return Err(err);
                }
            };
            if !(matches && user.is_active) {
                attempt.failed(db, now).await?;
                return Err(AppError::InvalidCredentials);
            }
            attempt.succeeded(db, now).await?;
            None
        }
    };

    let txn = crate::db::begin_write(db).await?;
    // Conditional on the key still being live: of two concurrent accepts, one wins.
    let activated = team_members::Entity::update_many()
        .col_expr(
            team_members::Column::Status,
            Expr::value(MemberStatus::Active),
        )
        .col_expr(team_members::Column::JoinedAt, Expr::value(now))
        .col_expr(
            team_members::Column::ActivationKeyHash,
            Expr::value(None::<String>),
        )
        .col_expr(
            team_members::Column::ActivationExpiresAt,
            Expr::value(None::<DateTime<Utc>>),
        )
        .col_expr(team_members::Column::UpdatedAt, Expr::value(now))
        .filter(team_members::Column::Id.eq(invitation.id))
        .filter(team_members::Column::ActivationKeyHash.eq(invitation.activation_key_hash.clone()))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .filter(team_members::Column::ActivationExpiresAt.gt(now))
        .exec(&txn)
        .await?;
    if activated.rows_affected != 1 {
        return Err(dead_key());
    }
    if let Some(hash) = new_hash {
        set_first_password(&txn, user.id, hash, name, now).await?;
    }
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(invitation.business_id),
            actor_user_id: Some(user.id),
            action: "invitation.accepted",
            target: Some(invitation.id.to_string()),
            data: Some(json!({ "email": user.email, "role": super::role_name(invitation.role) })),
        },
        now,
    )
    .await?;
    let business = Some((invitation.business_id, invitation.role));
    let session = NewSession::login(&user, business, sessions::expiry(now, session_ttl)?);
    let issued = sessions::open(&txn, root, session, now).await?;
    users::Entity::update_many()
        .col_expr(users::Column::LastLoginAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(issued)
}

/// Sets the password (and name, when given) of a user who has none yet. Conditional, so a
/// password set meanwhile (another invitation accepted at the same moment) is never replaced.
async fn set_first_password<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    hash: String,
    name: Option<String>,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now));
    if let Some(name) = name {
        update = update.col_expr(users::Column::Name, Expr::value(name));
    }
    let updated = update
        .filter(users::Column::Id.eq(user_id))
        .filter(users::Column::PasswordHash.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected != 1 {
        return Err(AppError::conflict(
            "activationKey",
            "this account was just set up; accept again with its password",
        ));
    }
    Ok(())
}

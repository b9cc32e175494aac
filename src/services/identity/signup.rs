//! Signing up: a new account with a business of its own — or, for an address an invitation
//! made an account for (one without a password yet), the claim of that account.
//!
//! An invitation must not take an address hostage: its owner signs up as anyone would. The
//! claim gives the new password-holder exactly what sign-up gives anyone, the new business, and
//! nothing the invitation holds: the invitations stay pending, and joining one still takes its
//! key (from the invitee's mailbox), now with the password. The claim is conditional on the
//! account still having no password, so of a sign-up and an acceptance racing to set the first
//! password one wins and the other gets `CONFLICT`; whatever spoke for the account before
//! (sessions, unused reset keys) ends with the claim.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, password_resets, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use secrecy::SecretString;

use super::accounts::{find_by_email, new_user};
use super::sessions::{self, Issued, NewSession};
use super::throttle;
use crate::auth::password;
use crate::client_addr::ClientAddr;
use crate::error::{AppError, is_unique_violation};
use crate::services::team::found;
use crate::services::validate;

/// `signup`'s input.
pub struct Signup {
    pub email: String,
    pub password: SecretString,
    pub name: String,
    pub business_name: String,
    pub client_addr: ClientAddr,
    pub budget: password::Budget,
}

/// Creates (or claims, see the module), in one transaction, the account, a business with it as
/// the owner, its SDK bot with its API key and an active subscription on the default plan;
/// returns the owner's session. The caller forgets the user's cached tokens after it.
///
/// # Errors
/// `RATE_LIMITED` past the client address's rate (see [`throttle`]) or for a second password
/// field in the request; `BAD_USER_INPUT` naming the field; `CONFLICT` on `email` when the
/// address has an account with a password (or gets one meanwhile).
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
    let existing = find_by_email(db, &email).await?;
    if existing.as_ref().is_some_and(|user| !claimable(user)) {
        return Err(email_taken());
    }
    let ticket = input.budget.take()?;
    let password_hash = password::hash(&ticket, input.password).await?;

    let txn = crate::db::begin_write(db).await?;
    let owner = match existing {
        Some(invited) => claim(&txn, invited, name, password_hash, now).await?,
        None => {
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
            owner
        }
    };
    let business_id = found::found(&txn, root, &owner, business_name, now).await?;
    let session = NewSession::login(
        &owner,
        Some((business_id, Role::Owner)),
        sessions::expiry(now, session_ttl)?,
    );
    let issued = sessions::open(&txn, root, session, now).await?;
    txn.commit().await?;
    Ok(issued)
}

/// An account sign-up may take over: made by an invitation, no password set, a person.
fn claimable(user: &users::Model) -> bool {
    user.password_hash.is_none() && user.is_active && !user.is_bot && !user.is_staff
}

/// Sets the first password and the name of `invited`, ends its sessions and spends its reset
/// keys. Conditional on there still being no password.
async fn claim<C: ConnectionTrait>(
    txn: &C,
    invited: users::Model,
    name: String,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<users::Model, AppError> {
    let claimed = users::Entity::update_many()
        .col_expr(
            users::Column::PasswordHash,
            Expr::value(password_hash.clone()),
        )
        .col_expr(users::Column::Name, Expr::value(name.clone()))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(invited.id))
        .filter(users::Column::PasswordHash.is_null())
        .filter(users::Column::IsStaff.eq(false))
        .filter(users::Column::IsActive.eq(true))
        .exec(txn)
        .await?;
    if claimed.rows_affected != 1 {
        return Err(email_taken());
    }
    // Only invitations may hang on the account: were it a member anywhere already, the claim
    // would hand that membership to whoever signed up first.
    let joined = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(invited.id))
        .filter(team_members::Column::Status.ne(MemberStatus::Invited))
        .count(txn)
        .await?;
    if joined > 0 {
        return Err(email_taken());
    }
    sessions::revoke_logins(txn, invited.id, None, now).await?;
    password_resets::Entity::update_many()
        .col_expr(password_resets::Column::UsedAt, Expr::value(now))
        .filter(password_resets::Column::UserId.eq(invited.id))
        .filter(password_resets::Column::UsedAt.is_null())
        .exec(txn)
        .await?;
    Ok(users::Model {
        name: Some(name),
        password_hash: Some(password_hash),
        updated_at: now,
        ..invited
    })
}

fn email_taken() -> AppError {
    AppError::conflict("email", "an account with this e-mail already exists")
}

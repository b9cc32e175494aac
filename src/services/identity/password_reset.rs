//! Password reset: a single-use key mailed to the account's address, and the reset that spends
//! it. The key is 32 random bytes; only its SHA-256 is stored, and compared in constant time.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, password_resets, team_members, users};
use sea_orm::sea_query::{Expr, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QuerySelect,
};
use secrecy::SecretString;
use serde_json::json;
use tracing::Instrument;
use uuid::Uuid;

use super::accounts::{choose_membership, find_by_email};
use super::sessions::{self, Issued, NewSession};
use super::throttle;
use crate::auth::password;
use crate::client_addr::ClientAddr;
use crate::error::AppError;
use crate::jobs::Jobs;
use crate::services::outbox::{self, NewMail, Template};
use crate::services::{audit, one_time_keys, validate};

/// How long a reset key works.
pub const KEY_TTL: TimeDelta = TimeDelta::hours(1);
/// Reset mails per account per [`KEY_TTL`]; further requests send nothing.
pub const MAILS_PER_HOUR: u64 = 3;

/// What [`request_detached`] needs to do the work after the answer.
pub struct Requested {
    pub db: DatabaseConnection,
    pub jobs: Jobs,
    pub email: String,
    pub public_url: String,
    pub now: DateTime<Utc>,
    /// How long the work may take before it is given up (and logged).
    pub deadline: std::time::Duration,
}

/// `requestPasswordReset` as the caller sees it: counts the client address's rate (the same
/// for every e-mail), then answers — the lookup, the key and the mail happen after, in a task
/// of their own. So a known address and an unknown one answer in the same time, whatever the
/// database does: the answer waits for no part of the work that differs between them.
///
/// # Errors
/// `RATE_LIMITED` past the client address's rate (see [`throttle`]).
pub fn request_detached(
    rate: &throttle::AddressRate,
    client_addr: &ClientAddr,
    work: Requested,
) -> Result<(), AppError> {
    // Per client address, like login and signup: one address cannot flood inboxes.
    rate.check(client_addr)?;
    let task = async move {
        let run = request(&work.db, &work.email, &work.public_url, work.now);
        match tokio::time::timeout(work.deadline, run).await {
            Ok(Ok(Some(id))) => work.jobs.mail_recorded(id).await,
            Ok(Ok(None)) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "a password reset request failed"),
            Err(_) => tracing::warn!("a password reset request timed out"),
        }
    };
    // Its log lines still name the request.
    tokio::spawn(task.in_current_span());
    Ok(())
}

/// Records a reset key and its mail for `email` when it names an active, human account that has
/// not had [`MAILS_PER_HOUR`] reset mails in the last hour; returns the outbox id to hand to
/// the worker after commit. Unknown addresses do the same count and get `None`.
///
/// The cap is exact under any concurrency, on any number of nodes: the count and the insert
/// are one transaction that first locks the user's row (`FOR NO KEY UPDATE` on PostgreSQL —
/// it does not hold up logins, whose sessions only take a key-share lock on it; SQLite's
/// `BEGIN IMMEDIATE` already admits one writer at a time). This takes no lock of
/// [`crate::services::locks`]' order and nothing after the user's row, so it cannot deadlock.
///
/// # Errors
/// Database errors only.
#[tracing::instrument(skip_all)]
pub async fn request(
    db: &DatabaseConnection,
    email: &str,
    public_url: &str,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, AppError> {
    let email = validate::normalize_email(email);
    let Some(user) = find_by_email(db, &email)
        .await?
        .filter(|user| user.is_active && !user.is_bot)
    else {
        // The same count as for an account: the reads look alike from outside.
        recent_mails(db, Uuid::nil(), now).await?;
        return Ok(None);
    };
    let key = one_time_keys::generate();
    let expires_at = now + KEY_TTL;
    let txn = crate::db::begin_write(db).await?;
    // Read again under the lock: the account may have changed since the lookup.
    let Some(user) = users::Entity::find_by_id(user.id)
        .lock(LockType::NoKeyUpdate)
        .one(&txn)
        .await?
        .filter(|user| user.is_active && !user.is_bot)
    else {
        return Ok(None);
    };
    if recent_mails(&txn, user.id, now).await? >= MAILS_PER_HOUR {
        tracing::info!("password reset refused: too many in the last hour");
        return Ok(None);
    }
    password_resets::Entity::insert(password_resets::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(user.id),
        token_hash: Set(key.hash),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    let link = format!(
        "{}/reset-password?token={}",
        public_url.trim_end_matches('/'),
        key.raw
    );
    let data = json!({
        "name": user.name,
        "link": link,
        "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
    });
    let mail = NewMail {
        template: Template::PasswordReset,
        to: user.email.clone(),
        data,
    };
    let id = outbox::record(&txn, mail, now).await?;
    txn.commit().await?;
    Ok(Some(id))
}

/// Sets a new password with a reset key: the key (and any other the user holds) dies, every
/// login session of the user is revoked, each business the user belongs to gets an audit entry,
/// and a new session is returned, like a login.
///
/// # Errors
/// `BAD_USER_INPUT` on `newPassword` when it is weak; on `token`, with one message, when the
/// key is unknown, used or expired.
#[tracing::instrument(skip_all)]
pub async fn reset(
    db: &DatabaseConnection,
    root: &KeyPair,
    session_ttl: TimeDelta,
    now: DateTime<Utc>,
    token: &str,
    new_password: SecretString,
    budget: &password::Budget,
) -> Result<Issued, AppError> {
    password::validate(&new_password, "newPassword")?;
    let presented = one_time_keys::hash_of(token).ok_or_else(invalid_key)?;
    let key = password_resets::Entity::find()
        .filter(password_resets::Column::TokenHash.eq(presented.as_str()))
        .one(db)
        .await?
        .filter(|key| constant_time_eq(key.token_hash.as_bytes(), presented.as_bytes()))
        .filter(|key| key.used_at.is_none() && key.expires_at > now)
        .ok_or_else(invalid_key)?;
    let user = users::Entity::find_by_id(key.user_id)
        .one(db)
        .await?
        .filter(|user| user.is_active && !user.is_bot)
        .ok_or_else(invalid_key)?;
    let ticket = budget.take()?;
    let password_hash = password::hash(&ticket, new_password).await?;

    let txn = crate::db::begin_write(db).await?;
    // The conditional update is what makes the key single-use under concurrent resets.
    let spent = password_resets::Entity::update_many()
        .col_expr(password_resets::Column::UsedAt, Expr::value(now))
        .filter(password_resets::Column::Id.eq(key.id))
        .filter(password_resets::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    if spent.rows_affected != 1 {
        return Err(invalid_key());
    }
    password_resets::Entity::update_many()
        .col_expr(password_resets::Column::UsedAt, Expr::value(now))
        .filter(password_resets::Column::UserId.eq(user.id))
        .filter(password_resets::Column::UsedAt.is_null())
        .exec(&txn)
        .await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(password_hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(now))
        .filter(users::Column::Id.eq(user.id))
        .exec(&txn)
        .await?;
    sessions::revoke_logins(&txn, user.id, None, now).await?;
    audit_each_business(&txn, user.id, now).await?;
    let membership = choose_membership(&txn, user.id, None).await?;
    let session = NewSession::login(&user, membership, sessions::expiry(now, session_ttl)?);
    let issued = sessions::open(&txn, root, session, now).await?;
    txn.commit().await?;
    Ok(issued)
}

/// Reset keys issued to `user_id` in the [`KEY_TTL`] before `now`: one per mail sent.
async fn recent_mails<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    Ok(password_resets::Entity::find()
        .filter(password_resets::Column::UserId.eq(user_id))
        .filter(password_resets::Column::CreatedAt.gt(now - KEY_TTL))
        .count(db)
        .await?)
}

async fn audit_each_business<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let businesses: Vec<Uuid> = team_members::Entity::find()
        .select_only()
        .column(team_members::Column::BusinessId)
        .filter(team_members::Column::UserId.eq(user_id))
        .filter(team_members::Column::Status.ne(MemberStatus::Deactivated))
        .into_tuple()
        .all(db)
        .await?;
    for business_id in businesses {
        let entry = audit::Entry {
            business_id: Some(business_id),
            actor_user_id: Some(user_id),
            action: "user.password_reset",
            target: Some(user_id.to_string()),
            data: None,
        };
        audit::record(db, entry, now).await?;
    }
    Ok(())
}

fn invalid_key() -> AppError {
    AppError::bad_input(
        "token",
        "this reset link is invalid or has expired; ask for a new one",
    )
}

/// Equality that takes the same time wherever the inputs differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

//! Login throttling, kept in the database so that every replica counts the same failures.
//!
//! Five failures for one e-mail from one client address within 15 minutes lock that address
//! out for that e-mail until the window passes; the account's owner can still log in from
//! elsewhere. A much higher ceiling per e-mail across all addresses stops distributed guessing.

use chrono::{DateTime, TimeDelta, Utc};
use entity::login_attempts;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder,
};
use uuid::Uuid;

use crate::error::AppError;

pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
pub const PER_ADDRESS: u64 = 5;
pub const PER_EMAIL: u64 = 100;

/// # Errors
/// `RATE_LIMITED` (with `retryAfter` seconds) while a limit is reached.
pub async fn check<C: ConnectionTrait>(
    db: &C,
    email: &str,
    client_addr: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let since = now - WINDOW;
    let recent = || {
        login_attempts::Entity::find()
            .filter(login_attempts::Column::Email.eq(email))
            .filter(login_attempts::Column::CreatedAt.gt(since))
    };
    let from_here = recent().filter(login_attempts::Column::ClientAddr.eq(client_addr));
    let limited = if from_here.clone().count(db).await? >= PER_ADDRESS {
        Some(from_here)
    } else if recent().count(db).await? >= PER_EMAIL {
        Some(recent())
    } else {
        None
    };
    let Some(query) = limited else {
        return Ok(());
    };
    let oldest = query
        .order_by_asc(login_attempts::Column::CreatedAt)
        .one(db)
        .await?
        .map_or(now, |attempt| attempt.created_at);
    let retry_after = (oldest + WINDOW - now).num_seconds().max(1);
    Err(AppError::RateLimited {
        retry_after_secs: u64::try_from(retry_after).unwrap_or(1),
    })
}

/// Counts a failed login, and forgets failures older than the window.
pub async fn record_failure<C: ConnectionTrait>(
    db: &C,
    email: &str,
    client_addr: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    login_attempts::Entity::insert(login_attempts::ActiveModel {
        id: Set(Uuid::now_v7()),
        email: Set(email.chars().take(254).collect()),
        client_addr: Set(client_addr.chars().take(64).collect()),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    login_attempts::Entity::delete_many()
        .filter(login_attempts::Column::CreatedAt.lt(now - WINDOW))
        .exec(db)
        .await?;
    Ok(())
}

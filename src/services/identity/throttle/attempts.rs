//! Login attempts, recorded before the password is checked and counted per e-mail and address.

use chrono::{DateTime, Utc};
use entity::login_attempts::{ActiveModel, Column, Entity};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use uuid::Uuid;

use super::{PER_ADDRESS, PER_EMAIL, WINDOW, email_key, known, seconds_until};
use crate::client_addr::ClientAddr;
use crate::error::AppError;

/// An attempt that may go on to the password check. It counts as a failure until
/// [`Attempt::succeeded`] says otherwise.
#[derive(Debug)]
#[must_use = "an attempt is a failure unless it succeeded"]
pub struct Attempt {
    id: Uuid,
    email: String,
    addr: ClientAddr,
}

/// Records an attempt to log in to `email` from `addr`, then decides from the counts that
/// include it (see the module's rules). Of any number of concurrent attempts for one e-mail
/// from one address, at most [`PER_ADDRESS`] (less those already in the window) get through:
/// each one's count includes every attempt recorded before its own. Attempts still in flight
/// count too, so a flood may let fewer through; no lock is held, so a flood on one e-mail
/// cannot tie up the database's connections.
///
/// # Errors
/// `RATE_LIMITED` with `retryAfter`; the refused attempt is not kept.
pub async fn begin<C: ConnectionTrait>(
    db: &C,
    email: &str,
    addr: &ClientAddr,
    now: DateTime<Utc>,
) -> Result<Attempt, AppError> {
    let attempt = Attempt {
        id: Uuid::now_v7(),
        email: email_key(email),
        addr: addr.clone(),
    };
    Entity::insert(ActiveModel {
        id: Set(attempt.id),
        email: Set(attempt.email.clone()),
        client_addr: Set(addr.as_str().to_owned()),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    let (from_here, from_everywhere) = counts(db, &attempt, now).await?;
    let mut until = None;
    if from_here > PER_ADDRESS {
        until = Some(nth_newest_expiry(db, &attempt, true, PER_ADDRESS, now).await?);
    }
    if from_everywhere > PER_EMAIL && !known::is_known(db, &attempt.email, addr, now).await? {
        let email_until = nth_newest_expiry(db, &attempt, false, PER_EMAIL, now).await?;
        until = Some(until.map_or(email_until, |at: DateTime<Utc>| at.max(email_until)));
    }
    let Some(until) = until else {
        return Ok(attempt);
    };
    Entity::delete_by_id(attempt.id).exec(db).await?;
    Err(AppError::RateLimited {
        retry_after_secs: seconds_until(until, now),
    })
}

impl Attempt {
    /// The password was never checked (the hashing queue was full, say): the attempt is
    /// forgotten, as a refused one is, so it counts against nobody.
    pub async fn not_checked<C: ConnectionTrait>(self, db: &C) -> Result<(), AppError> {
        Entity::delete_by_id(self.id).exec(db).await?;
        Ok(())
    }

    /// The password was wrong (or the account unusable): the attempt stays counted, and
    /// attempts older than the window are forgotten.
    pub async fn failed<C: ConnectionTrait>(
        self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        Entity::delete_many()
            .filter(Column::CreatedAt.lte(now - WINDOW))
            .exec(db)
            .await?;
        Ok(())
    }

    /// The login succeeded: this address's attempts for this e-mail are cleared, and the
    /// address becomes known for the e-mail.
    pub async fn succeeded<C: ConnectionTrait>(
        self,
        db: &C,
        now: DateTime<Utc>,
    ) -> Result<(), AppError> {
        Entity::delete_many()
            .filter(Column::Email.eq(self.email.as_str()))
            .filter(Column::ClientAddr.eq(self.addr.as_str()))
            .exec(db)
            .await?;
        known::remember(db, &self.email, &self.addr, now).await
    }
}

/// Attempts within the window for the e-mail: from the attempt's address, and from everywhere.
async fn counts<C: ConnectionTrait>(
    db: &C,
    attempt: &Attempt,
    now: DateTime<Utc>,
) -> Result<(u64, u64), AppError> {
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT COUNT(*) AS everywhere, \
               COALESCE(SUM(CASE WHEN client_addr = $2 THEN 1 ELSE 0 END), 0) AS here \
             FROM login_attempts WHERE email = $1 AND created_at > $3",
            [
                attempt.email.clone().into(),
                attempt.addr.as_str().to_owned().into(),
                (now - WINDOW).into(),
            ],
        ))
        .await?;
    let Some(row) = row else { return Ok((0, 0)) };
    let count = |column| -> Result<u64, AppError> {
        let n: i64 = row.try_get("", column)?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    Ok((count("here")?, count("everywhere")?))
}

/// When the `n`-th newest other attempt (from the attempt's address, or from everywhere)
/// leaves the window: from then on fewer than `n` remain, and one more may try.
async fn nth_newest_expiry<C: ConnectionTrait>(
    db: &C,
    attempt: &Attempt,
    from_here: bool,
    n: u64,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, AppError> {
    let mut query = Entity::find()
        .filter(Column::Email.eq(attempt.email.as_str()))
        .filter(Column::CreatedAt.gt(now - WINDOW))
        .filter(Column::Id.ne(attempt.id));
    if from_here {
        query = query.filter(Column::ClientAddr.eq(attempt.addr.as_str()));
    }
    let nth = query
        .order_by_desc(Column::CreatedAt)
        .offset(n.saturating_sub(1))
        .one(db)
        .await?;
    // Gone since the count (a success cleared them): the next attempt may try at once.
    Ok(nth.map_or(now, |row| row.created_at + WINDOW))
}

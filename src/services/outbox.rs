//! The mail outbox. A change that must send an e-mail records it here, in its own transaction:
//! the mail exists exactly when the change committed. Delivery is the job worker's
//! (`crate::jobs`): it is told of the row after commit ([`crate::jobs::Jobs::mail_recorded`]),
//! and a periodic sweep finds any row that was committed but never handed over (the process
//! died in between).

use chrono::{DateTime, TimeDelta, Utc};
use entity::mail_outbox;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde_json::Value;
use uuid::Uuid;

use crate::error::AppError;

/// Which message to write; each has a template under `templates/mail/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// An invitation to join a business: `data` has `business`, `inviter`, `role`, `link`,
    /// `expires_at`.
    Invitation,
    /// A password reset: `data` has `name`, `link`, `expires_at`.
    PasswordReset,
    /// A plan change scheduled for the period's end that the cycle declined, to the owner:
    /// `data` has `name`, `business`, `from_plan`, `to_plan`, `metric`, `used`, `limit`.
    PlanChangeDeclined,
}

impl Template {
    pub const fn name(self) -> &'static str {
        match self {
            Template::Invitation => "invitation",
            Template::PasswordReset => "password_reset",
            Template::PlanChangeDeclined => "plan_change_declined",
        }
    }

    pub fn parse(name: &str) -> Option<Template> {
        [
            Template::Invitation,
            Template::PasswordReset,
            Template::PlanChangeDeclined,
        ]
        .into_iter()
        .find(|template| template.name() == name)
    }
}

/// An e-mail to record.
#[derive(Debug, Clone)]
pub struct NewMail {
    pub template: Template,
    pub to: String,
    pub data: Value,
}

/// Records `mail` on `db` (the transaction of the change that causes it); returns its id, to
/// hand to [`crate::jobs::Jobs::mail_recorded`] once that transaction has committed.
///
/// # Errors
/// Database errors.
pub async fn record<C: ConnectionTrait>(
    db: &C,
    mail: NewMail,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    let id = Uuid::now_v7();
    mail_outbox::Entity::insert(mail_outbox::ActiveModel {
        id: Set(id),
        template: Set(mail.template.name().to_owned()),
        recipient: Set(mail.to),
        data: Set(Some(mail.data)),
        created_at: Set(now),
        enqueued_at: Set(None),
        sent_at: Set(None),
        attempts: Set(0),
        last_error: Set(None),
        claimed_until: Set(None),
    })
    .exec_without_returning(db)
    .await?;
    Ok(id)
}

/// How long a claim keeps other workers off a mail: longer than any send takes (lettre gives
/// up on an SMTP server after a minute), short enough that a dead worker's mail moves on.
pub const CLAIM_LEASE: TimeDelta = TimeDelta::minutes(5);

/// Claims unsent mail `id` for one send: one conditional update that succeeds for exactly one
/// caller while the row is unsent and unclaimed (or its claim ran out), and counts the attempt.
/// `None`: sent already, or another worker is sending it now — nothing to do.
///
/// # Errors
/// Database errors.
pub async fn claim<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Option<mail_outbox::Model>, AppError> {
    let claimed = mail_outbox::Entity::update_many()
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(now + CLAIM_LEASE),
        )
        .col_expr(
            mail_outbox::Column::Attempts,
            Expr::col(mail_outbox::Column::Attempts).add(1),
        )
        .filter(mail_outbox::Column::Id.eq(id))
        .filter(mail_outbox::Column::SentAt.is_null())
        .filter(
            Condition::any()
                .add(mail_outbox::Column::ClaimedUntil.is_null())
                .add(mail_outbox::Column::ClaimedUntil.lt(now)),
        )
        .exec(db)
        .await?;
    if claimed.rows_affected == 0 {
        return Ok(None);
    }
    Ok(mail_outbox::Entity::find_by_id(id).one(db).await?)
}

/// Marks mail `id` sent and forgets its `data` (the one-time keys in its links). Call only once
/// the transport accepted the message.
///
/// # Errors
/// Database errors.
pub async fn mark_sent<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::SentAt, Expr::value(now))
        .col_expr(
            mail_outbox::Column::Data,
            Expr::value(Option::<Value>::None),
        )
        .col_expr(
            mail_outbox::Column::LastError,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.eq(id))
        .filter(mail_outbox::Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Records why a send of `id` failed and releases its claim; `handed_over` is when it was last
/// handed to the queue (now, when a retry is scheduled), which the sweep measures staleness by.
///
/// # Errors
/// Database errors.
pub async fn mark_failed<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    error: &str,
    handed_over: DateTime<Utc>,
) -> Result<(), AppError> {
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::LastError, Expr::value(error))
        .col_expr(mail_outbox::Column::EnqueuedAt, Expr::value(handed_over))
        .col_expr(
            mail_outbox::Column::ClaimedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(mail_outbox::Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Takes unsent mail `id` for handing to the queue: succeeds (one conditional update) when it
/// was never handed over, or was handed over before `stale_before` and is still unsent — so
/// two sweeps, or a sweep and [`crate::jobs::Jobs::mail_recorded`], do not both enqueue it.
///
/// # Errors
/// Database errors.
pub async fn take_for_queue<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<bool, AppError> {
    let taken = mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::EnqueuedAt, Expr::value(now))
        .filter(mail_outbox::Column::Id.eq(id))
        .filter(due(stale_before))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Undoes [`take_for_queue`] for mail `id` taken at `taken_at` whose hand-over failed: it is
/// due again at once, as it was before (`handed_over`, its earlier hand-over if any), unless
/// something else took or sent it meanwhile.
///
/// # Errors
/// Database errors.
pub async fn give_back<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    taken_at: DateTime<Utc>,
    handed_over: Option<DateTime<Utc>>,
) -> Result<(), AppError> {
    mail_outbox::Entity::update_many()
        .col_expr(mail_outbox::Column::EnqueuedAt, Expr::value(handed_over))
        .filter(mail_outbox::Column::Id.eq(id))
        .filter(mail_outbox::Column::EnqueuedAt.eq(taken_at))
        .filter(mail_outbox::Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Unsent mail never handed over, or handed over before `stale_before` (its job died or gave
/// up), oldest first, at most `limit`, each with when it was last handed over.
///
/// # Errors
/// Database errors.
pub async fn due_for_queue<C: ConnectionTrait>(
    db: &C,
    stale_before: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<(Uuid, Option<DateTime<Utc>>)>, AppError> {
    Ok(mail_outbox::Entity::find()
        .select_only()
        .column(mail_outbox::Column::Id)
        .column(mail_outbox::Column::EnqueuedAt)
        .filter(due(stale_before))
        .order_by_asc(mail_outbox::Column::CreatedAt)
        .limit(limit)
        .into_tuple()
        .all(db)
        .await?)
}

fn due(stale_before: DateTime<Utc>) -> Condition {
    Condition::all()
        .add(mail_outbox::Column::SentAt.is_null())
        .add(
            Condition::any()
                .add(mail_outbox::Column::EnqueuedAt.is_null())
                .add(mail_outbox::Column::EnqueuedAt.lt(stale_before)),
        )
}

//! Pending invitations: sending one again with a new key, and taking one back.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::invite::{Sent, mail, record};
use super::{Actor, find_member, keys, mail_cap};
use crate::error::AppError;
use crate::services::locks;

/// Issues a new key for a pending invitation (the old one dies), for another 7 days, and mails
/// it again.
///
/// # Errors
/// `NOT_FOUND` unless `id` is a pending invitation of the actor's business; `FORBIDDEN` for an
/// ADMIN invitation when the actor is not an owner; `RATE_LIMITED` as [`super::invite::invite`].
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn resend(
    db: &DatabaseConnection,
    public_url: &str,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Sent, AppError> {
    locks::retrying(|| resend_once(db, public_url, actor, id, now)).await
}

async fn resend_once(
    db: &DatabaseConnection,
    public_url: &str,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Sent, AppError> {
    let txn = crate::db::begin_write(db).await?;
    // The team lock serializes re-sends with every other mailing step of the business.
    locks::team(&txn, actor.business_id).await?;
    let pending = find_pending(&txn, actor, id).await?;
    let email = email_of(&txn, pending.user_id).await?;
    mail_cap::ensure_may_mail(&txn, actor.business_id, &email, now).await?;
    let key = keys::generate();
    let mut invitation = pending.clone();
    invitation.activation_key_hash = Some(key.hash);
    invitation.activation_expires_at = Some(keys::expiry(now));
    invitation.updated_at = now;
    // Conditional: an acceptance (which takes no team lock) may have committed since the read.
    let renewed = team_members::Entity::update_many()
        .col_expr(
            team_members::Column::ActivationKeyHash,
            Expr::value(invitation.activation_key_hash.clone()),
        )
        .col_expr(
            team_members::Column::ActivationExpiresAt,
            Expr::value(invitation.activation_expires_at),
        )
        .col_expr(team_members::Column::UpdatedAt, Expr::value(now))
        .filter(team_members::Column::Id.eq(invitation.id))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .exec(&txn)
        .await?;
    if renewed.rows_affected != 1 {
        return Err(AppError::NotFound { what: "invitation" });
    }
    let mail_id = mail(&txn, public_url, &invitation, &email, &key.raw, now).await?;
    record(&txn, actor, "invitation.resent", &invitation, &email, now).await?;
    txn.commit().await?;
    Ok(Sent {
        invitation,
        mail_id,
    })
}

/// Deletes a pending invitation: its key dies and its seat frees. A user created by the
/// invitation who has no password and no other membership goes with it, so the address can
/// sign up.
///
/// # Errors
/// As [`resend`].
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn revoke(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    locks::retrying(|| revoke_once(db, actor, id, now)).await
}

async fn revoke_once(
    db: &DatabaseConnection,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let txn = crate::db::begin_write(db).await?;
    // Serialized with re-sends and acceptance's seat count: a revoke never interleaves with a
    // re-send of the same invitation.
    locks::team(&txn, actor.business_id).await?;
    let invitation = find_pending(&txn, actor, id).await?;
    let email = email_of(&txn, invitation.user_id).await?;
    // Conditional: an acceptance (which takes no team lock) may have committed since the read,
    // and an active member is never deleted as an invitation.
    let deleted = team_members::Entity::delete_many()
        .filter(team_members::Column::Id.eq(invitation.id))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .exec(&txn)
        .await?;
    if deleted.rows_affected != 1 {
        return Err(AppError::NotFound { what: "invitation" });
    }
    let others = team_members::Entity::find()
        .filter(team_members::Column::UserId.eq(invitation.user_id))
        .one(&txn)
        .await?;
    if others.is_none() {
        users::Entity::delete_many()
            .filter(users::Column::Id.eq(invitation.user_id))
            .filter(users::Column::PasswordHash.is_null())
            .filter(users::Column::IsStaff.eq(false))
            .exec(&txn)
            .await?;
    }
    record(&txn, actor, "invitation.revoked", &invitation, &email, now).await?;
    txn.commit().await?;
    Ok(())
}

async fn find_pending<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    id: Uuid,
) -> Result<team_members::Model, AppError> {
    let member = find_member(db, actor, id).await?;
    if member.status != MemberStatus::Invited {
        return Err(AppError::NotFound { what: "invitation" });
    }
    actor.ensure_may_manage(member.role)?;
    Ok(member)
}

async fn email_of<C: ConnectionTrait>(db: &C, user_id: Uuid) -> Result<String, AppError> {
    Ok(users::Entity::find_by_id(user_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "user" })?
        .email)
}

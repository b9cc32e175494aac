//! The SDK key: a token for the business's bot user that can record usage and read it, nothing
//! else. A business has one live key; rotating revokes it and opens another.
//!
//! The key is not stored: it is a Biscuit minted for the live `api_key` session, so reading
//! `apiKey` twice gives two strings that are both that one key, and both die when it rotates.

use biscuit_auth::KeyPair;
use chrono::{DateTime, Utc};
use entity::{Role, SessionKind, team_members, users};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::accounts::{add_member, new_user};
use super::sessions::{self, NewSession};
use crate::auth::rights;
use crate::auth::token::{self, Claims};
use crate::error::{AppError, is_unique_violation};
use crate::services::audit;

/// Creates the SDK bot user of a new business, its SDK membership and its first key.
pub(crate) async fn create_bot<C: ConnectionTrait>(
    db: &C,
    root: &KeyPair,
    business_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let email = format!("sdk-{}@bots.saaskit.invalid", business_id.simple());
    let bot = new_user(email, Some("SDK".to_owned()), None, true, now);
    users::Entity::insert(users::ActiveModel::from(bot.clone()))
        .exec_without_returning(db)
        .await?;
    add_member(db, business_id, bot.id, Role::Sdk, now).await?;
    sessions::open(db, root, key_session(bot.id, business_id), now).await?;
    Ok(())
}

fn key_session(bot_id: Uuid, business_id: Uuid) -> NewSession {
    NewSession {
        user_id: bot_id,
        kind: SessionKind::ApiKey,
        business: Some((business_id, Role::Sdk)),
        rights: rights::for_role(Role::Sdk),
        staff: false,
        impersonator: None,
        reason: None,
        expires_at: None,
    }
}

async fn live_key<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
) -> Result<entity::sessions::Model, AppError> {
    entity::sessions::Entity::find()
        .filter(entity::sessions::Column::BusinessId.eq(business_id))
        .filter(entity::sessions::Column::Kind.eq(SessionKind::ApiKey))
        .filter(entity::sessions::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "API key" })
}

/// The business's live SDK key.
///
/// # Errors
/// `NOT_FOUND` when the business has no live key.
pub async fn current<C: ConnectionTrait>(
    db: &C,
    root: &KeyPair,
    business_id: Uuid,
) -> Result<String, AppError> {
    let session = live_key(db, business_id).await?;
    let claims = Claims {
        user_id: session.user_id,
        session_id: session.id,
        business_id: Some(business_id),
        role: Some(Role::Sdk),
        rights: rights::for_role(Role::Sdk),
        staff: false,
        impersonator: None,
        expires_at: None,
    };
    Ok(token::mint(root, &claims)?)
}

/// Revokes the business's key and returns a new one; the old one is refused from now on.
///
/// # Errors
/// `CONFLICT` when another rotation of the same business won the race.
pub async fn rotate(
    db: &DatabaseConnection,
    root: &KeyPair,
    actor: Uuid,
    business_id: Uuid,
    now: DateTime<Utc>,
) -> Result<String, AppError> {
    let txn = crate::db::begin_write(db).await?;
    let old = live_key(&txn, business_id).await?;
    sessions::revoke(&txn, old.id, now).await?;
    let bot = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.eq(Role::Sdk))
        .one(&txn)
        .await?
        .map_or(old.user_id, |member| member.user_id);
    let issued = sessions::open(&txn, root, key_session(bot, business_id), now)
        .await
        .map_err(|err| match err {
            AppError::Database(db_err) if is_unique_violation(&db_err) => AppError::Conflict {
                field: None,
                message: "the key was rotated concurrently".into(),
            },
            other => other,
        })?;
    audit::record(
        &txn,
        audit::Entry {
            business_id: Some(business_id),
            actor_user_id: Some(actor),
            action: "apikey.rotated",
            target: None,
            data: None,
        },
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(issued.token)
}

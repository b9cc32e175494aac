//! Known addresses: where an e-mail's owner logged in successfully lately.

use chrono::{DateTime, Utc};
use entity::login_known_addresses::{ActiveModel, Column, Entity};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::KNOWN_FOR;
use crate::client_addr::ClientAddr;
use crate::error::AppError;

/// Whether `addr` logged in to `email` successfully within [`KNOWN_FOR`].
pub(super) async fn is_known<C: ConnectionTrait>(
    db: &C,
    email: &str,
    addr: &ClientAddr,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let found = Entity::find()
        .filter(Column::Email.eq(email))
        .filter(Column::ClientAddr.eq(addr.as_str()))
        .filter(Column::LastLoginAt.gt(now - KNOWN_FOR))
        .one(db)
        .await?;
    Ok(found.is_some())
}

/// Makes `addr` known for `email` from `now` on, and forgets the e-mail's stale addresses.
pub(super) async fn remember<C: ConnectionTrait>(
    db: &C,
    email: &str,
    addr: &ClientAddr,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    Entity::insert(ActiveModel {
        email: Set(email.to_owned()),
        client_addr: Set(addr.as_str().to_owned()),
        last_login_at: Set(now),
    })
    .on_conflict(
        OnConflict::columns([Column::Email, Column::ClientAddr])
            .update_column(Column::LastLoginAt)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Entity::delete_many()
        .filter(Column::Email.eq(email))
        .filter(Column::LastLoginAt.lte(now - KNOWN_FOR))
        .exec(db)
        .await?;
    Ok(())
}

//! Sessions: the rows that tokens point at. A token is honoured while its session is neither
//! revoked nor expired, its user is active, and any staff standing it relies on still holds.

use biscuit_auth::KeyPair;
use chrono::{DateTime, TimeDelta, Utc};
use entity::{MemberStatus, Role, SessionKind, sessions, team_members, users};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::rights::{self, RightSet};
use crate::auth::token::{self, Claims};
use crate::error::AppError;

/// What a new session is for.
pub struct NewSession {
    pub user_id: Uuid,
    pub kind: SessionKind,
    pub business: Option<(Uuid, Role)>,
    pub rights: RightSet,
    pub staff: bool,
    pub impersonator: Option<Uuid>,
    pub reason: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl NewSession {
    /// A login of `user`, acting in `business` with `role` when given.
    pub fn login(
        user: &users::Model,
        business: Option<(Uuid, Role)>,
        expires_at: DateTime<Utc>,
    ) -> Self {
        let mut rights =
            business.map_or_else(RightSet::default, |(_, role)| rights::for_role(role));
        if user.is_staff {
            rights = rights.union(rights::STAFF);
        }
        NewSession {
            user_id: user.id,
            kind: SessionKind::Login,
            business,
            rights,
            staff: user.is_staff,
            impersonator: None,
            reason: None,
            expires_at: Some(expires_at),
        }
    }
}

/// When a session opened at `now` for `ttl` ends.
///
/// # Errors
/// Internal when the sum overflows; start-up bounds every configured lifetime, so it does not.
pub fn expiry(now: DateTime<Utc>, ttl: TimeDelta) -> Result<DateTime<Utc>, AppError> {
    now.checked_add_signed(ttl)
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("a session lifetime overflows: {ttl}")))
}

/// A session and the token that carries it.
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

/// Writes the session row and mints its token.
///
/// # Errors
/// Database errors; the partial unique index refuses a second live API key of a business.
pub async fn open<C: ConnectionTrait>(
    db: &C,
    root: &KeyPair,
    new: NewSession,
    now: DateTime<Utc>,
) -> Result<Issued, AppError> {
    let id = Uuid::now_v7();
    sessions::Entity::insert(sessions::ActiveModel {
        id: Set(id),
        user_id: Set(new.user_id),
        business_id: Set(new.business.map(|(business, _)| business)),
        kind: Set(new.kind),
        expires_at: Set(new.expires_at),
        revoked_at: Set(None),
        impersonator_id: Set(new.impersonator),
        reason: Set(new.reason),
        created_at: Set(now),
    })
    .exec_without_returning(db)
    .await?;
    let claims = Claims {
        user_id: new.user_id,
        session_id: id,
        business_id: new.business.map(|(business, _)| business),
        role: new.business.map(|(_, role)| role),
        rights: new.rights,
        staff: new.staff,
        impersonator: new.impersonator,
        expires_at: new.expires_at,
    };
    let token = token::mint(root, &claims)?;
    Ok(Issued { token, claims })
}

/// The session that `claims` point at when it is alive at `now`; `None` otherwise.
///
/// Alive means: not revoked, not expired, its user active; when it acts in a business, the
/// user is still an active member of it (for a login, with the role the token carries); when
/// the claims say staff, the user is still staff; when it is an impersonation, the
/// impersonator is still an active staff user. So demoting or deactivating staff or members
/// ends their tokens wherever this is re-read, even were a session row missed.
///
/// # Errors
/// Database errors.
pub async fn alive<C: ConnectionTrait>(
    db: &C,
    claims: &Claims,
    now: DateTime<Utc>,
) -> Result<Option<sessions::Model>, AppError> {
    let found = sessions::Entity::find_by_id(claims.session_id)
        .find_also_related(users::Entity)
        .one(db)
        .await?;
    let Some((session, Some(user))) = found else {
        return Ok(None);
    };
    let holder_ok = user.id == claims.user_id && user.is_active && (user.is_staff || !claims.staff);
    let unexpired = session.expires_at.is_none_or(|at| at > now);
    if !(holder_ok && unexpired && session.revoked_at.is_none()) {
        return Ok(None);
    }
    if let Some(business_id) = session.business_id {
        let member = team_members::Entity::find()
            .filter(team_members::Column::BusinessId.eq(business_id))
            .filter(team_members::Column::UserId.eq(user.id))
            .one(db)
            .await?;
        let member_ok = member.is_some_and(|member| {
            member.status == MemberStatus::Active
                && (session.kind != SessionKind::Login || claims.role == Some(member.role))
        });
        if !member_ok {
            return Ok(None);
        }
    }
    if let Some(impersonator) = session.impersonator_id {
        let staff = users::Entity::find_by_id(impersonator).one(db).await?;
        if !staff.is_some_and(|staff| staff.is_active && staff.is_staff) {
            return Ok(None);
        }
    }
    Ok(Some(session))
}

/// Revokes one session; revoking twice is harmless.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::Id.eq(id))
        .filter(sessions::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Revokes every login session of `user_id` but `except`; returns how many.
pub async fn revoke_logins<C: ConnectionTrait>(
    db: &C,
    user_id: Uuid,
    except: Option<Uuid>,
    now: DateTime<Utc>,
) -> Result<u64, AppError> {
    let mut update = sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(now))
        .filter(sessions::Column::UserId.eq(user_id))
        .filter(sessions::Column::Kind.eq(SessionKind::Login))
        .filter(sessions::Column::RevokedAt.is_null());
    if let Some(keep) = except {
        update = update.filter(sessions::Column::Id.ne(keep));
    }
    Ok(update.exec(db).await?.rows_affected)
}

use async_graphql::{Context, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::Role as RoleModel;
use uuid::Uuid;

use super::{Business, Role, User};
use crate::auth::token::Claims;
use crate::auth::{Access, Grant, Principal, Right, RightSet};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::loaders::{BusinessId, UserId, load};
use crate::services::team::business;

/// Who the token belongs to and what it may do.
pub struct Viewer {
    user_id: Uuid,
    business_id: Option<Uuid>,
    role: Option<RoleModel>,
    staff: bool,
    impersonator: Option<Uuid>,
    rights: RightSet,
    /// The caller's own view (`me`), or a new session's (an `AuthPayload`).
    new_session: bool,
}

impl Viewer {
    /// How the businesses this viewer shows are reached, with `grant`'s rights.
    fn access(&self, grant: Grant) -> Access {
        if self.new_session {
            Access::Session(grant)
        } else {
            Access::AroundCaller(grant)
        }
    }
}

impl From<&Principal> for Viewer {
    fn from(p: &Principal) -> Self {
        Viewer {
            user_id: p.user_id,
            business_id: p.business_id,
            role: p.role,
            staff: p.staff,
            impersonator: p.impersonator,
            rights: p.rights,
            new_session: false,
        }
    }
}

impl From<&Claims> for Viewer {
    fn from(c: &Claims) -> Self {
        Viewer {
            user_id: c.user_id,
            business_id: c.business_id,
            role: c.role,
            staff: c.staff,
            impersonator: c.impersonator,
            rights: c.rights,
            new_session: true,
        }
    }
}

#[Object]
impl Viewer {
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = load(ctx, UserId(self.user_id)).await?;
        Ok(user.map(User).ok_or(AppError::NotFound { what: "user" })?)
    }

    /// The business the token acts in; null for staff outside a business.
    async fn business(&self, ctx: &Context<'_>) -> Result<Option<Business>> {
        let Some(id) = self.business_id else {
            return Ok(None);
        };
        let grant = Grant {
            business_id: self.business_id,
            rights: self.rights,
        };
        Ok(load(ctx, BusinessId(id))
            .await?
            .map(|business| Business::reached(business, self.access(grant))))
    }

    async fn role(&self) -> Option<Role> {
        self.role.map(Role::from)
    }

    async fn is_staff(&self) -> bool {
        self.staff
    }

    /// The staff user acting in this business, when the token is an impersonation.
    async fn impersonator(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.impersonator else {
            return Ok(None);
        };
        Ok(load(ctx, UserId(id)).await?.map(User))
    }

    /// The token's rights, e.g. `business:read`.
    async fn rights(&self) -> Vec<&'static str> {
        self.rights.iter().map(|right| right.as_str()).collect()
    }

    /// Every business the user is an active member of, most recently joined first (the 100
    /// most recent). Impersonation sees only the business it acts in, not the user's others.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let state = ctx.state()?;
        let rows = business::memberships(&state.db, self.user_id).await?;
        let impersonating = self.impersonator.is_some();
        Ok(rows
            .into_iter()
            .filter(|(business, _)| !impersonating || Some(business.id) == self.business_id)
            .map(|(business, role)| {
                // A member may read the name of every business they belong to.
                let grant = Grant {
                    business_id: Some(business.id),
                    rights: RightSet::of(&[Right::BusinessRead]),
                };
                Membership {
                    business: Business::reached(business, self.access(grant)),
                    role: role.into(),
                }
            })
            .collect())
    }
}

#[derive(SimpleObject)]
pub struct Membership {
    business: Business,
    role: Role,
}

/// A new session: the token to send as `Authorization: Bearer <token>`.
#[derive(SimpleObject)]
pub struct AuthPayload {
    token: String,
    /// When the token stops working; null for tokens that do not expire.
    expires_at: Option<DateTime<Utc>>,
    viewer: Viewer,
}

impl From<crate::services::identity::sessions::Issued> for AuthPayload {
    fn from(issued: crate::services::identity::sessions::Issued) -> Self {
        AuthPayload {
            viewer: Viewer::from(&issued.claims),
            expires_at: issued.claims.expires_at,
            token: issued.token,
        }
    }
}

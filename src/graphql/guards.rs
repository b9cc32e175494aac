//! Guards: each field that needs a right names it beside the field, e.g.
//! `#[graphql(guard = "HasRight(Right::StaffRead)")]`.

use async_graphql::{Context, Guard, Result};
use uuid::Uuid;

use super::context::ContextExt;
use crate::auth::{Grant, Right};
use crate::error::AppError;

/// Any valid token.
pub struct SignedIn;

impl Guard for SignedIn {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        ctx.principal()?;
        Ok(())
    }
}

/// A valid token holding the right (in its own business, for business rights).
pub struct HasRight(pub Right);

impl Guard for HasRight {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if ctx.principal()?.has(self.0) {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

/// The right over one particular business: the token's own business, or any business for a
/// read right held by staff. An object may carry a [`Grant`] of its own — the business in a
/// new session's `AuthPayload` is seen with that session's rights, not the caller's.
pub struct OnBusiness(pub Uuid, pub Right, pub Option<Grant>);

impl Guard for OnBusiness {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let OnBusiness(business_id, right, grant) = *self;
        if grant.is_some_and(|grant| grant.may(business_id, right)) {
            return Ok(());
        }
        if ctx.principal()?.may(business_id, right) {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

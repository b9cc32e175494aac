//! Guards: each field that needs a right names it beside the field, e.g.
//! `#[graphql(guard = "HasRight(Right::StaffRead)")]`.

use async_graphql::{Context, Guard, Result};
use uuid::Uuid;

use super::context::ContextExt;
use crate::auth::Right;
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
/// read right held by staff.
pub struct OnBusiness(pub Uuid, pub Right);

impl Guard for OnBusiness {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if ctx.principal()?.may(self.0, self.1) {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

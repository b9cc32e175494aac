//! Guards: each field that needs a right names it beside the field, e.g.
//! `#[graphql(guard = "HasRight(Right::StaffRead)")]`.

use async_graphql::{Context, Guard, Result};
use uuid::Uuid;

use super::context::{BusinessReach, ContextExt};
use crate::auth::{Access, Right};
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

/// Not a staff member's impersonation: for the SDK key, a credential that would outlive the
/// impersonation's hour and the staff member's deactivation. (Impersonation tokens do not
/// carry the key's rights either; this says why, and holds for tokens minted before that.)
/// An object reached through a new session ([`Access::Session`]) is read with that session's
/// rights alone, whoever sent the request, so the caller's token does not count there.
pub struct NotImpersonating(pub Access);

impl Guard for NotImpersonating {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if matches!(self.0, Access::Session(_)) {
            return Ok(());
        }
        if ctx.principal().is_ok_and(|p| p.impersonator.is_some()) {
            return Err(AppError::forbidden(
                "impersonation cannot read or replace the SDK key: the key would outlive \
                 the impersonation",
            )
            .into());
        }
        Ok(())
    }
}

/// A token as it was minted: one its holder narrowed cannot open new sessions (a new token
/// could not carry the narrowing along).
pub struct WholeToken;

impl Guard for WholeToken {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        if ctx.principal()?.token.is_attenuated() {
            Err(AppError::forbidden("a narrowed token cannot open new sessions").into())
        } else {
            Ok(())
        }
    }
}

/// The right over one particular business: the token's own business, or any business for a
/// read right held by staff. How the object was reached ([`Access`]) may change the rights — the
/// business in a new session's `AuthPayload` is seen with that session's only — or require more: a
/// business reached through `me` is read only when the token's checks allow `business` too.
pub struct OnBusiness(pub Uuid, pub Right, pub Access);

impl Guard for OnBusiness {
    async fn check(&self, ctx: &Context<'_>) -> Result<()> {
        let OnBusiness(business_id, right, access) = *self;
        let granted = match access {
            Access::Caller => None,
            // The new session's rights alone: the caller's would let a token read, through
            // someone else's login, what its holder's checks keep it from reading directly.
            Access::Session(grant) => {
                return if grant.may(business_id, right) {
                    Ok(())
                } else {
                    Err(AppError::Forbidden.into())
                };
            }
            Access::AroundCaller(grant) => {
                ctx.principal()?;
                let reach = ctx.data_opt::<BusinessReach>().is_some_and(|reach| reach.0);
                if !reach {
                    return Err(AppError::forbidden(
                        "the token's checks do not allow reading the business",
                    )
                    .into());
                }
                Some(grant)
            }
        };
        if granted.is_some_and(|grant| grant.may(business_id, right))
            || ctx.principal()?.may(business_id, right)
        {
            Ok(())
        } else {
            Err(AppError::Forbidden.into())
        }
    }
}

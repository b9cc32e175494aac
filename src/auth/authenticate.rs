//! From an `Authorization` header to a [`Caller`]: verify the token once, check its session,
//! and audit impersonation.

use super::principal::{Caller, Principal};
use super::token::{self, Operation, Rejection};
use crate::error::AppError;
use crate::services::{impersonation, sessions};
use crate::state::AppState;

/// Establishes who calls, for a request whose root fields are `operations`.
///
/// A missing header is anonymous; a bad, expired or revoked token is a rejected caller (fields
/// that need a token answer `UNAUTHENTICATED`).
///
/// # Errors
/// `FORBIDDEN` when a check the holder added to the token refuses one of `operations`;
/// internal errors from the database.
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
    operations: &[Operation],
) -> Result<Caller, AppError> {
    let Some(header) = authorization else {
        return Ok(Caller::Anonymous);
    };
    let Some(token) = bearer(header) else {
        return Ok(Caller::Rejected(Rejection::Invalid));
    };
    let now = state.clock.now();
    let cached = match state.tokens.get(token, now) {
        Some(cached) => {
            // Checked moments ago: only the expiry and the holder's own checks remain.
            if cached.expires_at.is_some_and(|at| at <= now) {
                return Ok(Caller::Rejected(Rejection::Expired));
            }
            if cached.attenuated {
                match cached.token.authorize_all(operations, now) {
                    Ok(_) => {}
                    Err(Rejection::NotAllowed(_)) => return Err(AppError::Forbidden),
                    Err(rejection) => return Ok(Caller::Rejected(rejection)),
                }
            }
            cached
        }
        None => {
            let (claims, verified) =
                match token::verify(state.root_key.public(), token, operations, now) {
                    Ok(verified) => verified,
                    Err(Rejection::NotAllowed(_)) => return Err(AppError::Forbidden),
                    Err(rejection) => return Ok(Caller::Rejected(rejection)),
                };
            let Some(session) = sessions::alive(&state.db, claims.session_id, now).await? else {
                return Ok(Caller::Rejected(Rejection::Revoked));
            };
            state.tokens.put(
                token,
                claims,
                verified,
                session.kind,
                session.expires_at,
                now,
            )
        }
    };
    let claims = cached.claims;
    let verified = cached.token;
    let kind = cached.kind;
    let principal = Principal {
        user_id: claims.user_id,
        session_id: claims.session_id,
        kind,
        business_id: claims.business_id,
        role: claims.role,
        rights: claims.rights,
        staff: claims.staff,
        impersonator: claims.impersonator,
        token: verified,
    };
    if principal.impersonator.is_some() {
        impersonation::record_use(&state.db, &principal, operations, now).await?;
    }
    Ok(Caller::Authenticated(Box::new(principal)))
}

fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

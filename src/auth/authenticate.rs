//! From an `Authorization` header to a [`Caller`]: verify the token once, check its session,
//! and audit impersonation.

use super::cache::Cached;
use super::principal::{Caller, Principal};
use super::token::{self, Operation, Rejection};
use crate::error::AppError;
use crate::services::identity::{impersonation, sessions};
use crate::state::AppState;

/// Establishes who calls, for a request whose root fields are `operations`.
///
/// A missing header is anonymous; a bad, oversized, expired or revoked token is a rejected
/// caller (fields that need a token answer `UNAUTHENTICATED`). What a token says of its
/// session and of staff is re-read from the database at most [`TTL`] after this node last
/// did, and at once after this node revoked it.
///
/// [`TTL`]: super::cache::TTL
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
    // Before the cache: an oversized token is neither hashed nor decoded.
    if let Err(rejection) = token::check_size(token) {
        return Ok(Caller::Rejected(rejection));
    }
    let now = state.clock.now();
    let cached = match state.tokens.get(token, now) {
        Some(cached) => {
            // Checked moments ago: only the expiry and the holder's own checks remain.
            if cached.expires_at.is_some_and(|at| at <= now) {
                return Ok(Caller::Rejected(Rejection::Expired));
            }
            if cached.attenuated {
                match cached.token.authorize_all(operations, now) {
                    Ok(()) => {}
                    Err(Rejection::NotAllowed(_)) => return Err(AppError::Forbidden),
                    Err(rejection) => return Ok(Caller::Rejected(rejection)),
                }
            }
            cached
        }
        None => {
            // Taken before the session is read, so a revocation forgotten meanwhile keeps
            // what this request read out of the cache.
            let ticket = state.tokens.ticket();
            // Signature and shape first, then the session: a refused or revoked token runs
            // no Datalog at all.
            let (claims, verified) = match token::open(state.root_key.public(), token) {
                Ok(opened) => opened,
                Err(rejection) => return Ok(Caller::Rejected(rejection)),
            };
            let Some(session) = sessions::alive(&state.db, &claims, now).await? else {
                return Ok(Caller::Rejected(Rejection::Revoked));
            };
            match verified.authorize_all(operations, now) {
                Ok(()) => {}
                Err(Rejection::NotAllowed(_)) => return Err(AppError::Forbidden),
                Err(rejection) => return Ok(Caller::Rejected(rejection)),
            }
            let entry = Cached::checked(claims, verified, session.kind, session.expires_at, now);
            state.tokens.put(ticket, token, entry)
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

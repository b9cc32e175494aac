//! Who is calling: the verified token of a request and the session behind it.

use entity::{Role, SessionKind};
use uuid::Uuid;

use super::rights::{Right, RightSet};
use super::token::{Rejection, VerifiedToken};
use crate::error::AppError;

/// The holder of a valid token whose session is alive.
#[derive(Clone)]
pub struct Principal {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub kind: SessionKind,
    pub business_id: Option<Uuid>,
    pub role: Option<Role>,
    pub rights: RightSet,
    pub staff: bool,
    pub impersonator: Option<Uuid>,
    pub token: VerifiedToken,
}

impl Principal {
    pub fn has(&self, right: Right) -> bool {
        self.rights.contains(right)
    }

    /// Whether the caller holds `right` over `business_id`: its own business, or any business
    /// for a read right when the caller is staff.
    pub fn may(&self, business_id: Uuid, right: Right) -> bool {
        self.grant().may(business_id, right)
    }

    pub fn grant(&self) -> Grant {
        Grant {
            business_id: self.business_id,
            rights: self.rights,
        }
    }

    /// Whether the token's own checks (those its holder appended) allow `operation` with
    /// `facts` at `now`. A token without such checks allows everything its rights do.
    ///
    /// # Errors
    /// `FORBIDDEN` when a check refuses.
    pub fn allows(
        &self,
        operation: &str,
        facts: &[(&str, &str)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        if !self.token.is_attenuated() {
            return Ok(());
        }
        self.token
            .authorize(operation, facts, now)
            .map(drop)
            .map_err(|_| AppError::Forbidden)
    }

    /// [`Principal::allows`] for each of `operations`, judged as the document's root fields
    /// are (once per distinct projection onto what the checks ask about).
    ///
    /// # Errors
    /// `FORBIDDEN` when a check refuses one of them.
    pub fn allows_all(
        &self,
        operations: &[crate::auth::token::Operation],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), AppError> {
        if !self.token.is_attenuated() {
            return Ok(());
        }
        self.token
            .authorize_all(operations, now)
            .map_err(|_| AppError::Forbidden)
    }

    /// The business the token acts in.
    ///
    /// # Errors
    /// `FORBIDDEN` for a token that acts in no business (staff outside impersonation).
    pub fn business(&self) -> Result<Uuid, AppError> {
        self.business_id.ok_or(AppError::Forbidden)
    }
}

/// Rights over one business (or, with staff rights, read access to all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub business_id: Option<Uuid>,
    pub rights: RightSet,
}

impl Grant {
    pub fn may(&self, business_id: Uuid, right: Right) -> bool {
        (self.business_id == Some(business_id) && self.rights.contains(right))
            || (right.is_read() && self.rights.contains(Right::StaffRead))
    }
}

/// How an object of a business was reached, which decides the rights it is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// With the caller's rights, through a root field the token's checks allowed.
    Caller,
    /// Through `me` (the viewer's business, its memberships): with these rights, and only
    /// when the caller's token would also be allowed the root field `business` — a holder's
    /// checks judge every path to business data alike.
    AroundCaller(Grant),
    /// With a new session's rights (the payload of signup, login, …), whoever calls.
    Session(Grant),
}

/// The caller of a request, as the HTTP layer established it.
#[derive(Clone, Default)]
pub enum Caller {
    #[default]
    Anonymous,
    /// A token came but is not honoured (bad, expired, revoked).
    Rejected(Rejection),
    Authenticated(Box<Principal>),
}

impl Caller {
    /// The principal, or `UNAUTHENTICATED`.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` when there is no valid token.
    pub fn principal(&self) -> Result<&Principal, AppError> {
        match self {
            Caller::Authenticated(principal) => Ok(principal),
            Caller::Anonymous | Caller::Rejected(_) => Err(AppError::Unauthenticated),
        }
    }

    pub fn is_staff(&self) -> bool {
        matches!(self, Caller::Authenticated(p) if p.has(Right::StaffIntrospect))
    }
}

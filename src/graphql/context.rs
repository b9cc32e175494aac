//! What resolvers take from the request context.

use async_graphql::Context;

use crate::auth::password::Budget;
use crate::auth::{Caller, Principal};
use crate::error::AppError;
use crate::state::AppState;

/// The client's address, as the HTTP layer saw it (for login throttling).
pub use crate::client_addr::ClientAddr;

/// Whether the caller's token allows the root field `business`, decided once per request: the
/// objects `me` reaches ([`crate::auth::Access::AroundCaller`]) are read only when it does.
#[derive(Debug, Clone, Copy)]
pub struct BusinessReach(pub bool);

pub(crate) trait ContextExt {
    fn state(&self) -> Result<&AppState, AppError>;
    fn caller(&self) -> &Caller;
    /// The authenticated caller, or `UNAUTHENTICATED`.
    fn principal(&self) -> Result<&Principal, AppError>;
    fn client_addr(&self) -> &ClientAddr;
    /// The HTTP request's password budget (one password check per request).
    fn password_budget(&self) -> Result<&Budget, AppError>;
}

static ANONYMOUS: Caller = Caller::Anonymous;

impl ContextExt for Context<'_> {
    fn state(&self) -> Result<&AppState, AppError> {
        self.data_opt::<AppState>()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the schema has no AppState")))
    }

    fn caller(&self) -> &Caller {
        self.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
    }

    fn principal(&self) -> Result<&Principal, AppError> {
        self.caller().principal()
    }

    fn client_addr(&self) -> &ClientAddr {
        static UNKNOWN: std::sync::LazyLock<ClientAddr> =
            std::sync::LazyLock::new(ClientAddr::unknown);
        self.data_opt::<ClientAddr>().unwrap_or(&UNKNOWN)
    }

    fn password_budget(&self) -> Result<&Budget, AppError> {
        // Every request the HTTP layer serves has one; a request without one is refused
        // rather than given unlimited password work.
        self.data_opt::<Budget>().ok_or_else(|| {
            AppError::Internal(anyhow::anyhow!("the request has no password budget"))
        })
    }
}

//! One error type for the whole API, and the one place that turns errors into GraphQL errors.
//!
//! Services return [`AppError`]. Resolvers simply use `?`: async-graphql keeps the original
//! error as the `source` of the GraphQL error, and [`present_errors`] — run on every response —
//! gives each error its `extensions.code`. Anything that is not an `AppError` (a database error
//! that escaped with `?`, say) is logged and replaced by a generic message, so no internal text
//! ever reaches a client.

use std::sync::Arc;

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};
use sea_orm::{DbErr, SqlErr};

/// Everything that can go wrong while serving a request, in the terms a client is told.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("authentication required")]
    Unauthenticated,
    #[error("the e-mail or password is wrong")]
    InvalidCredentials,
    #[error("you are not allowed to do this")]
    Forbidden,
    /// Forbidden for a reason the caller can act on.
    #[error("{0}")]
    ForbiddenBecause(&'static str),
    #[error("{message}")]
    BadInput { field: String, message: String },
    #[error("{what} not found")]
    NotFound { what: &'static str },
    /// A key that was valid and no longer is, by the passing of time (not used, not revoked).
    #[error("{message}")]
    Expired { field: String, message: String },
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error("the plan's limit for {metric} would be exceeded")]
    QuotaExceeded {
        metric: String,
        limit: i64,
        used: i64,
    },
    #[error("the subscription is not active")]
    SubscriptionInactive,
    /// The billing provider declined a payment; nothing was changed.
    #[error("the payment was declined: {reason}")]
    PaymentDeclined { reason: String },
    #[error("too many attempts; try again later")]
    RateLimited { retry_after_secs: u64 },
    /// The request ran past `SAASKIT_REQUEST_TIMEOUT` and was stopped.
    #[error(
        "the request took longer than {after:?} and was stopped; what it had not committed was \
         rolled back (repeat a write with its idempotency key to be sure)"
    )]
    TimedOut { after: std::time::Duration },
    #[error("internal server error")]
    Database(#[from] DbErr),
    #[error("internal server error")]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn forbidden(reason: &'static str) -> Self {
        Self::ForbiddenBecause(reason)
    }

    /// The `extensions.code` a client sees.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated | Self::InvalidCredentials => "UNAUTHENTICATED",
            Self::Forbidden | Self::ForbiddenBecause(_) => "FORBIDDEN",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::Expired { .. } => "EXPIRED",
            Self::Conflict { .. } => "CONFLICT",
            Self::QuotaExceeded { .. } => "QUOTA_EXCEEDED",
            Self::SubscriptionInactive => "SUBSCRIPTION_INACTIVE",
            Self::PaymentDeclined { .. } => "PAYMENT_DECLINED",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::TimedOut { .. } => "TIMEOUT",
            Self::Database(_) | Self::Internal(_) => INTERNAL,
        }
    }

    fn extensions(&self) -> ErrorExtensionValues {
        let mut ext = ErrorExtensionValues::default();
        ext.set("code", self.code());
        match self {
            Self::BadInput { field, .. } | Self::Expired { field, .. } => {
                ext.set("field", field.as_str());
            }
            Self::Conflict {
                field: Some(field), ..
            } => ext.set("field", field.as_str()),
            Self::QuotaExceeded {
                metric,
                limit,
                used,
            } => {
                ext.set("metric", metric.as_str());
                ext.set("limit", *limit);
                ext.set("used", *used);
            }
            Self::RateLimited { retry_after_secs } => ext.set("retryAfter", *retry_after_secs),
            Self::PaymentDeclined { reason } => ext.set("reason", reason.as_str()),
            _ => {}
        }
        ext
    }

    /// A failure of the server, whose details a client is not told.
    pub fn is_internal(&self) -> bool {
        matches!(self, Self::Database(_) | Self::Internal(_))
    }
}

/// Whether a database error is the violation of a unique key, e.g. a duplicate e-mail.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Whether PostgreSQL broke a deadlock by aborting this transaction (SQLSTATE 40P01): nothing
/// of it was written, and it may simply be tried again.
pub fn is_deadlock(err: &DbErr) -> bool {
    sqlstate(err).as_deref() == Some("40P01")
}

/// Whether PostgreSQL aborted the transaction for a serialization failure (40001) or a
/// deadlock (40P01): nothing of it was written, and it may simply be tried again.
pub fn is_retryable(err: &DbErr) -> bool {
    matches!(sqlstate(err).as_deref(), Some("40001" | "40P01"))
}

/// Whether `err` is a failure of the database itself — unreachable, out of resources, shutting
/// down, aborting transactions to break a cycle — rather than its refusal of one statement for
/// what the statement carried (a value it cannot store, a constraint or a trigger that refuses
/// a row). Writing the same rows again in smaller parts helps only the second kind.
pub fn is_whole_database_failure(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, SqlxError};
    let sqlx = match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e,
        _ => return false,
    };
    match &**sqlx {
        SqlxError::Database(e) => {
            let postgres = e
                .try_downcast_ref::<sea_orm::sqlx::postgres::PgDatabaseError>()
                .is_some();
            e.code().is_some_and(|code| server_failure(postgres, &code))
        }
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::Protocol(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed
        | SqlxError::BeginFailed => true,
        _ => false,
    }
}

/// A PostgreSQL SQLSTATE of a class that is about the server, not the statement (connection,
/// rollback, resources, operator, system, internal); or a SQLite result code of the same kind
/// (busy, locked, out of memory, read-only, interrupted, I/O, corrupt, full, cannot open,
/// protocol, not a database).
fn server_failure(postgres: bool, code: &str) -> bool {
    if postgres {
        matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58" | "XX"))
    } else {
        code.parse::<u32>()
            .is_ok_and(|sqlite| matches!(sqlite & 0xff, 5..=11 | 13..=15 | 26))
    }
}

fn sqlstate(err: &DbErr) -> Option<String> {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sea_orm::SqlxError::Database(e) => e.code().map(|code| code.into_owned()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// An error that several fields share (a batch loader's failure): presented like the
/// [`AppError`] inside it.
#[derive(Debug)]
pub struct SharedError(pub Arc<AppError>);

impl std::fmt::Display for SharedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Turns a loader's shared error back into a GraphQL error with the original as its source.
pub fn shared(err: Arc<AppError>) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => err.into(),
        Err(shared) => async_graphql::Error::new_with_source(SharedError(shared)),
    }
}

const INTERNAL: &str = "INTERNAL_SERVER_ERROR";

/// Gives every error of a response its `extensions.code`, and hides internal details.
pub fn present_errors(response: &mut Response) {
    for error in &mut response.errors {
        present(error);
    }
}

fn present(error: &mut ServerError) {
    let app = error.source::<AppError>().or_else(|| {
        error
            .source::<SharedError>()
            .map(|shared| shared.0.as_ref())
    });
    if let Some(app) = app {
        if app.is_internal() {
            tracing::error!(error = ?app, path = ?error.path, "request failed");
        }
        let ext = app.extensions();
        error.message = app.to_string();
        error.extensions = Some(ext);
        return;
    }
    if has_code(error) {
        return;
    }
    if error.source.is_some() {
        // An error of another type escaped a resolver: its text may hold internals.
        tracing::error!(message = %error.message, path = ?error.path, "unclassified error");
        error.message = "internal server error".to_owned();
        error.extensions = Some(code_only(INTERNAL));
        return;
    }
    // async-graphql's own errors: the document could not be parsed or validated (no path), or
    // an argument could not be coerced to its type (a path).
    let code = if error.path.is_empty() {
        "GRAPHQL_VALIDATION_FAILED"
    } else {
        "BAD_USER_INPUT"
    };
    error.extensions = Some(code_only(code));
}

fn has_code(error: &ServerError) -> bool {
    error
        .extensions
        .as_ref()
        .and_then(|ext| ext.get("code"))
        .is_some_and(|code| matches!(code, Value::String(_)))
}

fn code_only(code: &str) -> ErrorExtensionValues {
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    ext
}

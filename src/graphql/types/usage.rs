use async_graphql::SimpleObject;
use chrono::{DateTime, Utc};
use entity::usage_periods;

use super::graphql_int;
use crate::error::AppError;
use crate::services::usage;

/// One metric of the plan and what the business has used of it.
#[derive(SimpleObject)]
pub struct Usage {
    metric: String,
    used: i32,
    /// null = unlimited.
    limit: Option<i32>,
    remaining: Option<i32>,
    /// When the counter starts again from zero; null for metrics that do not reset.
    resets_at: Option<DateTime<Utc>>,
}

impl From<usage::Usage> for Usage {
    fn from(u: usage::Usage) -> Self {
        Usage {
            used: graphql_int(u.used),
            limit: u.limit.map(graphql_int),
            remaining: remaining(u.limit, u.used),
            resets_at: u.resets_at,
            metric: u.metric,
        }
    }
}

/// The answer to `recordUsage`.
#[derive(SimpleObject)]
pub struct UsageResult {
    metric: String,
    used: i32,
    limit: Option<i32>,
    remaining: Option<i32>,
    /// The idempotency key was seen before: this is the first call's answer, nothing counted.
    duplicate: bool,
}

impl From<usage::Recorded> for UsageResult {
    fn from(r: usage::Recorded) -> Self {
        UsageResult {
            used: graphql_int(r.used),
            limit: r.limit.map(graphql_int),
            remaining: remaining(r.limit, r.used),
            duplicate: r.duplicate,
            metric: r.metric,
        }
    }
}

/// One event's answer in `recordUsages`: `usage` when it counted or repeated a key, else
/// `error` — never both.
#[derive(SimpleObject)]
pub struct UsageOutcome {
    usage: Option<UsageResult>,
    error: Option<UsageError>,
}

/// Why one event of `recordUsages` counted nothing: what `recordUsage` would have answered
/// as a GraphQL error, its `extensions` as fields.
#[derive(SimpleObject)]
pub struct UsageError {
    /// As `extensions.code`: `QUOTA_EXCEEDED`, `BAD_USER_INPUT`, `CONFLICT`,
    /// `SUBSCRIPTION_INACTIVE`…
    code: String,
    message: String,
    /// The input field at fault, for `BAD_USER_INPUT` and `CONFLICT`.
    field: Option<String>,
    /// For `QUOTA_EXCEEDED`: the metric, its limit and what was used before this event.
    metric: Option<String>,
    limit: Option<i32>,
    used: Option<i32>,
}

impl From<Result<usage::Recorded, AppError>> for UsageOutcome {
    fn from(answer: Result<usage::Recorded, AppError>) -> Self {
        match answer {
            Ok(recorded) => UsageOutcome {
                usage: Some(recorded.into()),
                error: None,
            },
            Err(error) => UsageOutcome {
                usage: None,
                error: Some(error.into()),
            },
        }
    }
}

impl From<AppError> for UsageError {
    fn from(error: AppError) -> Self {
        if error.is_internal() {
            tracing::error!(error = ?error, "an event of recordUsages failed");
        }
        let mut answer = UsageError {
            code: error.code().to_owned(),
            message: error.to_string(),
            field: None,
            metric: None,
            limit: None,
            used: None,
        };
        match error {
            AppError::BadInput { field, .. }
            | AppError::Conflict {
                field: Some(field), ..
            } => answer.field = Some(field),
            AppError::QuotaExceeded {
                metric,
                limit,
                used,
            } => {
                answer.metric = Some(metric);
                answer.limit = Some(graphql_int(limit));
                answer.used = Some(graphql_int(used));
            }
            _ => {}
        }
        answer
    }
}

/// What is left under a limit; none for unlimited metrics.
fn remaining(limit: Option<i64>, used: i64) -> Option<i32> {
    limit.map(|max| graphql_int(max.saturating_sub(used).max(0)))
}

/// What one metric used in a finished period (or in a span of periods caught up at once, or
/// the part of a period before a plan change).
#[derive(SimpleObject)]
pub struct UsagePeriod {
    metric: String,
    used: i32,
    period_start: DateTime<Utc>,
    period_end: DateTime<Utc>,
}

impl From<usage_periods::Model> for UsagePeriod {
    fn from(row: usage_periods::Model) -> Self {
        UsagePeriod {
            used: graphql_int(row.used),
            period_start: row.period_start,
            period_end: row.period_end,
            metric: row.metric,
        }
    }
}

use std::collections::BTreeSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, Result};

use crate::AppError;
use crate::auth::token::Operation;
use crate::auth::{Principal, Right};
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::types::{UsageOutcome, UsageResult};
use crate::services::usage::{self, Pending, Record};
use crate::state::AppState;
use crate::telemetry::metrics as measure;

#[derive(InputObject)]
pub struct RecordUsageInput {
    metric: String,
    /// Negative amounts give back non-resetting metrics (an application deleted).
    #[graphql(default_with = "Some(1)")]
    quantity: Option<i32>,
    /// 1–255 printable ASCII characters; a repeated key counts once and returns the first
    /// answer. Keys are remembered for at least 24 hours.
    idempotency_key: Option<String>,
}

impl From<RecordUsageInput> for Record {
    fn from(input: RecordUsageInput) -> Self {
        Record {
            metric: input.metric,
            quantity: input.quantity.unwrap_or(1).into(),
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(Default)]
pub struct UsageMutation;

#[Object]
impl UsageMutation {
    /// Counts usage of a metric against the plan's limit, all or nothing. For the SDK key.
    /// Answered once committed; concurrent calls share a transaction, each answered as if
    /// the calls had run one by one.
    #[graphql(guard = "HasRight(Right::UsageRecord)")]
    async fn record_usage(
        &self,
        ctx: &Context<'_>,
        input: RecordUsageInput,
    ) -> Result<UsageResult> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let recorded = record_usage_as(state, principal, pending(ctx), input).await;
        match &recorded {
            Ok(recorded) => measure::usage_accepted(recorded.duplicate),
            Err(err) => measure::usage_refused(err.code()),
        }
        Ok(recorded?.into())
    }

    /// Counts up to 100 events in one transaction, each judged on its own in order as if
    /// sent one after the other by `recordUsage` (a key repeated within the call is a
    /// duplicate of its first use). One answer per event, in input order: its `usage`, or
    /// the `error` that counted nothing. For the SDK key.
    #[graphql(guard = "HasRight(Right::UsageRecord)")]
    async fn record_usages(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<RecordUsageInput>,
    ) -> Result<Vec<UsageOutcome>> {
        let answers =
            record_usages_as(ctx.state()?, ctx.principal()?, pending(ctx), inputs).await?;
        for answer in &answers {
            match answer {
                Ok(recorded) => measure::usage_accepted(recorded.duplicate),
                Err(err) => measure::usage_refused(err.code()),
            }
        }
        Ok(answers.into_iter().map(UsageOutcome::from).collect())
    }
}

/// The request's deadline, when it has one (HTTP requests do).
fn pending<'a>(ctx: &Context<'a>) -> Option<&'a Pending> {
    ctx.data_opt::<Arc<Pending>>().map(|pending| &**pending)
}

/// `recordUsages` for `principal`, checked as `recordUsage` is: the count, the key's rate
/// (each event counts), the token's own checks on every event's metric as it arrived.
async fn record_usages_as(
    state: &AppState,
    principal: &Principal,
    pending: Option<&Pending>,
    inputs: Vec<RecordUsageInput>,
) -> Result<Vec<Result<usage::Recorded, AppError>>, AppError> {
    usage::check_count(inputs.len())?;
    let events = u32::try_from(inputs.len()).ok().and_then(NonZeroU32::new);
    if let Some(events) = events {
        state.usage_rate.check_n(&principal.session_id, events)?;
    }
    let now = state.clock.now();
    // A name that cannot be counted is its event's own refusal, answered in its place.
    let metrics: BTreeSet<&str> = inputs
        .iter()
        .filter_map(|input| usage::metric_name(&input.metric).ok())
        .collect();
    let operations: Vec<Operation> = metrics
        .into_iter()
        .map(|metric| Operation {
            name: "recordUsages".to_owned(),
            facts: vec![("metric".to_owned(), metric.to_owned())],
        })
        .collect();
    principal.allows_all(&operations, now)?;
    let business_id = principal.business()?;
    let records = inputs.into_iter().map(Record::from).collect();
    state
        .usage
        .submit_batch_within(pending, business_id, records, now)
        .await
}

/// `recordUsage` for `principal`: its key's rate first (the cheapest refusal), then the
/// token's own checks on the metric as it arrived, then the counter.
async fn record_usage_as(
    state: &AppState,
    principal: &Principal,
    pending: Option<&Pending>,
    input: RecordUsageInput,
) -> Result<usage::Recorded, AppError> {
    state.usage_rate.check(&principal.session_id)?;
    let now = state.clock.now();
    // The document was authorized before it ran; this judges the metric as it arrived.
    let metric = usage::metric_name(&input.metric)?;
    principal.allows("recordUsage", &[("metric", metric)], now)?;
    let business_id = principal.business()?;
    state
        .usage
        .submit_within(pending, business_id, input.into(), now)
        .await
}

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::subscriptions;

use super::{Plan, SubscriptionStatus, Usage};
use crate::auth::Right;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::OnBusiness;
use crate::graphql::loaders::{PlanId, load};
use crate::services::usage;

/// A business's subscription to a plan.
pub struct Subscription(pub(crate) subscriptions::Model);

#[Object]
impl Subscription {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    async fn plan(&self, ctx: &Context<'_>) -> Result<Plan> {
        let plan = load(ctx, PlanId(self.0.plan_id)).await?;
        Ok(plan
            .map(Plan::from)
            .ok_or(AppError::NotFound { what: "plan" })?)
    }

    async fn status(&self) -> SubscriptionStatus {
        self.0.status.into()
    }

    async fn current_period_start(&self) -> DateTime<Utc> {
        self.0.current_period_start
    }

    async fn current_period_end(&self) -> DateTime<Utc> {
        self.0.current_period_end
    }

    /// The subscription ends (EXPIRED) when the current period does.
    async fn cancel_at_period_end(&self) -> bool {
        self.0.cancel_at_period_end
    }

    /// The plan that takes over when the current period ends.
    async fn scheduled_plan(&self, ctx: &Context<'_>) -> Result<Option<Plan>> {
        let Some(id) = self.0.scheduled_plan_id else {
            return Ok(None);
        };
        Ok(load(ctx, PlanId(id)).await?.map(Plan::from))
    }

    /// Every metric of the plan and what has been used of it in this period.
    #[graphql(guard = "OnBusiness(self.0.business_id, Right::UsageRead, None)")]
    async fn usage(&self, ctx: &Context<'_>) -> Result<Vec<Usage>> {
        let state = ctx.state()?;
        let usage = usage::of_business(&state.db, self.0.business_id).await?;
        Ok(usage.into_iter().map(Usage::from).collect())
    }

    /// Renewals of a paid plan that cost nothing, granted by staff.
    async fn credit_periods(&self) -> i32 {
        self.0.credit_periods
    }
}

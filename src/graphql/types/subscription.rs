use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::subscriptions;

use super::{Plan, SubscriptionStatus, Usage};
use crate::auth::{Access, Right};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::OnBusiness;
use crate::graphql::loaders::{PlanId, load};
use crate::services::usage;

/// A business's subscription to a plan.
pub struct Subscription {
    model: subscriptions::Model,
    /// How the business object it was reached through was reached (see `Business`).
    access: Access,
}

impl Subscription {
    pub fn new(model: subscriptions::Model) -> Self {
        Subscription {
            model,
            access: Access::Caller,
        }
    }

    pub fn reached(model: subscriptions::Model, access: Access) -> Self {
        Subscription { model, access }
    }
}

#[Object]
impl Subscription {
    async fn id(&self) -> ID {
        super::id(self.model.id)
    }

    async fn plan(&self, ctx: &Context<'_>) -> Result<Plan> {
        let plan = load(ctx, PlanId(self.model.plan_id)).await?;
        Ok(plan
            .map(Plan::from)
            .ok_or(AppError::NotFound { what: "plan" })?)
    }

    async fn status(&self) -> SubscriptionStatus {
        self.model.status.into()
    }

    async fn current_period_start(&self) -> DateTime<Utc> {
        self.model.current_period_start
    }

    async fn current_period_end(&self) -> DateTime<Utc> {
        self.model.current_period_end
    }

    /// The subscription ends (EXPIRED) when the current period does.
    async fn cancel_at_period_end(&self) -> bool {
        self.model.cancel_at_period_end
    }

    /// The plan that takes over when the current period ends.
    async fn scheduled_plan(&self, ctx: &Context<'_>) -> Result<Option<Plan>> {
        let Some(id) = self.model.scheduled_plan_id else {
            return Ok(None);
        };
        Ok(load(ctx, PlanId(id)).await?.map(Plan::from))
    }

    /// Every metric of the plan and what has been used of it in this period.
    #[graphql(guard = "OnBusiness(self.model.business_id, Right::UsageRead, self.access)")]
    async fn usage(&self, ctx: &Context<'_>) -> Result<Vec<Usage>> {
        let state = ctx.state()?;
        let usage = usage::of_business(&state.db, self.model.business_id).await?;
        Ok(usage.into_iter().map(Usage::from).collect())
    }

    /// Renewals of a paid plan that cost nothing, granted by staff.
    async fn credit_periods(&self) -> i32 {
        self.model.credit_periods
    }
}

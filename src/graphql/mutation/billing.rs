//! A business's subscription (change, cancel, resume) and staff's grants.

use async_graphql::{Context, Enum, ID, Object, Result};

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::types::Subscription;
use crate::services::billing::subscription::{self, Timing};
use crate::services::validate;

/// When a plan change takes effect.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PlanChangeTiming {
    /// Now, keeping the current period and every counter; refused (`QUOTA_EXCEEDED`) unless
    /// everything in use fits the new plan. A dearer plan costs the prorated difference.
    Immediately,
    /// The current period ends on the current plan; the new one takes over then.
    AtPeriodEnd,
}

impl From<PlanChangeTiming> for Timing {
    fn from(timing: PlanChangeTiming) -> Self {
        match timing {
            PlanChangeTiming::Immediately => Timing::Immediately,
            PlanChangeTiming::AtPeriodEnd => Timing::AtPeriodEnd,
        }
    }
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Moves the business to another public plan. Without `timing`: a dearer plan now (the
    /// prorated difference for the rest of the period is charged first), anything else now
    /// when everything in use fits it, else at the end of the period. The period and the
    /// counters are kept. A subscription that is not active starts a new period on the plan,
    /// paid in full first. Refused with `QUOTA_EXCEEDED` (naming the metric) when what is in
    /// use does not fit, `PAYMENT_DECLINED` (with `reason`) when the payment is declined —
    /// nothing changes then — and `CONFLICT` while a payment is in progress.
    #[graphql(guard = "HasRight(Right::BillingManage)")]
    async fn change_plan(
        &self,
        ctx: &Context<'_>,
        plan_id: ID,
        timing: Option<PlanChangeTiming>,
    ) -> Result<Subscription> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let plan_id = validate::id(&plan_id, "planId")?;
        let subscription = subscription::change_plan(
            &state.db,
            state.billing.as_ref(),
            principal.user_id,
            principal.business()?,
            plan_id,
            timing.map(Timing::from),
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }

    /// Ends the subscription when the current period ends (the default; `resumeSubscription`
    /// undoes it), or at once.
    #[graphql(guard = "HasRight(Right::BillingManage)")]
    async fn cancel_subscription(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(true)")] at_period_end: Option<bool>,
    ) -> Result<Subscription> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let subscription = subscription::cancel(
            &state.db,
            principal.user_id,
            principal.business()?,
            at_period_end.unwrap_or(true),
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }

    /// Withdraws a pending cancellation.
    #[graphql(guard = "HasRight(Right::BillingManage)")]
    async fn resume_subscription(&self, ctx: &Context<'_>) -> Result<Subscription> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let subscription = subscription::resume(
            &state.db,
            principal.user_id,
            principal.business()?,
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }

    /// Puts a business on a plan at once, e.g. `unlimited` for a beta user.
    #[graphql(guard = "HasRight(Right::StaffGrant)")]
    async fn grant_plan(
        &self,
        ctx: &Context<'_>,
        business_id: ID,
        plan_id: ID,
    ) -> Result<Subscription> {
        let state = ctx.state()?;
        let business_id = validate::id(&business_id, "businessId")?;
        let plan_id = validate::id(&plan_id, "planId")?;
        let subscription = subscription::grant_plan(
            &state.db,
            ctx.principal()?.user_id,
            business_id,
            plan_id,
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }

    /// Gives a business free renewals of its paid plan.
    #[graphql(guard = "HasRight(Right::StaffGrant)")]
    async fn grant_credit_periods(
        &self,
        ctx: &Context<'_>,
        business_id: ID,
        periods: i32,
    ) -> Result<Subscription> {
        let state = ctx.state()?;
        let business_id = validate::id(&business_id, "businessId")?;
        let subscription = subscription::grant_credit_periods(
            &state.db,
            ctx.principal()?.user_id,
            business_id,
            periods,
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }
}

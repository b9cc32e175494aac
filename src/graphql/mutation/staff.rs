use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::{HasRight, WholeToken};
use crate::graphql::types::{AuthPayload, PeriodUnit, Plan, Subscription};
use crate::services::plan_admin::{self, CreatePlan, LimitInput, UpdatePlan};
use crate::services::{billing, impersonation, validate};

#[derive(InputObject)]
pub struct BillingPeriodInput {
    count: i32,
    unit: PeriodUnit,
}

#[derive(InputObject)]
pub struct PlanLimitInput {
    metric: String,
    /// null = unlimited.
    max: Option<i32>,
    resets_each_period: bool,
}

impl From<PlanLimitInput> for LimitInput {
    fn from(input: PlanLimitInput) -> Self {
        LimitInput {
            metric: input.metric,
            max: input.max.map(i64::from),
            resets_each_period: input.resets_each_period,
        }
    }
}

#[derive(InputObject)]
pub struct CreatePlanInput {
    code: String,
    name: String,
    description: Option<String>,
    price_cents: i32,
    currency: String,
    period: BillingPeriodInput,
    limits: Vec<PlanLimitInput>,
    is_public: bool,
    #[graphql(default_with = "Some(false)")]
    is_default: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdatePlanInput {
    name: Option<String>,
    description: Option<String>,
    price_cents: Option<i32>,
    /// Replaces all the plan's limits; they apply to its current subscribers at once.
    limits: Option<Vec<PlanLimitInput>>,
    is_public: Option<bool>,
    is_default: Option<bool>,
}

#[derive(Default)]
pub struct StaffMutation;

#[Object]
impl StaffMutation {
    #[graphql(guard = "HasRight(Right::StaffPlans)")]
    async fn create_plan(&self, ctx: &Context<'_>, input: CreatePlanInput) -> Result<Plan> {
        let state = ctx.state()?;
        let command = CreatePlan {
            code: input.code,
            name: input.name,
            description: input.description,
            price_cents: input.price_cents.into(),
            currency: input.currency,
            period_count: input.period.count,
            period_unit: input.period.unit.into(),
            limits: input.limits.into_iter().map(LimitInput::from).collect(),
            is_public: input.is_public,
            is_default: input.is_default.unwrap_or(false),
        };
        let plan = plan_admin::create(
            &state.db,
            ctx.principal()?.user_id,
            command,
            state.clock.now(),
        )
        .await?;
        Ok(plan.into())
    }

    #[graphql(guard = "HasRight(Right::StaffPlans)")]
    async fn update_plan(&self, ctx: &Context<'_>, id: ID, input: UpdatePlanInput) -> Result<Plan> {
        let state = ctx.state()?;
        let id = validate::id(&id, "id")?;
        let command = UpdatePlan {
            name: input.name,
            description: input.description,
            price_cents: input.price_cents.map(i64::from),
            limits: input
                .limits
                .map(|limits| limits.into_iter().map(LimitInput::from).collect()),
            is_public: input.is_public,
            is_default: input.is_default,
        };
        let plan = plan_admin::update(
            &state.db,
            ctx.principal()?.user_id,
            id,
            command,
            state.clock.now(),
        )
        .await?;
        Ok(plan.into())
    }

    /// The plan takes no new subscribers; its current ones keep it.
    #[graphql(guard = "HasRight(Right::StaffPlans)")]
    async fn archive_plan(&self, ctx: &Context<'_>, id: ID) -> Result<Plan> {
        let state = ctx.state()?;
        let id = validate::id(&id, "id")?;
        let plan =
            plan_admin::archive(&state.db, ctx.principal()?.user_id, id, state.clock.now()).await?;
        Ok(plan.into())
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
        let subscription = billing::grant_plan(
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
        let subscription = billing::grant_credit_periods(
            &state.db,
            ctx.principal()?.user_id,
            business_id,
            periods,
            state.clock.now(),
        )
        .await?;
        Ok(Subscription::new(subscription))
    }

    /// A token acting in the business for at most an hour: read-only unless `write`. The
    /// reason and every use are written to the business's audit log.
    #[graphql(guard = "HasRight(Right::StaffImpersonate).and(WholeToken)")]
    async fn impersonate(
        &self,
        ctx: &Context<'_>,
        business_id: ID,
        reason: String,
        #[graphql(default_with = "Some(false)")] write: Option<bool>,
    ) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let business_id = validate::id(&business_id, "businessId")?;
        let issued = impersonation::start(
            &state.db,
            &state.root_key,
            ctx.principal()?,
            business_id,
            &reason,
            write.unwrap_or(false),
            state.clock.now(),
        )
        .await?;
        Ok(issued.into())
    }
}

//! Staff's plan catalogue: creating, editing and archiving plans (`staff:plans`).

use async_graphql::{Context, ID, InputObject, Object, Result};

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::types::{PeriodUnit, Plan};
use crate::services::billing::plan_admin::{self, CreatePlan, LimitInput, UpdatePlan};
use crate::services::validate;

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
pub struct PlanAdminMutation;

#[Object]
impl PlanAdminMutation {
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
}

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use entity::{plan_limits, plans};

use super::{PeriodUnit, graphql_int};
use crate::graphql::loaders::{LimitsOf, load};

/// Something a business can subscribe to: a price per billing period and a set of limits.
pub struct Plan(plans::Model);

impl From<plans::Model> for Plan {
    fn from(model: plans::Model) -> Self {
        Self(model)
    }
}

#[Object]
impl Plan {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    /// A unique slug, e.g. `free`.
    async fn code(&self) -> &str {
        &self.0.code
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// The price of one billing period, in the currency's smallest unit.
    async fn price_cents(&self) -> i32 {
        graphql_int(self.0.price_cents)
    }

    /// ISO 4217 code, e.g. `USD`.
    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn period(&self) -> BillingPeriod {
        BillingPeriod {
            count: self.0.period_count,
            unit: self.0.period_unit.into(),
        }
    }

    /// What a subscriber may use, per metric (at most 20 metrics).
    async fn limits(&self, ctx: &Context<'_>) -> Result<Vec<PlanLimit>> {
        let limits = load(ctx, LimitsOf(self.0.id)).await?;
        Ok(limits
            .unwrap_or_default()
            .into_iter()
            .map(PlanLimit::from)
            .collect())
    }

    async fn is_public(&self) -> bool {
        self.0.is_public
    }

    /// Whether new businesses start on this plan.
    async fn is_default(&self) -> bool {
        self.0.is_default
    }

    /// Archived plans keep their subscribers but take no new ones.
    async fn archived(&self) -> bool {
        self.0.archived_at.is_some()
    }
}

/// One metric's cap. `max: null` is unlimited.
#[derive(SimpleObject)]
pub struct PlanLimit {
    metric: String,
    max: Option<i32>,
    /// Whether the counter starts again at zero each billing period.
    resets_each_period: bool,
}

impl From<plan_limits::Model> for PlanLimit {
    fn from(model: plan_limits::Model) -> Self {
        Self {
            metric: model.metric,
            max: model.max.map(graphql_int),
            resets_each_period: model.resets_each_period,
        }
    }
}

/// A billing period: `count` units, e.g. 1 MONTH.
#[derive(SimpleObject)]
pub struct BillingPeriod {
    count: i32,
    unit: PeriodUnit,
}

use async_graphql::{Context, Object, Result};

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::types::Plan;
use crate::services::billing::{plan_admin, plans};

#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// The plans on offer: public and not archived, cheapest first (the 100 cheapest). Needs
    /// no token.
    async fn plans(&self, ctx: &Context<'_>) -> Result<Vec<Plan>> {
        let state = ctx.state()?;
        let plans = plans::list_public(&state.db).await?;
        Ok(plans.into_iter().map(Plan::from).collect())
    }

    /// Every plan, hidden and archived ones included, cheapest first (the 100 cheapest).
    #[graphql(guard = "HasRight(Right::StaffRead)")]
    async fn all_plans(&self, ctx: &Context<'_>) -> Result<Vec<Plan>> {
        let state = ctx.state()?;
        Ok(plan_admin::list_all(&state.db)
            .await?
            .into_iter()
            .map(Plan::from)
            .collect())
    }
}

use async_graphql::{Context, Object, Result};

use crate::graphql::context::ContextExt;
use crate::graphql::types::Plan;
use crate::services;

#[derive(Default)]
pub struct PlansQuery;

#[Object]
impl PlansQuery {
    /// The plans on offer: public and not archived, cheapest first. Needs no token.
    async fn plans(&self, ctx: &Context<'_>) -> Result<Vec<Plan>> {
        let state = ctx.state()?;
        let plans = services::plans::list_public(&state.db).await?;
        Ok(plans.into_iter().map(Plan::from).collect())
    }
}

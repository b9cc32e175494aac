use async_graphql::{Context, Object, Result};

use crate::graphql::context::ContextExt;
use crate::graphql::guards::SignedIn;
use crate::graphql::types::{Business, Viewer};
use crate::services::businesses;

#[derive(Default)]
pub struct ViewerQuery;

#[Object]
impl ViewerQuery {
    /// Who the token belongs to. Any valid token.
    #[graphql(guard = "SignedIn")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer::from(ctx.principal()?))
    }

    /// The business the token acts in. Each of its fields needs its own right.
    #[graphql(guard = "SignedIn")]
    async fn business(&self, ctx: &Context<'_>) -> Result<Business> {
        let business_id = ctx.principal()?.business()?;
        let state = ctx.state()?;
        Ok(Business::new(
            businesses::get(&state.db, business_id).await?,
        ))
    }
}

use async_graphql::{Context, InputObject, Object, Result};

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::types::Business;
use crate::services::{api_keys, businesses};

#[derive(InputObject)]
pub struct UpdateBusinessInput {
    name: Option<String>,
}

#[derive(Default)]
pub struct BusinessMutation;

#[Object]
impl BusinessMutation {
    #[graphql(guard = "HasRight(Right::BusinessManage)")]
    async fn update_business(
        &self,
        ctx: &Context<'_>,
        input: UpdateBusinessInput,
    ) -> Result<Business> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let business = businesses::update(
            &state.db,
            principal.user_id,
            principal.business()?,
            input.name.as_deref(),
            state.clock.now(),
        )
        .await?;
        Ok(Business::new(business))
    }

    /// Replaces the SDK key; the old one is refused from now on. Returns the new key.
    #[graphql(guard = "HasRight(Right::ApiKeyManage)")]
    async fn rotate_api_key(&self, ctx: &Context<'_>) -> Result<String> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let business_id = principal.business()?;
        let key = api_keys::rotate(
            &state.db,
            &state.root_key,
            principal.user_id,
            business_id,
            state.clock.now(),
        )
        .await?;
        state.tokens.forget_business(business_id);
        Ok(key)
    }
}

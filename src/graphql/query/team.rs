use async_graphql::{Context, Object, Result};

use crate::graphql::context::ContextExt;
use crate::graphql::types::InvitationPreview;
use crate::services::team::accept;

#[derive(Default)]
pub struct TeamQuery;

#[Object]
impl TeamQuery {
    /// What an invitation link offers, to pre-fill the sign-up form. Public: the key is the
    /// credential. Null when the key is unknown, used, revoked or expired. Counts against the
    /// client address's rate of `login` and `signup` attempts (`RATE_LIMITED`).
    async fn invitation(
        &self,
        ctx: &Context<'_>,
        activation_key: String,
    ) -> Result<Option<InvitationPreview>> {
        let state = ctx.state()?;
        state.auth_rate.check(ctx.client_addr())?;
        let preview = accept::preview(&state.db, &activation_key, state.clock.now()).await?;
        Ok(preview.map(InvitationPreview))
    }
}

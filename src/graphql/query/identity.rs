use async_graphql::{Context, Object, Result};

use crate::graphql::context::ContextExt;
use crate::graphql::guards::SignedIn;
use crate::graphql::types::Viewer;

#[derive(Default)]
pub struct IdentityQuery;

#[Object]
impl IdentityQuery {
    /// Who the token belongs to. Any valid token.
    #[graphql(guard = "SignedIn")]
    async fn me(&self, ctx: &Context<'_>) -> Result<Viewer> {
        Ok(Viewer::from(ctx.principal()?))
    }
}

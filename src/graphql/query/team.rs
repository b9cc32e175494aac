use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result};

use crate::auth::Right;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::{HasRight, SignedIn};
use crate::graphql::pagination::{self, Page};
use crate::graphql::types::{Business, InvitationPreview};
use crate::services::team::{accept, business, search};
use crate::services::validate;

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

    /// The business the token acts in. Each of its fields needs its own right.
    #[graphql(guard = "SignedIn")]
    async fn business(&self, ctx: &Context<'_>) -> Result<Business> {
        let business_id = ctx.principal()?.business()?;
        let state = ctx.state()?;
        Ok(Business::new(business::get(&state.db, business_id).await?))
    }

    /// Every business, oldest first; `search` matches a business's or a member's id, or 3 to
    /// 254 characters of the name or of a member's e-mail.
    #[graphql(guard = "HasRight(Right::StaffRead)")]
    async fn businesses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
    ) -> Result<Connection<String, Business, EmptyFields, EmptyFields>> {
        let page = Page::new(first, after.as_deref())?;
        let state = ctx.state()?;
        let rows = search::businesses(&state.db, search.as_deref(), page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), Business::new(row))
        }))
    }

    /// Any business by id; null when there is none.
    #[graphql(guard = "HasRight(Right::StaffRead)")]
    async fn business_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Business>> {
        let id = validate::id(&id, "id")?;
        let state = ctx.state()?;
        match business::get(&state.db, id).await {
            Ok(business) => Ok(Some(Business::new(business))),
            Err(AppError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

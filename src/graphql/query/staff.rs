use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result};

use crate::auth::Right;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::HasRight;
use crate::graphql::pagination::{self, Page};
use crate::graphql::types::{Business, Plan};
use crate::services::{businesses, plan_admin, validate};

#[derive(Default)]
pub struct StaffQuery;

#[Object]
impl StaffQuery {
    /// Every business, oldest first; `search` matches the name or a member's e-mail.
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
        let rows = businesses::search(&state.db, search.as_deref(), page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), Business::new(row))
        }))
    }

    /// Any business by id; null when there is none.
    #[graphql(guard = "HasRight(Right::StaffRead)")]
    async fn business_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Business>> {
        let id = validate::id(&id, "id")?;
        let state = ctx.state()?;
        match businesses::get(&state.db, id).await {
            Ok(business) => Ok(Some(Business::new(business))),
            Err(AppError::NotFound { .. }) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Every plan, hidden and archived ones included.
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

use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::businesses;

use super::{AuditEvent, Subscription};
use crate::auth::Right;
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::OnBusiness;
use crate::graphql::loaders::{SubscriptionOf, load};
use crate::graphql::pagination::{self, Page};
use crate::services::{api_keys, lookup};

/// A tenant: a company using the product, with its team, subscription and usage.
pub struct Business(pub(crate) businesses::Model);

#[Object]
impl Business {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    #[graphql(guard = "OnBusiness(self.0.id, Right::BusinessRead)")]
    async fn name(&self) -> &str {
        &self.0.name
    }

    #[graphql(guard = "OnBusiness(self.0.id, Right::BusinessRead)")]
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    #[graphql(guard = "OnBusiness(self.0.id, Right::BillingRead)")]
    async fn subscription(&self, ctx: &Context<'_>) -> Result<Subscription> {
        let subscription = load(ctx, SubscriptionOf(self.0.id)).await?;
        Ok(subscription.map(Subscription).ok_or(AppError::NotFound {
            what: "subscription",
        })?)
    }

    /// The SDK key: it records and reads usage, nothing else. Every read mints a fresh string
    /// for the same key; all of them die when the key is rotated.
    #[graphql(guard = "OnBusiness(self.0.id, Right::ApiKeyRead)")]
    async fn api_key(&self, ctx: &Context<'_>) -> Result<String> {
        let state = ctx.state()?;
        Ok(api_keys::current(&state.db, &state.root_key, self.0.id).await?)
    }

    /// What happened to this business, newest first.
    #[graphql(guard = "OnBusiness(self.0.id, Right::BusinessRead)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, AuditEvent, EmptyFields, EmptyFields>> {
        let page = Page::new(first, after.as_deref())?;
        let state = ctx.state()?;
        let rows = lookup::audit_page(&state.db, self.0.id, page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), AuditEvent(row))
        }))
    }
}

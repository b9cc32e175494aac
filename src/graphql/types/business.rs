use async_graphql::connection::{Connection, Edge, EmptyFields};
use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::businesses;

use super::{AuditEvent, Invitation, Subscription, TeamMember, Usage, UsagePeriod};
use crate::auth::{Access, Right};
use crate::error::AppError;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::{NotImpersonating, OnBusiness};
use crate::graphql::loaders::{SubscriptionOf, load};
use crate::graphql::pagination::{self, Page};
use crate::services::identity::api_keys;
use crate::services::{lookup, team, usage};

/// A tenant: a company using the product, with its team, subscription and usage.
pub struct Business {
    model: businesses::Model,
    /// How it was reached, which decides the rights it is read with.
    access: Access,
}

impl Business {
    /// A business seen with the caller's rights.
    pub fn new(model: businesses::Model) -> Self {
        Business {
            model,
            access: Access::Caller,
        }
    }

    /// A business seen as `access` says (through `me`, or a new session's viewer).
    pub fn reached(model: businesses::Model, access: Access) -> Self {
        Business { model, access }
    }
}

#[Object]
impl Business {
    async fn id(&self) -> ID {
        super::id(self.model.id)
    }

    #[graphql(guard = "OnBusiness(self.model.id, Right::BusinessRead, self.access)")]
    async fn name(&self) -> &str {
        &self.model.name
    }

    #[graphql(guard = "OnBusiness(self.model.id, Right::BusinessRead, self.access)")]
    async fn created_at(&self) -> DateTime<Utc> {
        self.model.created_at
    }

    #[graphql(guard = "OnBusiness(self.model.id, Right::BillingRead, self.access)")]
    async fn subscription(&self, ctx: &Context<'_>) -> Result<Subscription> {
        let subscription = load(ctx, SubscriptionOf(self.model.id)).await?;
        Ok(subscription
            .map(|model| Subscription::reached(model, self.access))
            .ok_or(AppError::NotFound {
                what: "subscription",
            })?)
    }

    /// The people of the business (invited and active; deactivated too when asked), in the
    /// order they were added. The SDK key is not a member here.
    #[graphql(guard = "OnBusiness(self.model.id, Right::TeamRead, self.access)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        include_deactivated: Option<bool>,
    ) -> Result<Connection<String, TeamMember, EmptyFields, EmptyFields>> {
        let page = Page::new(first, after.as_deref())?;
        let state = ctx.state()?;
        let include = include_deactivated.unwrap_or(false);
        let rows =
            team::members_page(&state.db, self.model.id, include, page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), TeamMember(row))
        }))
    }

    /// Invitations not yet accepted, newest first (the 100 newest).
    #[graphql(guard = "OnBusiness(self.model.id, Right::TeamRead, self.access)")]
    async fn invitations(&self, ctx: &Context<'_>) -> Result<Vec<Invitation>> {
        let state = ctx.state()?;
        let rows = team::invitations(&state.db, self.model.id).await?;
        Ok(rows.into_iter().map(Invitation).collect())
    }

    /// The SDK key: it records and reads usage, nothing else. Every read mints a fresh string
    /// for the same key; all of them die when the key is rotated. Never shown to staff
    /// impersonating the business.
    #[graphql(
        guard = "NotImpersonating(self.access).and(OnBusiness(self.model.id, Right::ApiKeyRead, self.access))"
    )]
    async fn api_key(&self, ctx: &Context<'_>) -> Result<String> {
        let state = ctx.state()?;
        Ok(api_keys::current(&state.db, &state.root_key, self.model.id).await?)
    }

    /// Every metric of the plan and what has been used of it.
    #[graphql(guard = "OnBusiness(self.model.id, Right::UsageRead, self.access)")]
    async fn usage(&self, ctx: &Context<'_>) -> Result<Vec<Usage>> {
        let state = ctx.state()?;
        let usage = usage::of_business(&state.db, self.model.id).await?;
        Ok(usage.into_iter().map(Usage::from).collect())
    }

    /// What each resetting metric used in the periods that have ended, newest first.
    #[graphql(guard = "OnBusiness(self.model.id, Right::UsageRead, self.access)")]
    async fn usage_history(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, UsagePeriod, EmptyFields, EmptyFields>> {
        let page = Page::new(first, after.as_deref())?;
        let state = ctx.state()?;
        let rows =
            lookup::usage_history_page(&state.db, self.model.id, page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), UsagePeriod::from(row))
        }))
    }

    /// What happened to this business, newest first.
    #[graphql(guard = "OnBusiness(self.model.id, Right::BusinessRead, self.access)")]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<Connection<String, AuditEvent, EmptyFields, EmptyFields>> {
        let page = Page::new(first, after.as_deref())?;
        let state = ctx.state()?;
        let rows = lookup::audit_page(&state.db, self.model.id, page.after, page.limit).await?;
        Ok(pagination::connection(rows, page, |row| {
            Edge::new(row.id.to_string(), AuditEvent(row))
        }))
    }
}

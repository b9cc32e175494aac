use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::team_members;

use super::{MemberStatus, Role, User};
use crate::error::AppError;
use crate::graphql::loaders::{UserId, load};

/// A person's place in a business.
pub struct TeamMember(pub(crate) team_members::Model);

#[Object]
impl TeamMember {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = load(ctx, UserId(self.0.user_id)).await?;
        Ok(user.map(User).ok_or(AppError::NotFound { what: "user" })?)
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn status(&self) -> MemberStatus {
        self.0.status.into()
    }

    /// When the member accepted their invitation (or signed up the business).
    async fn joined_at(&self) -> Option<DateTime<Utc>> {
        self.0.joined_at
    }

    async fn invited_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        invited_by(ctx, &self.0).await
    }
}

/// An invitation to join a business, not yet accepted.
pub struct Invitation(pub(crate) team_members::Model);

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    /// The address the invitation was sent to; only it can accept.
    async fn email(&self, ctx: &Context<'_>) -> Result<String> {
        let user = load(ctx, UserId(self.0.user_id)).await?;
        Ok(user
            .map(|u| u.email)
            .ok_or(AppError::NotFound { what: "user" })?)
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn invited_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        invited_by(ctx, &self.0).await
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.activation_expires_at.unwrap_or(self.0.created_at)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

async fn invited_by(ctx: &Context<'_>, member: &team_members::Model) -> Result<Option<User>> {
    let Some(id) = member.invited_by else {
        return Ok(None);
    };
    Ok(load(ctx, UserId(id)).await?.map(User))
}

/// What an activation key invites to: enough to pre-fill the sign-up form.
pub struct InvitationPreview(pub(crate) crate::services::team::accept::Preview);

#[Object]
impl InvitationPreview {
    /// The invited address: the account that accepting sets up or joins.
    async fn email(&self) -> &str {
        &self.0.email
    }

    /// The name the inviter gave (or the account has).
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn business_name(&self) -> &str {
        &self.0.business_name
    }

    async fn invited_by_name(&self) -> Option<&str> {
        self.0.invited_by_name.as_deref()
    }

    async fn role(&self) -> Role {
        self.0.role.into()
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.0.expires_at
    }

    /// Whether the address already has an account: accepting then asks for its password
    /// instead of setting one.
    async fn has_account(&self) -> bool {
        self.0.has_account
    }
}

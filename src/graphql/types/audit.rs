use async_graphql::{Context, ID, Json, Object, Result};
use chrono::{DateTime, Utc};
use entity::audit_events;

use super::User;
use crate::graphql::loaders::{UserId, load};

/// Something that happened to a business, and who did it.
pub struct AuditEvent(pub(crate) audit_events::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    /// e.g. `business.updated`, `apikey.rotated`, `impersonation.request`.
    async fn action(&self) -> &str {
        &self.0.action
    }

    async fn actor(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(id) = self.0.actor_user_id else {
            return Ok(None);
        };
        Ok(load(ctx, UserId(id)).await?.map(User))
    }

    async fn target(&self) -> Option<&str> {
        self.0.target.as_deref()
    }

    async fn data(&self) -> Option<Json<serde_json::Value>> {
        self.0.data.clone().map(Json)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

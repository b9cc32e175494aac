use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};
use entity::users;

/// A person with an account.
pub struct User(pub(crate) users::Model);

#[Object]
impl User {
    async fn id(&self) -> ID {
        super::id(self.0.id)
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    async fn is_staff(&self) -> bool {
        self.0.is_staff
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

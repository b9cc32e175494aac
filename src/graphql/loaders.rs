//! Batch loaders, so a list of N objects costs one query per related field, not N.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use entity::plan_limits;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::AppError;
use crate::services;

/// A plan's limits, by plan id.
pub struct PlanLimitsLoader {
    db: DatabaseConnection,
}

impl PlanLimitsLoader {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

impl Loader<Uuid> for PlanLimitsLoader {
    type Value = Vec<plan_limits::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        services::plans::limits_for(&self.db, keys)
            .await
            .map_err(Arc::new)
    }
}

//! Batch loaders, so a list of N objects costs one query per related field, not N.
//! One loader serves every kind of key; each key type names what it loads.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{businesses, plan_limits, plans, subscriptions, users};
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use crate::error::AppError;
use crate::services::billing::plans as plan_service;
use crate::services::lookup;

pub struct Db {
    db: DatabaseConnection,
}

pub type Loaders = DataLoader<Db>;

pub fn new(db: DatabaseConnection) -> Loaders {
    DataLoader::new(Db { db }, tokio::spawn)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UserId(pub Uuid);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PlanId(pub Uuid);
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BusinessId(pub Uuid);
/// The limits of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitsOf(pub Uuid);
/// The subscription of a business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriptionOf(pub Uuid);

fn rekey<K: Copy + Eq + std::hash::Hash, V>(
    map: HashMap<Uuid, V>,
    key: fn(Uuid) -> K,
) -> HashMap<K, V> {
    map.into_iter()
        .map(|(id, value)| (key(id), value))
        .collect()
}

fn ids<K: Copy>(keys: &[K], id: fn(K) -> Uuid) -> Vec<Uuid> {
    keys.iter().map(|k| id(*k)).collect()
}

impl Loader<UserId> for Db {
    type Value = users::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, Self::Value>, Self::Error> {
        let found = lookup::users(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(rekey(found, UserId))
    }
}

impl Loader<PlanId> for Db {
    type Value = plans::Model;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[PlanId]) -> Result<HashMap<PlanId, Self::Value>, Self::Error> {
        let found = lookup::plans(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(rekey(found, PlanId))
    }
}

impl Loader<BusinessId> for Db {
    type Value = businesses::Model;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[BusinessId],
    ) -> Result<HashMap<BusinessId, Self::Value>, Self::Error> {
        let found = lookup::businesses(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(rekey(found, BusinessId))
    }
}

impl Loader<LimitsOf> for Db {
    type Value = Vec<plan_limits::Model>;
    type Error = Arc<AppError>;

    async fn load(&self, keys: &[LimitsOf]) -> Result<HashMap<LimitsOf, Self::Value>, Self::Error> {
        let found = plan_service::limits_for(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(rekey(found, LimitsOf))
    }
}

impl Loader<SubscriptionOf> for Db {
    type Value = subscriptions::Model;
    type Error = Arc<AppError>;

    async fn load(
        &self,
        keys: &[SubscriptionOf],
    ) -> Result<HashMap<SubscriptionOf, Self::Value>, Self::Error> {
        let found = lookup::subscriptions_of(&self.db, &ids(keys, |k| k.0)).await?;
        Ok(rekey(found, SubscriptionOf))
    }
}

/// Loads one value through the request's loader.
pub async fn load<K>(
    ctx: &async_graphql::Context<'_>,
    key: K,
) -> async_graphql::Result<Option<<Db as Loader<K>>::Value>>
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    Db: Loader<K, Error = Arc<AppError>>,
{
    let loader = ctx
        .data_opt::<Loaders>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the schema has no loaders")))?;
    loader.load_one(key).await.map_err(crate::error::shared)
}

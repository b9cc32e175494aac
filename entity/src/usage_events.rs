use sea_orm::entity::prelude::*;

/// One `recordUsage` call; unique on `(business_id, idempotency_key)`, which makes a call with
/// a key count exactly once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub business_id: Uuid,
    pub idempotency_key: Option<String>,
    pub metric: String,
    pub quantity: i64,
    pub accepted: bool,
    pub used_after: i64,
    /// The plan's limit when the event counted (`None`: unlimited, or recorded before it was
    /// kept), returned again when the key is replayed.
    pub limit_after: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

use sea_orm::entity::prelude::*;

use crate::{ChargePurpose, ChargeStatus};

/// One attempt to be paid by the billing provider: claimed (`pending`) before the provider is
/// asked, settled after. The idempotency key is the attempt's identity at the provider.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_charges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub subscription_id: Uuid,
    pub business_id: Uuid,
    pub purpose: ChargePurpose,
    /// The plan paid for.
    pub plan_id: Uuid,
    /// For a plan change: the plan it changes from.
    pub from_plan_id: Option<Uuid>,
    pub amount_cents: i64,
    pub currency: String,
    /// The end of the period the charge belongs to (a renewal: the period that ends).
    pub period_end: DateTimeUtc,
    /// 1 for the first attempt of this purpose and period, then 2, 3, … after declines.
    pub attempt: i32,
    #[sea_orm(unique)]
    pub idempotency_key: String,
    pub status: ChargeStatus,
    /// The provider's reason for a decline.
    pub reason: Option<String>,
    /// A pending charge older than this was cut off halfway; the cycle asks again.
    pub lease_until: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::subscriptions::Entity",
        from = "Column::SubscriptionId",
        to = "super::subscriptions::Column::Id",
        on_delete = "Cascade"
    )]
    Subscription,
}

impl Related<super::subscriptions::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Subscription.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

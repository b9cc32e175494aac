use sea_orm_migration::{prelude::*, schema::*};

/// The ledger of charges asked of the billing provider: one row per attempt, written (claimed)
/// before the provider is asked and settled after it answered, so that a renewal or a plan
/// change is charged once however often it is retried, and an attempt cut off halfway is asked
/// again with the same idempotency key.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(BillingCharges::Table)
                    .col(pk_uuid(BillingCharges::Id))
                    .col(uuid(BillingCharges::SubscriptionId))
                    .col(uuid(BillingCharges::BusinessId))
                    .col(string_len(BillingCharges::Purpose, 16))
                    .col(uuid(BillingCharges::PlanId))
                    .col(uuid_null(BillingCharges::FromPlanId))
                    .col(big_integer(BillingCharges::AmountCents))
                    .col(string_len(BillingCharges::Currency, 3))
                    .col(timestamp_with_time_zone(BillingCharges::PeriodEnd))
                    .col(integer(BillingCharges::Attempt))
                    .col(string_len_uniq(BillingCharges::IdempotencyKey, 160))
                    .col(string_len(BillingCharges::Status, 16))
                    .col(text_null(BillingCharges::Reason))
                    .col(timestamp_with_time_zone(BillingCharges::LeaseUntil))
                    .col(timestamp_with_time_zone(BillingCharges::CreatedAt))
                    .col(timestamp_with_time_zone_null(BillingCharges::SettledAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(BillingCharges::Table, BillingCharges::SubscriptionId)
                            .to(Subscriptions::Table, Subscriptions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A subscription's charges in flight, and an attempt's number within its period.
        manager
            .create_index(
                Index::create()
                    .name("billing_charges_subscription")
                    .table(BillingCharges::Table)
                    .col(BillingCharges::SubscriptionId)
                    .col(BillingCharges::Status)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(BillingCharges::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum BillingCharges {
    Table,
    Id,
    SubscriptionId,
    BusinessId,
    Purpose,
    PlanId,
    FromPlanId,
    AmountCents,
    Currency,
    PeriodEnd,
    Attempt,
    IdempotencyKey,
    Status,
    Reason,
    LeaseUntil,
    CreatedAt,
    SettledAt,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
}

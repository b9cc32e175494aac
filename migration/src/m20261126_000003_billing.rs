use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000001_plans::Plans;
use crate::m20261126_000002_accounts::Businesses;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(pk_uuid(Subscriptions::Id))
                    .col(uuid_uniq(Subscriptions::BusinessId))
                    .col(uuid(Subscriptions::PlanId))
                    .col(string_len(Subscriptions::Status, 16))
                    .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodStart))
                    .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodEnd))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd))
                    .col(uuid_null(Subscriptions::ScheduledPlanId))
                    .col(integer(Subscriptions::CreditPeriods))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Subscriptions::Table, Subscriptions::BusinessId)
                            .to(Businesses::Table, Businesses::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Subscriptions::Table, Subscriptions::PlanId)
                            .to(Plans::Table, Plans::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(Subscriptions::Table, Subscriptions::ScheduledPlanId)
                            .to(Plans::Table, Plans::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .check(Expr::col(Subscriptions::CreditPeriods).gte(0))
                    .to_owned(),
            )
            .await?;
        // The subscription cycle scans for periods that have ended.
        manager
            .create_index(
                Index::create()
                    .name("subscriptions_period_end")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::CurrentPeriodEnd)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsageCounters::Table)
                    .col(uuid(UsageCounters::SubscriptionId))
                    .col(string_len(UsageCounters::Metric, 64))
                    .col(big_integer(UsageCounters::Used))
                    .col(timestamp_with_time_zone(UsageCounters::PeriodStart))
                    .primary_key(
                        Index::create()
                            .col(UsageCounters::SubscriptionId)
                            .col(UsageCounters::Metric),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageCounters::Table, UsageCounters::SubscriptionId)
                            .to(Subscriptions::Table, Subscriptions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(Expr::col(UsageCounters::Used).gte(0))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsageEvents::Table)
                    .col(pk_uuid(UsageEvents::Id))
                    .col(uuid(UsageEvents::BusinessId))
                    .col(string_len_null(UsageEvents::IdempotencyKey, 255))
                    .col(string_len(UsageEvents::Metric, 64))
                    .col(big_integer(UsageEvents::Quantity))
                    .col(boolean(UsageEvents::Accepted))
                    .col(big_integer(UsageEvents::UsedAfter))
                    .col(timestamp_with_time_zone(UsageEvents::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsageEvents::Table, UsageEvents::BusinessId)
                            .to(Businesses::Table, Businesses::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // What makes `recordUsage` exactly-once: a key is taken once per business.
        manager
            .create_index(
                Index::create()
                    .name("usage_events_business_idempotency_key")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::BusinessId)
                    .col(UsageEvents::IdempotencyKey)
                    .unique()
                    .to_owned(),
            )
            .await?;
        // Pruning removes events older than the idempotency window.
        manager
            .create_index(
                Index::create()
                    .name("usage_events_created_at")
                    .table(UsageEvents::Table)
                    .col(UsageEvents::CreatedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(UsagePeriods::Table)
                    .col(pk_uuid(UsagePeriods::Id))
                    .col(uuid(UsagePeriods::SubscriptionId))
                    .col(string_len(UsagePeriods::Metric, 64))
                    .col(timestamp_with_time_zone(UsagePeriods::PeriodStart))
                    .col(timestamp_with_time_zone(UsagePeriods::PeriodEnd))
                    .col(big_integer(UsagePeriods::Used))
                    .foreign_key(
                        ForeignKey::create()
                            .from(UsagePeriods::Table, UsagePeriods::SubscriptionId)
                            .to(Subscriptions::Table, Subscriptions::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // A period is archived once, however often a renewal is retried.
        manager
            .create_index(
                Index::create()
                    .name("usage_periods_subscription_metric_start")
                    .table(UsagePeriods::Table)
                    .col(UsagePeriods::SubscriptionId)
                    .col(UsagePeriods::Metric)
                    .col(UsagePeriods::PeriodStart)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            UsagePeriods::Table.into_iden(),
            UsageEvents::Table.into_iden(),
            UsageCounters::Table.into_iden(),
            Subscriptions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    BusinessId,
    PlanId,
    Status,
    CurrentPeriodStart,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    ScheduledPlanId,
    CreditPeriods,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum UsageCounters {
    Table,
    SubscriptionId,
    Metric,
    Used,
    PeriodStart,
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    Id,
    BusinessId,
    IdempotencyKey,
    Metric,
    Quantity,
    Accepted,
    UsedAfter,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UsagePeriods {
    Table,
    Id,
    SubscriptionId,
    Metric,
    PeriodStart,
    PeriodEnd,
    Used,
}

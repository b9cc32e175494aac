use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plans::Table)
                    .col(pk_uuid(Plans::Id))
                    .col(string_len_uniq(Plans::Code, 64))
                    .col(string_len(Plans::Name, 200))
                    .col(text_null(Plans::Description))
                    .col(big_integer(Plans::PriceCents))
                    .col(string_len(Plans::Currency, 3))
                    .col(integer(Plans::PeriodCount))
                    .col(string_len(Plans::PeriodUnit, 8))
                    .col(boolean(Plans::IsPublic))
                    .col(boolean(Plans::IsDefault))
                    .col(timestamp_with_time_zone_null(Plans::ArchivedAt))
                    .col(timestamp_with_time_zone(Plans::CreatedAt))
                    .col(timestamp_with_time_zone(Plans::UpdatedAt))
                    .check(Expr::col(Plans::PriceCents).gte(0))
                    .check(Expr::col(Plans::PeriodCount).gte(1))
                    .to_owned(),
            )
            .await?;
        // "Exactly one default plan": the database refuses a second one, whatever the code does.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX plans_one_default ON plans (is_default) WHERE is_default",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PlanLimits::Table)
                    .col(uuid(PlanLimits::PlanId))
                    .col(string_len(PlanLimits::Metric, 64))
                    .col(big_integer_null(PlanLimits::Max))
                    .col(boolean(PlanLimits::ResetsEachPeriod))
                    .primary_key(
                        Index::create()
                            .col(PlanLimits::PlanId)
                            .col(PlanLimits::Metric),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(PlanLimits::Table, PlanLimits::PlanId)
                            .to(Plans::Table, Plans::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .check(
                        Expr::col(PlanLimits::Max)
                            .gte(0)
                            .or(Expr::col(PlanLimits::Max).is_null()),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PlanLimits::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Plans::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub(crate) enum Plans {
    Table,
    Id,
    Code,
    Name,
    Description,
    PriceCents,
    Currency,
    PeriodCount,
    PeriodUnit,
    IsPublic,
    IsDefault,
    ArchivedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PlanLimits {
    Table,
    PlanId,
    Metric,
    Max,
    ResetsEachPeriod,
}

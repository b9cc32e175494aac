use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The plan's limit when a usage event was counted, so that a replay of its key answers
/// exactly as the first call did even after the plan changed. Events recorded before this
/// migration replay with no limit; they leave with the idempotency window.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .add_column(big_integer_null(UsageEvents::LimitAfter))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(UsageEvents::Table)
                    .drop_column(UsageEvents::LimitAfter)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum UsageEvents {
    Table,
    LimitAfter,
}

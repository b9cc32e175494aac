use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What the subscription cycle needs: the anchor every period is counted from (a month
/// anchored on Jan 31 ends on Feb 28, then Mar 31 — which the previous period's end alone
/// cannot tell), and an index over the subscriptions the cycle can still act on.
///
/// The anchor is nullable only because SQLite cannot add a NOT NULL column without a constant
/// default; every row gets one here and every write sets it.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Subscriptions::Table)
                    .add_column(timestamp_with_time_zone_null(Subscriptions::PeriodAnchor))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        db.execute_unprepared(
            "UPDATE subscriptions SET period_anchor = current_period_start \
             WHERE period_anchor IS NULL",
        )
        .await?;
        // Expired subscriptions pile up below `now` forever; the cycle never scans them.
        db.execute_unprepared(
            "CREATE INDEX subscriptions_due ON subscriptions (current_period_end, id) \
             WHERE status IN ('active', 'past_due')",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("subscriptions_due")
                    .table(Subscriptions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Subscriptions::Table)
                    .drop_column(Subscriptions::PeriodAnchor)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    PeriodAnchor,
}

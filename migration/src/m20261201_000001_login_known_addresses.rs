use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Addresses that logged in to an e-mail successfully: they may keep trying while the e-mail
/// is past its ceiling of failures from elsewhere.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LoginKnownAddresses::Table)
                    .col(string_len(LoginKnownAddresses::Email, 254))
                    .col(string_len(LoginKnownAddresses::ClientAddr, 64))
                    .col(timestamp_with_time_zone(LoginKnownAddresses::LastLoginAt))
                    .primary_key(
                        Index::create()
                            .col(LoginKnownAddresses::Email)
                            .col(LoginKnownAddresses::ClientAddr),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LoginKnownAddresses::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum LoginKnownAddresses {
    Table,
    Email,
    ClientAddr,
    LastLoginAt,
}

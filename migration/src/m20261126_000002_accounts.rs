use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Businesses::Table)
                    .col(pk_uuid(Businesses::Id))
                    .col(string_len(Businesses::Name, 200))
                    .col(timestamp_with_time_zone(Businesses::CreatedAt))
                    .col(timestamp_with_time_zone(Businesses::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("businesses_name")
                    .table(Businesses::Table)
                    .col(Businesses::Name)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(pk_uuid(Users::Id))
                    .col(string_len_uniq(Users::Email, 254))
                    .col(string_len_null(Users::Name, 200))
                    .col(string_len_null(Users::PasswordHash, 255))
                    .col(boolean(Users::IsActive))
                    .col(boolean(Users::IsStaff))
                    .col(boolean(Users::IsBot))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .col(pk_uuid(TeamMembers::Id))
                    .col(uuid(TeamMembers::BusinessId))
                    .col(uuid(TeamMembers::UserId))
                    .col(string_len(TeamMembers::Role, 16))
                    .col(string_len(TeamMembers::Status, 16))
                    .col(uuid_null(TeamMembers::InvitedBy))
                    .col(string_len_null(TeamMembers::ActivationKeyHash, 64))
                    .col(timestamp_with_time_zone_null(
                        TeamMembers::ActivationExpiresAt,
                    ))
                    .col(timestamp_with_time_zone_null(TeamMembers::JoinedAt))
                    .col(timestamp_with_time_zone(TeamMembers::CreatedAt))
                    .col(timestamp_with_time_zone(TeamMembers::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::BusinessId)
                            .to(Businesses::Table, Businesses::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from(TeamMembers::Table, TeamMembers::InvitedBy)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::SetNull),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("team_members_business_user")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::BusinessId)
                    .col(TeamMembers::UserId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("team_members_user")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::UserId)
                    .to_owned(),
            )
            .await?;
        // An invitation is found by the hash of its activation key alone.
        manager
            .create_index(
                Index::create()
                    .name("team_members_activation_key_hash")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::ActivationKeyHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            TeamMembers::Table.into_iden(),
            Users::Table.into_iden(),
            Businesses::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
pub(crate) enum Businesses {
    Table,
    Id,
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    Email,
    Name,
    PasswordHash,
    IsActive,
    IsStaff,
    IsBot,
    CreatedAt,
    UpdatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum TeamMembers {
    Table,
    Id,
    BusinessId,
    UserId,
    Role,
    Status,
    InvitedBy,
    ActivationKeyHash,
    ActivationExpiresAt,
    JoinedAt,
    CreatedAt,
    UpdatedAt,
}

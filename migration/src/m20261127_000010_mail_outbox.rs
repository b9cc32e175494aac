use sea_orm_migration::{prelude::*, schema::*};

/// The mail outbox: every e-mail is first a row written in the transaction of the change that
/// causes it, so that a crash can delay a mail but never lose it.
#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(MailOutbox::Table)
                    .col(pk_uuid(MailOutbox::Id))
                    .col(string_len(MailOutbox::Template, 64))
                    .col(string_len(MailOutbox::Recipient, 320))
                    .col(json_null(MailOutbox::Data))
                    .col(timestamp_with_time_zone(MailOutbox::CreatedAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::EnqueuedAt))
                    .col(timestamp_with_time_zone_null(MailOutbox::SentAt))
                    .col(integer(MailOutbox::Attempts).default(0))
                    .col(text_null(MailOutbox::LastError))
                    .to_owned(),
            )
            .await?;
        // The sweep looks for rows not yet sent, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("mail_outbox_unsent")
                    .table(MailOutbox::Table)
                    .col(MailOutbox::SentAt)
                    .col(MailOutbox::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailOutbox::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
pub enum MailOutbox {
    Table,
    Id,
    Template,
    Recipient,
    Data,
    CreatedAt,
    EnqueuedAt,
    SentAt,
    Attempts,
    LastError,
}

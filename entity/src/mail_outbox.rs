use sea_orm::entity::prelude::*;

/// An e-mail to send: written in the transaction of the change that causes it, delivered by a
/// job, marked sent once the transport accepted it. `data` holds what the template needs (links
/// with their one-time keys) and is cleared once the mail is sent.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "mail_outbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub template: String,
    pub recipient: String,
    pub data: Option<Json>,
    pub created_at: DateTimeUtc,
    pub enqueued_at: Option<DateTimeUtc>,
    pub sent_at: Option<DateTimeUtc>,
    pub attempts: i32,
    pub last_error: Option<String>,
    /// A worker is sending this mail until then (see `saaskit::services::outbox::claim`).
    pub claimed_until: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

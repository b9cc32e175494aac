use sea_orm::entity::prelude::*;

/// A person (or a business's SDK bot, `is_bot`). The e-mail is stored lower-case.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    #[sea_orm(unique)]
    pub email: String,
    pub name: Option<String>,
    /// argon2id PHC string; `None` until the user sets a password.
    pub password_hash: Option<String>,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_bot: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::team_members::Entity")]
    Memberships,
}

impl Related<super::team_members::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Memberships.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

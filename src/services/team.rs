//! The team of a business: its members and its pending invitations.

use entity::{MemberStatus, Role, team_members};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::error::AppError;

/// One page of the human members of a business (invited and active; deactivated too when
/// asked), in the order they were added: those after `after`, at most `limit` plus one.
pub async fn members_page<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    include_deactivated: bool,
    after: Option<Uuid>,
    limit: u64,
) -> Result<Vec<team_members::Model>, AppError> {
    let mut query = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .order_by_asc(team_members::Column::Id);
    if !include_deactivated {
        query = query.filter(team_members::Column::Status.ne(MemberStatus::Deactivated));
    }
    if let Some(after) = after {
        query = query.filter(team_members::Column::Id.gt(after));
    }
    Ok(query.limit(limit + 1).all(db).await?)
}

/// The invitations of a business that have not been accepted, newest first (expired ones
/// included, so that they can be sent again).
pub async fn invitations<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
) -> Result<Vec<team_members::Model>, AppError> {
    Ok(team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .order_by_desc(team_members::Column::Id)
        .all(db)
        .await?)
}

//! The team: a business and its people — its name, its members and its pending invitations.
//!
//! Files, in reading order: [`business`] (reading and renaming a business, a user's
//! memberships), [`search`] (staff's search over all businesses), [`found`] (founding one, at
//! sign-up or with `createBusiness`), [`invite`], [`pending`] (re-send,
//! revoke), [`accept`] (the invitee's side), [`members`] (roles, deactivation), `seats.rs`
//! (the plan's `members` limit), `keys.rs` (activation keys), `mail_cap.rs` (invitation mails
//! per address per hour).
//!
//! Who may do what (beyond the `team:manage` right the resolvers check):
//! - invitations are for ADMIN or MEMBER (any other role is `BAD_USER_INPUT` on `role`); only an
//!   OWNER invites, re-sends or revokes an ADMIN invitation (`FORBIDDEN` otherwise);
//! - only an OWNER gives or takes the roles OWNER and ADMIN, and (de)activates owners and
//!   admins; nobody changes their own role or deactivates themselves; the last active OWNER
//!   stays (all `FORBIDDEN`); the SDK member is not a member here (`NOT_FOUND`);
//! - every seat-taking step (invite, reactivate) checks the plan's `members` limit under a lock
//!   on the business, so concurrent steps never overshoot it;
//! - one business mails one address at most `mail_cap::PER_ADDRESS` (3) invitations an hour,
//!   first sends and re-sends together, and all addresses at most
//!   `mail_cap::PER_BUSINESS_PER_DAY` (50) a day (`RATE_LIMITED` with `retryAfter` beyond),
//!   counted under the same lock, so the invite → revoke → invite loop cannot flood an inbox;
//!   a refused step writes no audit row, no mail and no job;
//! - an invitation lives 7 days (a re-send starts them again); an expired one cannot be
//!   accepted (`EXPIRED`), and the cycle's housekeeping deletes it with the password-less
//!   account it made, when that has no other membership;
//! - no path makes a pending member an OWNER: invitations are for ADMIN or MEMBER, and
//!   `updateMemberRole` on a pending invitation keeps to those two.
//!
//! An address an invitation made an account for may still sign up on its own (see
//! [`crate::services::identity::signup`]).

use entity::{MemberStatus, Role, team_members};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::AppError;

pub mod accept;
pub mod business;
pub mod found;
pub mod invite;
mod keys;
mod mail_cap;
pub mod members;
pub mod pending;
pub mod search;
mod seats;

/// Who acts on a team: the caller's user, business and role.
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user_id: Uuid,
    pub business_id: Uuid,
    pub role: Option<Role>,
}

impl Actor {
    /// The caller acting in its token's business.
    ///
    /// # Errors
    /// `FORBIDDEN` for a token that acts in no business.
    pub fn of(principal: &Principal) -> Result<Self, AppError> {
        Ok(Actor {
            user_id: principal.user_id,
            business_id: principal.business()?,
            role: principal.role,
        })
    }

    fn is_owner(&self) -> bool {
        self.role == Some(Role::Owner)
    }

    /// Only an owner gives, takes or manages the roles OWNER and ADMIN.
    fn ensure_may_manage(&self, role: Role) -> Result<(), AppError> {
        if matches!(role, Role::Owner | Role::Admin) && !self.is_owner() {
            return Err(AppError::forbidden(
                "only an owner can manage owners and admins",
            ));
        }
        Ok(())
    }
}

/// The human member `member_id` of the actor's business.
///
/// # Errors
/// `NOT_FOUND` when it is another business's, the SDK member, or unknown.
async fn find_member<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    member_id: Uuid,
) -> Result<team_members::Model, AppError> {
    team_members::Entity::find_by_id(member_id)
        .filter(team_members::Column::BusinessId.eq(actor.business_id))
        .filter(team_members::Column::Role.ne(Role::Sdk))
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "member" })
}

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

/// Most invitations one list returns (`Business.invitations`): the newest. The document limits
/// count the list as this long.
pub const MAX_INVITATIONS_LISTED: u64 = 100;

/// The invitations of a business that have not been accepted, newest first (expired ones
/// included until housekeeping deletes them, so that they can be sent again), at most
/// [`MAX_INVITATIONS_LISTED`].
pub async fn invitations<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
) -> Result<Vec<team_members::Model>, AppError> {
    Ok(team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::Status.eq(MemberStatus::Invited))
        .order_by_desc(team_members::Column::Id)
        .limit(MAX_INVITATIONS_LISTED)
        .all(db)
        .await?)
}

/// A role as mail and audit data name it.
pub(crate) const fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
        Role::Sdk => "sdk",
    }
}

//! Inviting someone into a business, and the mail and audit entry every invitation step writes.

use chrono::{DateTime, Utc};
use entity::{MemberStatus, Role, businesses, team_members, users};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use uuid::Uuid;

use super::{Actor, keys, mail_cap, seats};
use crate::error::{AppError, is_unique_violation};
use crate::services::identity::accounts::{find_by_email, new_user};
use crate::services::outbox::{self, NewMail, Template};
use crate::services::{audit, locks, validate};

/// `inviteTeamMember`'s input.
#[derive(Clone)]
pub struct Invite {
    pub email: String,
    pub role: Role,
    pub name: Option<String>,
}

/// An invitation written and its mail recorded: hand `mail_id` to the job worker after commit.
pub struct Sent {
    pub invitation: team_members::Model,
    pub mail_id: Uuid,
}

/// Invites `input.email` into the actor's business: creates the user (without a password) when
/// the address is new, an INVITED member holding a fresh key's hash for 7 days, the invitation
/// mail and an audit entry — all in one transaction.
///
/// # Errors
/// `BAD_USER_INPUT` on `email`, `name` or `role` (only ADMIN and MEMBER are invited);
/// `FORBIDDEN` when a non-owner invites an ADMIN; `CONFLICT` on `email` when the person is
/// already a member (active, invited or deactivated); `QUOTA_EXCEEDED` when the seats are taken;
/// `RATE_LIMITED` (with `retryAfter`) when the business has mailed this address
/// [`mail_cap::PER_ADDRESS`] times in the last hour.
#[tracing::instrument(skip_all, fields(business = %actor.business_id))]
pub async fn invite(
    db: &DatabaseConnection,
    public_url: &str,
    actor: &Actor,
    input: Invite,
    now: DateTime<Utc>,
) -> Result<Sent, AppError> {
    locks::retrying(|| invite_once(db, public_url, actor, input.clone(), now)).await
}

async fn invite_once(
    db: &DatabaseConnection,
    public_url: &str,
    actor: &Actor,
    input: Invite,
    now: DateTime<Utc>,
) -> Result<Sent, AppError> {
    let email = validate::email(&input.email, "email")?;
    let name = validate::optional_name(input.name.as_deref(), "name")?;
    if !matches!(input.role, Role::Admin | Role::Member) {
        return Err(AppError::bad_input("role", "invite as ADMIN or MEMBER"));
    }
    actor.ensure_may_manage(input.role)?;

    let txn = crate::db::begin_write(db).await?;
    locks::team(&txn, actor.business_id).await?;
    mail_cap::ensure_may_mail(&txn, actor.business_id, &email, now).await?;
    let user = match find_by_email(&txn, &email).await? {
        Some(user) if user.is_bot => {
            return Err(AppError::bad_input("email", "enter a valid e-mail address"));
        }
        Some(user) => {
            ensure_not_member(&txn, actor.business_id, user.id).await?;
            user
        }
        None => create_user(&txn, email, name, now).await?,
    };
    seats::ensure_one_free(&txn, actor.business_id).await?;
    let key = keys::generate();
    let invitation = team_members::Model {
        id: Uuid::now_v7(),
        business_id: actor.business_id,
        user_id: user.id,
        role: input.role,
        status: MemberStatus::Invited,
        invited_by: Some(actor.user_id),
        activation_key_hash: Some(key.hash),
        activation_expires_at: Some(keys::expiry(now)),
        joined_at: None,
        created_at: now,
        updated_at: now,
    };
    team_members::Entity::insert(team_members::ActiveModel::from(invitation.clone()))
        .exec_without_returning(&txn)
        .await?;
    let mail_id = mail(&txn, public_url, &invitation, &user.email, &key.raw, now).await?;
    record(
        &txn,
        actor,
        "invitation.created",
        &invitation,
        &user.email,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(Sent {
        invitation,
        mail_id,
    })
}

async fn ensure_not_member<C: ConnectionTrait>(
    db: &C,
    business_id: Uuid,
    user_id: Uuid,
) -> Result<(), AppError> {
    let existing = team_members::Entity::find()
        .filter(team_members::Column::BusinessId.eq(business_id))
        .filter(team_members::Column::UserId.eq(user_id))
        .one(db)
        .await?;
    let message = match existing.map(|member| member.status) {
        None => return Ok(()),
        Some(MemberStatus::Active) => "this person is already a member",
        Some(MemberStatus::Invited) => "this person is already invited; send the invitation again",
        Some(MemberStatus::Deactivated) => "this person is a deactivated member; reactivate them",
    };
    Err(AppError::conflict("email", message))
}

async fn create_user<C: ConnectionTrait>(
    db: &C,
    email: String,
    name: Option<String>,
    now: DateTime<Utc>,
) -> Result<users::Model, AppError> {
    let user = new_user(email, name, None, false, now);
    users::Entity::insert(users::ActiveModel::from(user.clone()))
        .exec_without_returning(db)
        .await
        .map_err(|err| {
            if is_unique_violation(&err) {
                AppError::conflict("email", "this address was just registered; try again")
            } else {
                err.into()
            }
        })?;
    Ok(user)
}

/// Records the invitation mail with its link.
pub(super) async fn mail<C: ConnectionTrait>(
    db: &C,
    public_url: &str,
    invitation: &team_members::Model,
    to: &str,
    raw_key: &str,
    now: DateTime<Utc>,
) -> Result<Uuid, AppError> {
    let business = businesses::Entity::find_by_id(invitation.business_id)
        .one(db)
        .await?
        .ok_or(AppError::NotFound { what: "business" })?;
    let inviter = match invitation.invited_by {
        Some(id) => users::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let inviter = inviter.map(|user| user.name.unwrap_or(user.email));
    let link = format!(
        "{}/accept-invite?key={raw_key}",
        public_url.trim_end_matches('/')
    );
    let data = json!({
        "business": business.name,
        "inviter": inviter,
        "role": super::role_name(invitation.role),
        "link": link,
        "expires_at": invitation.activation_expires_at,
    });
    let mail = NewMail {
        template: Template::Invitation,
        to: to.to_owned(),
        data,
    };
    outbox::record(db, mail, now).await
}

pub(super) async fn record<C: ConnectionTrait>(
    db: &C,
    actor: &Actor,
    action: &str,
    invitation: &team_members::Model,
    email: &str,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    let entry = audit::Entry {
        business_id: Some(actor.business_id),
        actor_user_id: Some(actor.user_id),
        action,
        target: Some(invitation.id.to_string()),
        data: Some(json!({ "email": email, "role": super::role_name(invitation.role) })),
    };
    audit::record(db, entry, now).await
}

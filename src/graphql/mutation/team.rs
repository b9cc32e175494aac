//! The business and its people: renaming it, invitations, members.

use async_graphql::{Context, ID, InputObject, Object, Result};
use secrecy::SecretString;

use crate::auth::Right;
use crate::graphql::context::ContextExt;
use crate::graphql::guards::{HasRight, SignedIn, WholeToken};
use crate::graphql::types::{AuthPayload, Business, Invitation, Role, TeamMember};
use crate::services::team::invite::{self, Invite, Sent};
use crate::services::team::members::{self, Changed};
use crate::services::team::pending;
use crate::services::team::{Actor, accept, business, found};
use crate::services::validate;
use crate::state::AppState;

#[derive(InputObject)]
pub struct InviteInput {
    email: String,
    /// ADMIN or MEMBER; only an owner invites an ADMIN.
    role: Role,
    /// Pre-fills the invitee's name when the address has no account yet.
    name: Option<String>,
}

#[derive(InputObject)]
pub struct AcceptInvitationInput {
    /// The key from the invitation link.
    activation_key: String,
    /// A new account's password to set, or an existing account's password to prove.
    password: String,
    /// A new account's name (ignored for an existing account).
    name: Option<String>,
}

#[derive(InputObject)]
pub struct UpdateBusinessInput {
    name: Option<String>,
}

#[derive(Default)]
pub struct TeamMutation;

#[Object]
impl TeamMutation {
    /// Invites someone by e-mail; the invitation link is valid for 7 days and takes a seat.
    /// A business mails one address at most three invitations an hour, sends and re-sends
    /// together, and all addresses at most fifty a day (`RATE_LIMITED` with `retryAfter`
    /// beyond).
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn invite_team_member(
        &self,
        ctx: &Context<'_>,
        input: InviteInput,
    ) -> Result<Invitation> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let invite = Invite {
            email: input.email,
            role: input.role.into(),
            name: input.name,
        };
        let public_url = &state.settings.public_url;
        let sent = invite::invite(&state.db, public_url, &actor, invite, state.clock.now()).await?;
        Ok(mailed(state, sent).await)
    }

    /// Sends a pending invitation again with a new link, valid 7 days; the old link stops
    /// working. Counts toward the invitation mail caps.
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let id = validate::id(&id, "id")?;
        let public_url = &state.settings.public_url;
        let sent = pending::resend(&state.db, public_url, &actor, id, state.clock.now()).await?;
        Ok(mailed(state, sent).await)
    }

    /// Takes back a pending invitation: its link stops working and its seat frees.
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let id = validate::id(&id, "id")?;
        pending::revoke(&state.db, &actor, id, state.clock.now()).await?;
        Ok(true)
    }

    /// Joins the business an invitation is for, and logs in there. Public: the key is the
    /// credential (and, for an existing account, its password). A key past its 7 days is
    /// `EXPIRED`.
    async fn accept_invitation(
        &self,
        ctx: &Context<'_>,
        input: AcceptInvitationInput,
    ) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let accept = accept::Accept {
            activation_key: input.activation_key,
            password: SecretString::from(input.password),
            name: input.name,
            client_addr: ctx.client_addr().clone(),
            budget: ctx.password_budget()?.clone(),
        };
        let now = state.clock.now();
        let ttl = state.session_ttl();
        let rate = &state.auth_rate;
        let issued = accept::accept(&state.db, &state.root_key, ttl, now, rate, accept).await?;
        Ok(issued.into())
    }

    /// Changes a member's role; their sessions in this business end (they log in again).
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn update_member_role(
        &self,
        ctx: &Context<'_>,
        member_id: ID,
        role: Role,
    ) -> Result<TeamMember> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let id = validate::id(&member_id, "memberId")?;
        let now = state.clock.now();
        let changed = members::update_role(&state.db, &actor, id, role.into(), now).await?;
        Ok(forgotten(state, changed))
    }

    /// Takes a member's access away at once; their seat frees.
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn deactivate_member(&self, ctx: &Context<'_>, member_id: ID) -> Result<TeamMember> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let id = validate::id(&member_id, "memberId")?;
        let changed = members::deactivate(&state.db, &actor, id, state.clock.now()).await?;
        Ok(forgotten(state, changed))
    }

    /// Gives a deactivated member their access back, if the plan has a seat free.
    #[graphql(guard = "HasRight(Right::TeamManage)")]
    async fn reactivate_member(&self, ctx: &Context<'_>, member_id: ID) -> Result<TeamMember> {
        let state = ctx.state()?;
        let actor = Actor::of(ctx.principal()?)?;
        let id = validate::id(&member_id, "memberId")?;
        let changed = members::reactivate(&state.db, &actor, id, state.clock.now()).await?;
        Ok(forgotten(state, changed))
    }

    /// Founds another business with you as its OWNER — its own SDK key, on the default plan,
    /// as at sign-up — and opens a session in it. Your own login sessions only; a user owns at
    /// most ten businesses (`QUOTA_EXCEEDED`, metric `owned_businesses`, beyond).
    #[graphql(guard = "SignedIn.and(WholeToken)")]
    async fn create_business(&self, ctx: &Context<'_>, name: String) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let issued = found::create(
            &state.db,
            &state.root_key,
            state.session_ttl(),
            ctx.principal()?,
            &name,
            state.clock.now(),
        )
        .await?;
        Ok(issued.into())
    }

    #[graphql(guard = "HasRight(Right::BusinessManage)")]
    async fn update_business(
        &self,
        ctx: &Context<'_>,
        input: UpdateBusinessInput,
    ) -> Result<Business> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let business = business::update(
            &state.db,
            principal.user_id,
            principal.business()?,
            input.name.as_deref(),
            state.clock.now(),
        )
        .await?;
        Ok(Business::new(business))
    }
}

/// Hands the committed mail to the job worker.
async fn mailed(state: &AppState, sent: Sent) -> Invitation {
    state.jobs.mail_recorded(sent.mail_id).await;
    Invitation(sent.invitation)
}

/// Forgets the tokens of a member whose sessions were just revoked.
fn forgotten(state: &AppState, changed: Changed) -> TeamMember {
    if let Some(user_id) = changed.revoked_user {
        state.tokens.forget_user(user_id);
    }
    TeamMember(changed.member)
}

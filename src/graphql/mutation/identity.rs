//! Who a caller is: sign-up, login, sessions, passwords, the SDK key, impersonation.

use async_graphql::{Context, ID, InputObject, Object, Result};
use secrecy::SecretString;

use crate::auth::{Access, Right};
use crate::graphql::context::ContextExt;
use crate::graphql::guards::{HasRight, NotImpersonating, SignedIn, WholeToken};
use crate::graphql::types::AuthPayload;
use crate::services::identity::accounts::{self, ChangePassword, Login};
use crate::services::identity::signup::{self, Signup};
use crate::services::identity::{api_keys, impersonation, password_reset};
use crate::services::validate;

#[derive(InputObject)]
pub struct SignupInput {
    email: String,
    password: String,
    name: String,
    business_name: String,
}

#[derive(InputObject)]
pub struct LoginInput {
    email: String,
    password: String,
    /// The business to act in; by default the one joined most recently.
    business_id: Option<ID>,
}

#[derive(InputObject)]
pub struct ChangePasswordInput {
    current_password: String,
    new_password: String,
}

#[derive(InputObject)]
pub struct ResetPasswordInput {
    /// The key from the reset link.
    token: String,
    new_password: String,
}

#[derive(Default)]
pub struct IdentityMutation;

#[Object]
impl IdentityMutation {
    /// Creates a business with you as its owner, on the default plan, and logs you in. An
    /// address that was invited (and has no password yet) signs up all the same; its
    /// invitations stay pending, to accept with their links.
    async fn signup(&self, ctx: &Context<'_>, input: SignupInput) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let issued = signup::signup(
            &state.db,
            &state.root_key,
            state.session_ttl(),
            state.clock.now(),
            &state.auth_rate,
            Signup {
                email: input.email,
                password: SecretString::from(input.password),
                name: input.name,
                business_name: input.business_name,
                client_addr: ctx.client_addr().clone(),
                budget: ctx.password_budget()?.clone(),
            },
        )
        .await?;
        // A claimed account's earlier sessions were revoked.
        state.tokens.forget_user(issued.claims.user_id);
        Ok(issued.into())
    }

    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let business_id = input
            .business_id
            .map(|id| validate::id(&id, "businessId"))
            .transpose()?;
        let issued = accounts::login(
            &state.db,
            &state.root_key,
            state.session_ttl(),
            state.clock.now(),
            &state.auth_rate,
            Login {
                email: input.email,
                password: SecretString::from(input.password),
                business_id,
                client_addr: ctx.client_addr().clone(),
                budget: ctx.password_budget()?.clone(),
            },
        )
        .await?;
        Ok(issued.into())
    }

    /// Ends this session; its token is refused from now on.
    #[graphql(guard = "SignedIn")]
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        accounts::logout(&state.db, principal, state.clock.now()).await?;
        state.tokens.forget_session(principal.session_id);
        Ok(true)
    }

    /// Ends every session of your account, on every device.
    #[graphql(guard = "SignedIn")]
    async fn logout_everywhere(&self, ctx: &Context<'_>) -> Result<bool> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        accounts::logout_everywhere(&state.db, principal, state.clock.now()).await?;
        state.tokens.forget_user(principal.user_id);
        Ok(true)
    }

    /// A new session in another business you are a member of.
    #[graphql(guard = "SignedIn.and(WholeToken)")]
    async fn switch_business(&self, ctx: &Context<'_>, business_id: ID) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let business_id = validate::id(&business_id, "businessId")?;
        let issued = accounts::switch_business(
            &state.db,
            &state.root_key,
            state.session_ttl(),
            state.clock.now(),
            ctx.principal()?,
            business_id,
        )
        .await?;
        Ok(issued.into())
    }

    /// Sets a new password; your other sessions end. The current password is checked like a
    /// login: throttled per account and client address, one check per HTTP request.
    #[graphql(guard = "SignedIn")]
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        let state = ctx.state()?;
        accounts::change_password(
            &state.db,
            (&state.auth_rate, &state.password_rate),
            ctx.principal()?,
            ChangePassword {
                current: SecretString::from(input.current_password),
                new: SecretString::from(input.new_password),
                client_addr: ctx.client_addr().clone(),
                budget: ctx.password_budget()?.clone(),
            },
            state.clock.now(),
        )
        .await?;
        state.tokens.forget_user(ctx.principal()?.user_id);
        Ok(true)
    }

    /// Mails a password-reset link to `email` if it names an account. Always `true`, in the
    /// same time either way (the answer comes before the work), so it tells nobody whether an
    /// address has an account; at most three links per account per hour are sent.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        let state = ctx.state()?;
        let work = password_reset::Requested {
            db: state.db.clone(),
            jobs: state.jobs.clone(),
            email,
            public_url: state.settings.public_url.clone(),
            now: state.clock.now(),
            deadline: state.settings.request_timeout,
        };
        password_reset::request_detached(&state.auth_rate, ctx.client_addr(), work)?;
        Ok(true)
    }

    /// Sets a new password with the key from a reset link and logs you in; the key dies and
    /// every other session of the account ends.
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        input: ResetPasswordInput,
    ) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let issued = password_reset::reset(
            &state.db,
            &state.root_key,
            state.session_ttl(),
            state.clock.now(),
            &input.token,
            SecretString::from(input.new_password),
            ctx.password_budget()?,
        )
        .await?;
        state.tokens.forget_user(issued.claims.user_id);
        Ok(issued.into())
    }

    /// Replaces the SDK key; the old one is refused from now on. Returns the new key. Not for
    /// staff impersonating the business.
    #[graphql(guard = "NotImpersonating(Access::Caller).and(HasRight(Right::ApiKeyManage))")]
    async fn rotate_api_key(&self, ctx: &Context<'_>) -> Result<String> {
        let state = ctx.state()?;
        let principal = ctx.principal()?;
        let business_id = principal.business()?;
        let key = api_keys::rotate(
            &state.db,
            &state.root_key,
            principal.user_id,
            business_id,
            state.clock.now(),
        )
        .await?;
        state.tokens.forget_business(business_id);
        Ok(key)
    }

    /// A token acting in the business for at most an hour: read-only unless `write`. The
    /// reason and every use are written to the business's audit log.
    #[graphql(guard = "HasRight(Right::StaffImpersonate).and(WholeToken)")]
    async fn impersonate(
        &self,
        ctx: &Context<'_>,
        business_id: ID,
        reason: String,
        #[graphql(default_with = "Some(false)")] write: Option<bool>,
    ) -> Result<AuthPayload> {
        let state = ctx.state()?;
        let business_id = validate::id(&business_id, "businessId")?;
        let issued = impersonation::start(
            &state.db,
            &state.root_key,
            ctx.principal()?,
            business_id,
            &reason,
            write.unwrap_or(false),
            state.clock.now(),
        )
        .await?;
        Ok(issued.into())
    }
}

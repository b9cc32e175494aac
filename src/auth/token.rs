//! Minting and verifying Biscuit tokens.
//!
//! The authority block holds `user(id)`, `session(id)`, `business(id)`, `role(r)`, one
//! `right(r)` per right, `staff(true)`, `impersonator(id)` and, unless the token is an API key,
//! `check if time($t), $t <= expiry`. Opening a token checks its signature, judges the blocks
//! holders appended (see [`super::attenuation`]) and reads the claims, without Datalog; the
//! Biscuit authorizer then runs once per root field of the request with `time(now)` and
//! `operation(name)`, so checks that a holder appended when attenuating the token are enforced.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::error::{FailedCheck, Logic, Token as TokenError};
use biscuit_auth::macros::{authorizer, biscuit, check, fact};
use biscuit_auth::{AuthorizerLimits, Biscuit, KeyPair, PublicKey, UnverifiedBiscuit};
use chrono::{DateTime, Utc};
use entity::Role;
use uuid::Uuid;

use super::attenuation;
use super::rights::{Right, RightSet};

/// What the authority block of a token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub business_id: Option<Uuid>,
    pub role: Option<Role>,
    pub rights: RightSet,
    pub staff: bool,
    pub impersonator: Option<Uuid>,
    /// `None` for API keys.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the token is malformed or not signed by this server")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the session has ended")]
    Revoked,
    /// A check the holder added refuses this operation.
    #[error("the token does not allow {0}")]
    NotAllowed(String),
}

/// A root field of a request, as the authorizer sees it: `operation(name)` plus facts drawn
/// from its arguments, e.g. `metric("recordings")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub facts: Vec<(String, String)>,
}

impl Operation {
    pub fn named(name: &str) -> Operation {
        Operation {
            name: name.to_owned(),
            facts: Vec::new(),
        }
    }
}

/// A Biscuit whose signature has been verified and whose appended blocks were judged, kept so
/// that resolvers can authorize the request's own facts (e.g. the metric a `recordUsage` call
/// records).
#[derive(Clone)]
pub struct VerifiedToken(Arc<Opened>);

impl std::fmt::Debug for VerifiedToken {
    // A token is a credential: it never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedToken(..)")
    }
}

struct Opened {
    biscuit: Biscuit,
    /// What one authorization of this token costs, in units of [`REQUEST_WORK`]: [`RUN_COST`],
    /// one per 8 bytes of token (rebuilding the authorizer translates every block), and the
    /// work of the holders' checks.
    run_cost: u64,
    asks: attenuation::Asks,
}

/// What one authorization costs beyond the token's size and its checks' work, in the same
/// units (measured: rebuilding an authorizer costs some 20 µs, plus some per block).
pub const RUN_COST: u64 = 256;
/// The most work one request may ask of a token's authorizer: its runs times their cost
/// (see `Opened::run_cost`), about 5 ms of CPU at most (`bench/refusals.sh`). A token with one
/// cheap check is judged up to 100 times, as many as a `recordUsages` call has events; one
/// with the costliest checks, a dozen times.
pub const REQUEST_WORK: u64 = 42_000;

/// Datalog work allowed per authorization: enough for any token this server mints plus a few
/// attenuation blocks; a hostile token cannot make verification expensive. The facts and
/// iterations bound the work; the time is a wall-clock backstop, generous because a busy
/// machine can preempt an authorization that needs well under a millisecond of CPU (a 20 ms
/// bound refused valid tokens under load).
fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_facts: 1_000,
        max_iterations: 100,
        max_time: Duration::from_millis(250),
    }
}

/// The longest token accepted, in base64 characters. The tokens this server mints are about a
/// kilobyte at most (see the test `minted_tokens_leave_room_for_attenuation`), which leaves
/// room for the seven attenuation blocks [`MAX_BLOCKS`] allows.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The most blocks a token may hold: the authority block and seven appended by holders.
pub const MAX_BLOCKS: usize = 8;

/// Refuses a token longer than [`MAX_TOKEN_LEN`], before anything decodes it.
///
/// # Errors
/// [`Rejection::Invalid`].
pub fn check_size(token: &str) -> Result<(), Rejection> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Rejection::Invalid);
    }
    Ok(())
}

/// Signs `claims` with the root key.
///
/// # Errors
/// Only if the Biscuit library refuses to build the token, which our facts never cause.
pub fn mint(root: &KeyPair, claims: &Claims) -> Result<String, anyhow::Error> {
    let user = claims.user_id.to_string();
    let session = claims.session_id.to_string();
    let mut builder = biscuit!("user({user}); session({session});");
    if let Some(business) = claims.business_id {
        builder = builder.fact(fact!("business({id})", id = business.to_string()))?;
    }
    if let Some(role) = claims.role {
        builder = builder.fact(fact!("role({role})", role = role_name(role)))?;
    }
    for right in claims.rights.iter() {
        builder = builder.fact(fact!("right({right})", right = right.as_str()))?;
    }
    if claims.staff {
        builder = builder.fact(fact!("staff(true)"))?;
    }
    if let Some(impersonator) = claims.impersonator {
        builder = builder.fact(fact!("impersonator({id})", id = impersonator.to_string()))?;
    }
    if let Some(expiry) = claims.expires_at {
        let expiry = SystemTime::from(expiry);
        builder = builder.check(check!("check if time($t), $t <= {expiry}"))?;
    }
    Ok(builder.build(root)?.to_base64()?)
}

/// Verifies the signature of `token`, judges the blocks its holders appended (see
/// [`attenuation`](super::attenuation)) and reads the claims of its authority block — all
/// without running Datalog, so that a revoked session's token, or one whose blocks are
/// refused, costs no authorizer run. [`VerifiedToken::authorize_all`] runs the checks.
///
/// # Errors
/// [`Rejection::Invalid`]; a token over [`MAX_TOKEN_LEN`] or [`MAX_BLOCKS`] is refused without
/// its signatures being checked.
pub fn open(root: PublicKey, token: &str) -> Result<(Claims, VerifiedToken), Rejection> {
    let token = token.trim();
    check_size(token)?;
    // Counted before any signature is checked: each block costs one.
    let unverified = UnverifiedBiscuit::from_base64(token).map_err(|_| Rejection::Invalid)?;
    if unverified.block_count() > MAX_BLOCKS {
        return Err(Rejection::Invalid);
    }
    let biscuit = unverified.verify(root).map_err(|_| Rejection::Invalid)?;
    let (authority, judged) = attenuation::inspect(&biscuit).map_err(|refused| {
        tracing::debug!(%refused, "a token's appended blocks were refused");
        Rejection::Invalid
    })?;
    let claims = read_claims(&authority).ok_or(Rejection::Invalid)?;
    let opened = Opened {
        biscuit,
        run_cost: RUN_COST
            .saturating_add(token.len() as u64 / 8)
            .saturating_add(judged.work),
        asks: judged.asks,
    };
    Ok((claims, VerifiedToken(Arc::new(opened))))
}

/// [`open`], then [`VerifiedToken::authorize_all`] for `operations` at `now`.
///
/// # Errors
/// See [`Rejection`].
pub fn verify(
    root: PublicKey,
    token: &str,
    operations: &[Operation],
    now: DateTime<Utc>,
) -> Result<(Claims, VerifiedToken), Rejection> {
    let (claims, verified) = open(root, token)?;
    verified.authorize_all(operations, now)?;
    Ok((claims, verified))
}

impl VerifiedToken {
    /// How many authorizations of this token [`REQUEST_WORK`] admits in one request.
    pub fn most_runs(&self) -> u64 {
        REQUEST_WORK / self.0.run_cost.max(1)
    }

    /// Whether the holder appended blocks (checks that every request must satisfy).
    pub fn is_attenuated(&self) -> bool {
        self.0.biscuit.block_count() > 1
    }

    /// Authorizes each of `operations` with [`VerifiedToken::authorize`], once per distinct
    /// projection onto the facts the holder's checks ask about (a token nobody narrowed asks
    /// about none: its only check is its expiry).
    ///
    /// # Errors
    /// As [`VerifiedToken::authorize`], for the first operation refused;
    /// [`Rejection::NotAllowed`] before any run when the runs would cost more than
    /// [`REQUEST_WORK`].
    pub fn authorize_all(
        &self,
        operations: &[Operation],
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        // A request with no root field (it will fail validation) is still checked once.
        let none = [Operation::named("")];
        let operations = if operations.is_empty() {
            &none[..]
        } else {
            operations
        };
        let asks = self.0.asks;
        let mut seen = std::collections::BTreeSet::new();
        let runs: Vec<&Operation> = operations
            .iter()
            .filter(|operation| {
                let name = asks.operation.then_some(operation.name.as_str());
                let facts = asks.facts.then_some(&operation.facts);
                seen.insert((name, facts))
            })
            .collect();
        let work = (runs.len() as u64).saturating_mul(self.0.run_cost);
        if work > REQUEST_WORK {
            return Err(Rejection::NotAllowed(format!(
                "{} distinct operations and metrics: more than this token's checks may judge in \
                 one request",
                runs.len()
            )));
        }
        for operation in runs {
            let facts: Vec<(&str, &str)> = operation
                .facts
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            self.authorize(&operation.name, &facts, now)?;
        }
        Ok(())
    }

    /// Runs the authorizer for `operation` with extra request facts `(name, value)`: the
    /// authority's expiry check and the holder's checks, whose cost [`open`] has bounded.
    ///
    /// # Errors
    /// [`Rejection::Expired`] when the authority's expiry check fails, [`Rejection::NotAllowed`]
    /// when a check of an attenuation block does.
    pub fn authorize(
        &self,
        operation: &str,
        facts: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<(), Rejection> {
        let now = SystemTime::from(now);
        let mut builder =
            authorizer!("time({now}); operation({operation}); allow if true;").set_limits(limits());
        for (name, value) in facts {
            let fact = biscuit_auth::builder::fact(name, &[biscuit_auth::builder::string(value)]);
            builder = builder.fact(fact).map_err(|_| Rejection::Invalid)?;
        }
        let mut authorizer = builder
            .build(&self.0.biscuit)
            .map_err(|_| Rejection::Invalid)?;
        match authorizer.authorize_with_limits(limits()) {
            Ok(_) => Ok(()),
            Err(TokenError::FailedLogic(Logic::Unauthorized { checks, .. }))
            | Err(TokenError::FailedLogic(Logic::NoMatchingPolicy { checks })) => {
                let authority_failed = checks
                    .iter()
                    .any(|check| matches!(check, FailedCheck::Block(b) if b.block_id == 0));
                if authority_failed {
                    Err(Rejection::Expired)
                } else {
                    Err(Rejection::NotAllowed(operation.to_owned()))
                }
            }
            Err(error) => {
                tracing::warn!(?error, "a token's authorization did not complete");
                Err(Rejection::Invalid)
            }
        }
    }
}

/// Reads the claims from the authority block's facts (facts a holder appended could grant
/// nothing even if [`attenuation`](super::attenuation) let them through: only the authority
/// block is read).
fn read_claims(authority: &attenuation::Authority) -> Option<Claims> {
    // A fact the server states at most once: `None` when it is stated twice.
    fn one<'a>(authority: &'a attenuation::Authority, name: &'a str) -> Option<Option<&'a str>> {
        let mut values = authority.values(name);
        let first = values.next();
        values.next().is_none().then_some(first)
    }
    let one = |name| one(authority, name);
    let uuid = |name| -> Option<Option<Uuid>> {
        match one(name)? {
            Some(text) => Uuid::parse_str(text).ok().map(Some),
            None => Some(None),
        }
    };
    let role = match one("role")? {
        Some(name) => Some(parse_role(name)?),
        None => None,
    };
    let mut rights = RightSet::default();
    for name in authority.values("right") {
        rights.insert(Right::parse(name)?);
    }
    Some(Claims {
        user_id: uuid("user")??,
        session_id: uuid("session")??,
        business_id: uuid("business")?,
        role,
        rights,
        staff: one("staff")? == Some("true"),
        impersonator: uuid("impersonator")?,
        // The expiry lives in a check, not a fact; the session row holds it too.
        expires_at: None,
    })
}

pub const fn role_name(role: Role) -> &'static str {
    match role {
        Role::Owner => "owner",
        Role::Admin => "admin",
        Role::Member => "member",
        Role::Sdk => "sdk",
    }
}

fn parse_role(text: &str) -> Option<Role> {
    [Role::Owner, Role::Admin, Role::Member, Role::Sdk]
        .into_iter()
        .find(|role| role_name(*role) == text)
}

#[cfg(test)]
#[path = "token_tests.rs"]
mod tests;

//! Minting and verifying Biscuit tokens.
//!
//! The authority block holds `user(id)`, `session(id)`, `business(id)`, `role(r)`, one
//! `right(r)` per right, `staff(true)`, `impersonator(id)` and, unless the token is an API key,
//! `check if time($t), $t <= expiry`. Verification runs the Biscuit authorizer once per root
//! field of the request with `time(now)` and `operation(name)`, so checks that a holder appended
//! when attenuating the token are enforced.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::error::{FailedCheck, Logic, Token as TokenError};
use biscuit_auth::macros::{authorizer, biscuit, check, fact, rule};
use biscuit_auth::{Authorizer, AuthorizerLimits, Biscuit, KeyPair, PublicKey};
use chrono::{DateTime, Utc};
use entity::Role;
use uuid::Uuid;

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

/// A Biscuit whose signature has been verified, kept so that resolvers can authorize the
/// request's own facts (e.g. the metric a `recordUsage` call records).
#[derive(Clone)]
pub struct VerifiedToken(Arc<Biscuit>);

impl std::fmt::Debug for VerifiedToken {
    // A token is a credential: it never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerifiedToken(..)")
    }
}

/// Datalog work allowed per authorization: enough for any token this server mints plus a few
/// attenuation blocks; a hostile token cannot make verification expensive.
fn limits() -> AuthorizerLimits {
    AuthorizerLimits {
        max_facts: 1_000,
        max_iterations: 100,
        max_time: Duration::from_millis(20),
    }
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

/// Verifies the signature of `token` and authorizes each of `operations` at `now`.
///
/// # Errors
/// See [`Rejection`].
pub fn verify(
    root: PublicKey,
    token: &str,
    operations: &[Operation],
    now: DateTime<Utc>,
) -> Result<(Claims, VerifiedToken), Rejection> {
    let biscuit = Biscuit::from_base64(token.trim(), root).map_err(|_| Rejection::Invalid)?;
    let verified = VerifiedToken(Arc::new(biscuit));
    let mut authorizer = verified.authorize_all(operations, now)?;
    let claims = read_claims(&mut authorizer).ok_or(Rejection::Invalid)?;
    Ok((claims, verified))
}

impl VerifiedToken {
    /// Whether the holder appended blocks (checks that every request must satisfy).
    pub fn is_attenuated(&self) -> bool {
        self.0.block_count() > 1
    }

    /// Authorizes each of `operations` (see [`verify`]); returns the first authorizer, whose
    /// world holds the authority's facts.
    ///
    /// # Errors
    /// As [`VerifiedToken::authorize`].
    pub fn authorize_all(
        &self,
        operations: &[Operation],
        now: DateTime<Utc>,
    ) -> Result<Authorizer, Rejection> {
        // A request with no root field (it will fail validation) is still checked once.
        let none = [Operation::named("")];
        let operations = if operations.is_empty() {
            &none[..]
        } else {
            operations
        };
        let mut first = None;
        for operation in operations {
            let facts: Vec<(&str, &str)> = operation
                .facts
                .iter()
                .map(|(name, value)| (name.as_str(), value.as_str()))
                .collect();
            let authorizer = self.authorize(&operation.name, &facts, now)?;
            first.get_or_insert(authorizer);
        }
        first.ok_or(Rejection::Invalid)
    }

    /// Runs the authorizer for `operation` with extra request facts `(name, value)`.
    ///
    /// # Errors
    /// [`Rejection::Expired`] when the authority's expiry check fails, [`Rejection::NotAllowed`]
    /// when a check of an attenuation block does.
    pub fn authorize(
        &self,
        operation: &str,
        facts: &[(&str, &str)],
        now: DateTime<Utc>,
    ) -> Result<Authorizer, Rejection> {
        let now = SystemTime::from(now);
        let mut builder =
            authorizer!("time({now}); operation({operation}); allow if true;").set_limits(limits());
        for (name, value) in facts {
            let fact = biscuit_auth::builder::fact(name, &[biscuit_auth::builder::string(value)]);
            builder = builder.fact(fact).map_err(|_| Rejection::Invalid)?;
        }
        let mut authorizer = builder.build(&self.0).map_err(|_| Rejection::Invalid)?;
        match authorizer.authorize_with_limits(limits()) {
            Ok(_) => Ok(authorizer),
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
            Err(_) => Err(Rejection::Invalid),
        }
    }
}

/// Reads the claims from the authority block (an authorizer only trusts the authority block
/// and itself, so facts a holder appended cannot grant anything).
fn read_claims(authorizer: &mut Authorizer) -> Option<Claims> {
    let one = |authorizer: &mut Authorizer, query: biscuit_auth::builder::Rule| -> Option<String> {
        let rows: Vec<(String,)> = authorizer.query_with_limits(query, limits()).ok()?;
        rows.into_iter().next().map(|(value,)| value)
    };
    let uuid = |text: Option<String>| text.and_then(|t| Uuid::parse_str(&t).ok());
    let user_id = uuid(one(authorizer, rule!("data($v) <- user($v)")))?;
    let session_id = uuid(one(authorizer, rule!("data($v) <- session($v)")))?;
    let business_id = uuid(one(authorizer, rule!("data($v) <- business($v)")));
    let impersonator = uuid(one(authorizer, rule!("data($v) <- impersonator($v)")));
    let role = one(authorizer, rule!("data($v) <- role($v)")).and_then(|r| parse_role(&r));
    let rights: Vec<(String,)> = authorizer
        .query_with_limits(rule!("data($v) <- right($v)"), limits())
        .ok()?;
    let mut set = RightSet::default();
    for (name,) in rights {
        set.insert(Right::parse(&name)?);
    }
    let staff: Vec<(bool,)> = authorizer
        .query_with_limits(rule!("data($v) <- staff($v)"), limits())
        .ok()?;
    Some(Claims {
        user_id,
        session_id,
        business_id,
        role,
        rights: set,
        staff: staff.first().is_some_and(|(s,)| *s),
        impersonator,
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
mod tests {
    use biscuit_auth::macros::block;
    use chrono::TimeDelta;

    use super::*;
    use crate::auth::rights;

    fn claims(expires_at: Option<DateTime<Utc>>) -> Claims {
        Claims {
            user_id: Uuid::now_v7(),
            session_id: Uuid::now_v7(),
            business_id: Some(Uuid::now_v7()),
            role: Some(Role::Owner),
            rights: rights::for_role(Role::Owner),
            staff: false,
            impersonator: None,
            expires_at,
        }
    }

    fn ops(names: &[&str]) -> Vec<Operation> {
        names.iter().map(|n| Operation::named(n)).collect()
    }

    #[test]
    fn a_minted_token_verifies_to_its_claims() {
        let root = KeyPair::new();
        let now = Utc::now();
        let claims = claims(Some(now + TimeDelta::hours(1)));
        let token = mint(&root, &claims).expect("mints");
        let (read, _) = verify(root.public(), &token, &ops(&["me"]), now).expect("verifies");
        assert_eq!(
            read,
            Claims {
                expires_at: None,
                ..claims
            }
        );
    }

    #[test]
    fn an_expired_token_is_rejected_as_expired() {
        let root = KeyPair::new();
        let now = Utc::now();
        let token = mint(&root, &claims(Some(now - TimeDelta::seconds(1)))).expect("mints");
        let err = verify(root.public(), &token, &ops(&["me"]), now).expect_err("expired");
        assert_eq!(err, Rejection::Expired);
    }

    #[test]
    fn a_token_from_another_key_or_tampered_is_invalid() {
        let root = KeyPair::new();
        let now = Utc::now();
        let token = mint(&KeyPair::new(), &claims(None)).expect("mints");
        let err = verify(root.public(), &token, &ops(&["me"]), now).expect_err("foreign");
        assert_eq!(err, Rejection::Invalid);

        let token = mint(&root, &claims(None)).expect("mints");
        let mut bytes = token.into_bytes();
        let middle = bytes.len() / 2;
        bytes[middle] = if bytes[middle] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        let err = verify(root.public(), &tampered, &ops(&["me"]), now).expect_err("tampered");
        assert_eq!(err, Rejection::Invalid);
    }

    #[test]
    fn an_attenuated_token_is_held_to_its_checks_and_cannot_add_rights() {
        let root = KeyPair::new();
        let now = Utc::now();
        let token = mint(&root, &claims(None)).expect("mints");
        let biscuit = Biscuit::from_base64(&token, root.public()).expect("parses");
        let narrowed = biscuit
            .append(block!(
                r#"check if operation("me"); right("staff:read"); staff(true);"#
            ))
            .expect("attenuates")
            .to_base64()
            .expect("serializes");
        let (claims, _) = verify(root.public(), &narrowed, &ops(&["me"]), now).expect("me");
        assert!(
            !claims.rights.contains(Right::StaffRead),
            "appended facts grant nothing"
        );
        assert!(!claims.staff);
        let err =
            verify(root.public(), &narrowed, &ops(&["me", "business"]), now).expect_err("only me");
        assert_eq!(err, Rejection::NotAllowed("business".into()));
    }
}

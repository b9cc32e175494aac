//! Verified tokens, remembered for a few seconds so that a busy SDK key costs one signature
//! check and one session lookup per interval rather than per request.
//!
//! Revocation stays prompt: the node that revokes a session forgets it at once, and every other
//! node re-reads the session row at most [`TTL`] after it last did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use entity::SessionKind;
use uuid::Uuid;

use super::token::{Claims, VerifiedToken};

/// How long a node trusts what it last read of a session.
pub const TTL: TimeDelta = TimeDelta::seconds(5);
/// Beyond this many tokens, stale ones are dropped (and all of them if none is stale).
const CAPACITY: usize = 50_000;

#[derive(Clone)]
pub struct Cached {
    pub claims: Claims,
    pub token: VerifiedToken,
    pub kind: SessionKind,
    /// When the session (and so the token) expires; `None` for API keys.
    pub expires_at: Option<DateTime<Utc>>,
    /// The holder appended blocks: the authorizer must run on every request.
    pub attenuated: bool,
    checked: DateTime<Utc>,
}

#[derive(Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<Arc<str>, Cached>>,
}

impl TokenCache {
    /// The token's entry when it was checked less than [`TTL`] before `now`.
    pub fn get(&self, token: &str, now: DateTime<Utc>) -> Option<Cached> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(token)
            .filter(|entry| fresh(entry, now))
            .cloned()
    }

    pub fn put(
        &self,
        token: &str,
        claims: Claims,
        verified: VerifiedToken,
        kind: SessionKind,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Cached {
        let attenuated = verified.is_attenuated();
        let entry = Cached {
            claims,
            token: verified,
            kind,
            expires_at,
            attenuated,
            checked: now,
        };
        let Ok(mut entries) = self.entries.lock() else {
            return entry;
        };
        if entries.len() >= CAPACITY {
            entries.retain(|_, entry| fresh(entry, now));
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(Arc::from(token), entry.clone());
        entry
    }

    /// Forgets one session's tokens (it was just revoked here).
    pub fn forget_session(&self, session_id: Uuid) {
        self.forget(|claims| claims.session_id == session_id);
    }

    /// Forgets every token of a user (their sessions were just revoked here).
    pub fn forget_user(&self, user_id: Uuid) {
        self.forget(|claims| claims.user_id == user_id);
    }

    /// Forgets every token acting in a business (e.g. its API key was rotated here).
    pub fn forget_business(&self, business_id: Uuid) {
        self.forget(|claims| claims.business_id == Some(business_id));
    }

    fn forget(&self, matches: impl Fn(&Claims) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, entry| !matches(&entry.claims));
        }
    }
}

fn fresh(entry: &Cached, now: DateTime<Utc>) -> bool {
    now - entry.checked < TTL && entry.checked <= now
}

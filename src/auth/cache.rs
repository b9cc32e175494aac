//! Verified tokens, remembered for a few seconds so that a busy SDK key costs one signature
//! check and one session lookup per interval rather than per request.
//!
//! What it guarantees:
//! - Revocation stays prompt. The node that revokes a session forgets its tokens at once, and
//!   nothing read from the database before that forget can enter the cache after it (a
//!   [`Ticket`] taken before the read is stale by then, and [`TokenCache::put`] drops it).
//!   Every other node re-reads the session row at most [`TTL`] after it last did, judged by
//!   the application's clock.
//! - Memory is bounded. Entries are keyed by the SHA-256 of the token, not the token; each one
//!   weighs a fixed overhead plus a multiple of the token's length (an estimate of its bytes),
//!   and the entries weigh [`MAX_WEIGHT`] in all at most — so there are at most
//!   `MAX_WEIGHT / ENTRY_OVERHEAD` of them, however small the tokens, and about that many bytes,
//!   however large. (Eviction runs as entries are added: the bound can be passed for a moment,
//!   by the entries added since the last run.) Whatever the application's clock says, an entry
//!   leaves memory [`EVICT_AFTER`] of wall time after it was put.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use entity::SessionKind;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::token::{Claims, VerifiedToken};

/// How long a node trusts what it last read of a session.
pub const TTL: TimeDelta = TimeDelta::seconds(5);
/// The most the cache weighs, in (estimated) bytes.
pub const MAX_WEIGHT: u64 = 64 * 1024 * 1024;
/// What an entry weighs beyond its token: its key, claims and the cache's bookkeeping.
pub const ENTRY_OVERHEAD: u32 = 1024;
/// A parsed Biscuit keeps its decoded bytes and its Datalog: a few times the base64's length.
const WEIGHT_PER_TOKEN_BYTE: u32 = 4;
/// Wall time after which an entry is dropped from memory (freshness is judged by [`TTL`]).
pub const EVICT_AFTER: Duration = Duration::from_secs(60);

type Key = [u8; 32];

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
    weight: u32,
}

impl Cached {
    /// What was verified of a token and read of its session at `now`.
    pub fn checked(
        claims: Claims,
        token: VerifiedToken,
        kind: SessionKind,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        Cached {
            attenuated: token.is_attenuated(),
            claims,
            token,
            kind,
            expires_at,
            checked: now,
            weight: ENTRY_OVERHEAD,
        }
    }
}

/// Taken before a session is read from the database; [`TokenCache::put`] honours it only when
/// no token was forgotten since.
#[must_use]
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

pub struct TokenCache {
    entries: Cache<Key, Cached>,
    /// Bumped by every forget. Held while putting and forgetting, so the two never interleave.
    generation: Mutex<u64>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::with_max_weight(MAX_WEIGHT)
    }
}

impl TokenCache {
    /// A cache that weighs at most `max_weight` (see the module's guarantees).
    pub fn with_max_weight(max_weight: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_weight)
            .weigher(|_: &Key, entry: &Cached| entry.weight)
            .time_to_live(EVICT_AFTER)
            .build();
        TokenCache {
            entries,
            generation: Mutex::new(0),
        }
    }

    /// To be taken before reading the session that a later [`TokenCache::put`] remembers.
    pub fn ticket(&self) -> Ticket {
        Ticket(
            *self
                .generation
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The token's entry when it was checked less than [`TTL`] before `now`.
    pub fn get(&self, token: &str, now: DateTime<Utc>) -> Option<Cached> {
        self.entries
            .get(&key(token))
            .filter(|entry| fresh(entry, now))
    }

    /// Remembers `entry` for `token` when its session was read after `ticket` was taken, unless
    /// a token was forgotten in between (that read may predate a revocation). Returns the entry
    /// either way.
    pub fn put(&self, ticket: Ticket, token: &str, mut entry: Cached) -> Cached {
        let length = u32::try_from(token.len()).unwrap_or(u32::MAX);
        entry.weight = ENTRY_OVERHEAD.saturating_add(length.saturating_mul(WEIGHT_PER_TOKEN_BYTE));
        let generation = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if *generation == ticket.0 {
            self.entries.insert(key(token), entry.clone());
        }
        entry
    }

    /// Forgets one session's tokens (it was just revoked here).
    pub fn forget_session(&self, session_id: Uuid) {
        self.forget(|claims| claims.session_id == session_id);
    }

    /// Forgets every token of a user, and every token a user holds as an impersonator (their
    /// sessions were just revoked here).
    pub fn forget_user(&self, user_id: Uuid) {
        self.forget(|claims| claims.user_id == user_id || claims.impersonator == Some(user_id));
    }

    /// Forgets every token acting in a business (e.g. its API key was rotated here).
    pub fn forget_business(&self, business_id: Uuid) {
        self.forget(|claims| claims.business_id == Some(business_id));
    }

    fn forget(&self, matches: impl Fn(&Claims) -> bool) {
        let mut generation = self
            .generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *generation = generation.wrapping_add(1);
        for (key, entry) in &self.entries {
            if matches(&entry.claims) {
                self.entries.invalidate(&*key);
            }
        }
    }

    /// What the cache weighs now, after pending evictions.
    pub fn weight(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

fn fresh(entry: &Cached, now: DateTime<Utc>) -> bool {
    now - entry.checked < TTL && entry.checked <= now
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;

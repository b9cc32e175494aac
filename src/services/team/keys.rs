//! Activation keys: one-time keys (see `services::one_time_keys`) that live seven days.

use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

pub use crate::services::one_time_keys::{generate, hash_of};

/// How long an invitation can be accepted.
pub const LIFETIME: TimeDelta = TimeDelta::days(7);

/// When a key issued at `now` dies, to the microsecond (what every database stores), so the
/// answer that issues it says what a later read will.
pub fn expiry(now: DateTime<Utc>) -> DateTime<Utc> {
    (now + LIFETIME).trunc_subsecs(6)
}

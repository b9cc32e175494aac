//! Login throttling. Three rules, each with its own reason:
//!
//! - **Per e-mail and address** (in the database, so every replica counts the same): each
//!   attempt is recorded *before* the password is checked and decided from the count that
//!   includes it, so concurrent guesses cannot all slip past the check. Of the attempts for one
//!   e-mail from one address within [`WINDOW`], at most [`PER_ADDRESS`] reach the password
//!   check; the others get `RATE_LIMITED` with `retryAfter`, the whole seconds until one of
//!   those attempts leaves the window. A refused attempt is forgotten (it never reached the
//!   check), a successful one clears that address's failures for that e-mail, and an attempt
//!   interrupted before its outcome counts as a failure.
//! - **Per e-mail** (database): past [`PER_EMAIL`] attempts within the window from all
//!   addresses, only *known addresses* — those that logged in to that e-mail successfully
//!   within [`KNOWN_FOR`] — may keep trying (each still under the per-address rule). A
//!   distributed guess therefore cannot lock the owner out of the places they use.
//! - **Per address, whatever the e-mail** (in each node's memory, `governor`):
//!   `SAASKIT_AUTH_ATTEMPTS_PER_MINUTE` attempts per minute of `login`, `signup`,
//!   `changePassword`, `acceptInvitation`, `requestPasswordReset` and invitation previews, so
//!   random e-mails cannot queue everyone behind the password-hashing permits.
//!
//! `changePassword` and accepting an invitation with an existing account's password go through
//! the first two rules too, as logins to that account: a stolen session is no password oracle.
//! `changePassword` also counts, in each node's memory, [`PASSWORD_CHECKS_PER_USER_PER_MINUTE`]
//! per user before anything else, so a flood from one session is refused without a database
//! write.
//!
//! Addresses are [`ClientAddr`](crate::client_addr::ClientAddr)s: one normal form, stored and
//! compared alike. E-mails are compared as stored: lower-case, trimmed, at most 254 characters.

use chrono::{DateTime, TimeDelta, Utc};

mod attempts;
mod known;
mod rate;

pub use attempts::{Attempt, begin};
pub use rate::{AddressRate, KeyRate, KeyedRate};

/// `changePassword` checks one user may ask for per minute on one node (a burst of as many).
pub const PASSWORD_CHECKS_PER_USER_PER_MINUTE: std::num::NonZeroU32 =
    std::num::NonZeroU32::MIN.saturating_add(9);

/// How long a failure counts.
pub const WINDOW: TimeDelta = TimeDelta::minutes(15);
/// Attempts per e-mail and address within the window that reach the password check.
pub const PER_ADDRESS: u64 = 5;
/// Attempts per e-mail within the window past which only known addresses may try.
pub const PER_EMAIL: u64 = 100;
/// How long a successful login makes its address known for that e-mail.
pub const KNOWN_FOR: TimeDelta = TimeDelta::days(30);

/// Longest e-mail kept (and compared) by the throttle.
const MAX_EMAIL: usize = 254;

/// The e-mail as the throttle stores and compares it.
fn email_key(email: &str) -> String {
    email.chars().take(MAX_EMAIL).collect()
}

/// Whole seconds from `now` until `at`, rounded up, at least 1.
fn seconds_until(at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = u64::try_from((at - now).num_milliseconds()).unwrap_or(0);
    millis.div_ceil(1000).max(1)
}

//! Identity: who a caller is, and how long that holds.
//!
//! Guarantees: a password is kept only as an argon2id hash and checked off the async
//! executor; login answers alike for an unknown e-mail and a wrong password, and repeated
//! failures are throttled per e-mail and address; a token is honoured only while its session
//! row lives (logout, logout everywhere, a password reset and a deactivation revoke rows);
//! the SDK key can record and read usage and nothing else; staff act inside a business only
//! through an audited, time-boxed impersonation.
//!
//! Files, in reading order:
//! - [`signup`]: signing up, and claiming an account an invitation made;
//! - [`accounts`]: logging in, switching business, logging out, changing a password;
//! - [`sessions`]: the rows tokens point at, issued and revoked;
//! - [`password_reset`]: the mailed single-use key and the reset that spends it;
//! - [`api_keys`]: the business's SDK key, rotated and rolled;
//! - [`staff`]: staff users, created and demoted from the command line;
//! - [`impersonation`]: staff acting inside a business;
//! - [`throttle`]: login throttling and the per-node rates.

pub mod accounts;
pub mod api_keys;
pub mod impersonation;
pub mod password_reset;
pub mod sessions;
pub mod signup;
pub mod staff;
pub mod throttle;

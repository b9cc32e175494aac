//! Billing: plans, subscriptions to them, and the cycle that renews them.
//!
//! Guarantees: every business has exactly one subscription; a plan's limits are data and
//! apply to all its subscribers at once; periods are counted from an anchor and never drift
//! (Jan 31 → Feb 28 → Mar 31); every change to a subscription is one transaction with its
//! audit entry, and a refused change writes nothing; each ended period is settled exactly
//! once, however many workers run the cycle and however often it is retried.
//!
//! Files, in reading order:
//! - [`plans`]: the public catalogue, a plan's limits, the default plans seeded at start;
//! - [`plan_admin`]: staff's catalogue — creating, editing and archiving plans;
//! - [`subscription`]: the subscription a business starts with, and its changes (change,
//!   cancel, resume, staff's grants);
//! - [`periods`]: the arithmetic of billing periods;
//! - [`provider`]: who is asked to pay;
//! - [`charges`]: the ledger of payments — claim, charge, commit — so each is taken once;
//! - [`cycle`]: every ended period renewed, expired or set past due.
//!
//! One rule, two forms: a renewal is a portable transaction ([`cycle::renew`]) and, on
//! PostgreSQL, one statement (`cycle/renew_one_statement.rs`). Both are held to the same
//! outcomes by the cycle tests (`tests/api/billing_cycle/`), which run on SQLite (the
//! transaction) and on PostgreSQL (the statement).

pub mod charges;
pub mod cycle;
pub mod periods;
pub mod plan_admin;
pub mod plans;
pub mod provider;
pub mod subscription;

//! The business rules, one folder per domain. Services know nothing of GraphQL: they take a
//! connection (the pool or a transaction), typed input, and return models or an
//! [`AppError`](crate::AppError).
//!
//! - [`identity`]: who a caller is — accounts, sessions, password resets, the SDK key, staff,
//!   impersonation, login throttling;
//! - [`billing`]: plans and money — the plan catalogue, subscriptions and their changes,
//!   billing periods, the renewal cycle, the billing provider;
//! - [`team`]: the business and its people — the business itself, members, invitations,
//!   seats;
//! - [`usage`]: metering — the limit rule, recording (one by one, batched, queued), the
//!   dashboard's view.
//!
//! At the top, only what several domains share: [`audit`] (the audit log), [`outbox`] (mail
//! written in the causing transaction), [`locks`] (the one lock order every write that
//! reads a plan's limits follows), [`one_time_keys`] (hashed single-use keys),
//! [`validate`] (input parsing) and [`lookup`] (batch reads for the GraphQL loaders).

pub mod audit;
pub mod locks;
pub mod lookup;
pub mod one_time_keys;
pub mod outbox;
pub mod validate;

pub mod billing;
pub mod identity;
pub mod team;
pub mod usage;

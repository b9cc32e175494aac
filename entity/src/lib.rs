//! SeaORM entities for every saaskit table. Entities are storage only: the GraphQL layer has
//! its own types, and the business rules live in the services.

pub mod audit_events;
pub mod billing_charges;
pub mod businesses;
pub mod enums;
pub mod login_attempts;
pub mod login_known_addresses;
pub mod mail_outbox;
pub mod password_resets;
pub mod plan_limits;
pub mod plans;
pub mod sessions;
pub mod subscriptions;
pub mod team_members;
pub mod usage_counters;
pub mod usage_events;
pub mod usage_periods;
pub mod users;

pub use enums::{
    ChargePurpose, ChargeStatus, MemberStatus, PeriodUnit, Role, SessionKind, SubscriptionStatus,
};

//! The GraphQL object types, each wrapping what a service returns. Entities never reach the
//! schema directly.

mod audit;
mod business;
mod enums;
mod plan;
mod subscription;
mod team;
mod usage;
mod user;
mod viewer;

pub use audit::AuditEvent;
pub use business::Business;
pub use enums::{MemberStatus, PeriodUnit, Role, SubscriptionStatus};
pub use plan::Plan;
pub use subscription::Subscription;
pub use team::{Invitation, InvitationPreview, TeamMember};
pub use usage::{Usage, UsageOutcome, UsagePeriod, UsageResult};
pub use user::User;
pub use viewer::{AuthPayload, Viewer};

use async_graphql::ID;

/// GraphQL's `Int` is 32-bit; counters and limits are stored as 64-bit and saturate here.
pub(crate) fn graphql_int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

pub(crate) fn id(uuid: uuid::Uuid) -> ID {
    ID(uuid.to_string())
}

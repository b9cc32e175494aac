//! The closed sets of values stored as short strings.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A team member's role in a business; it decides the rights of the member's tokens.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[sea_orm(string_value = "owner")]
    Owner,
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "member")]
    Member,
    /// The business's SDK bot: records usage and nothing else.
    #[sea_orm(string_value = "sdk")]
    Sdk,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "lowercase")]
pub enum MemberStatus {
    #[sea_orm(string_value = "invited")]
    Invited,
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "deactivated")]
    Deactivated,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    #[sea_orm(string_value = "active")]
    Active,
    #[sea_orm(string_value = "past_due")]
    PastDue,
    #[sea_orm(string_value = "canceled")]
    Canceled,
    #[sea_orm(string_value = "expired")]
    Expired,
}

/// The unit of a plan's billing period.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(8))")]
#[serde(rename_all = "lowercase")]
pub enum PeriodUnit {
    #[sea_orm(string_value = "day")]
    Day,
    #[sea_orm(string_value = "week")]
    Week,
    #[sea_orm(string_value = "month")]
    Month,
    #[sea_orm(string_value = "year")]
    Year,
}

/// What a session row stands for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    #[sea_orm(string_value = "login")]
    Login,
    #[sea_orm(string_value = "api_key")]
    ApiKey,
    #[sea_orm(string_value = "impersonation")]
    Impersonation,
}

/// What a charge pays for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ChargePurpose {
    /// The next period of the plan (or of the plan scheduled for it).
    #[sea_orm(string_value = "renewal")]
    Renewal,
    /// The rest of the current period on a dearer plan: the prorated difference.
    #[sea_orm(string_value = "plan_change")]
    PlanChange,
    /// A new period from now, for a subscription that is not active.
    #[sea_orm(string_value = "restart")]
    Restart,
}

/// Where a charge stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
#[serde(rename_all = "snake_case")]
pub enum ChargeStatus {
    /// Claimed: the provider is being asked (or was, and the answer is not written yet).
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Approved, and what it paid for is done.
    #[sea_orm(string_value = "applied")]
    Applied,
    /// Declined: nothing was done.
    #[sea_orm(string_value = "declined")]
    Declined,
    /// Approved, but what it paid for could no longer be done (the subscription changed
    /// meanwhile): staff must refund it; it is in the business's audit log.
    #[sea_orm(string_value = "unapplied")]
    Unapplied,
}

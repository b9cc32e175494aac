use async_graphql::Enum;

/// A member's role in a business.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum Role {
    Owner,
    Admin,
    Member,
    /// The business's SDK key.
    Sdk,
}

impl From<entity::Role> for Role {
    fn from(role: entity::Role) -> Self {
        match role {
            entity::Role::Owner => Self::Owner,
            entity::Role::Admin => Self::Admin,
            entity::Role::Member => Self::Member,
            entity::Role::Sdk => Self::Sdk,
        }
    }
}

impl From<Role> for entity::Role {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => Self::Owner,
            Role::Admin => Self::Admin,
            Role::Member => Self::Member,
            Role::Sdk => Self::Sdk,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum MemberStatus {
    Invited,
    Active,
    Deactivated,
}

impl From<entity::MemberStatus> for MemberStatus {
    fn from(status: entity::MemberStatus) -> Self {
        match status {
            entity::MemberStatus::Invited => Self::Invited,
            entity::MemberStatus::Active => Self::Active,
            entity::MemberStatus::Deactivated => Self::Deactivated,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum SubscriptionStatus {
    Active,
    /// A renewal was declined; usage is refused until it is paid or the grace period ends.
    PastDue,
    Canceled,
    Expired,
}

impl From<entity::SubscriptionStatus> for SubscriptionStatus {
    fn from(status: entity::SubscriptionStatus) -> Self {
        match status {
            entity::SubscriptionStatus::Active => Self::Active,
            entity::SubscriptionStatus::PastDue => Self::PastDue,
            entity::SubscriptionStatus::Canceled => Self::Canceled,
            entity::SubscriptionStatus::Expired => Self::Expired,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
pub enum PeriodUnit {
    Day,
    Week,
    Month,
    Year,
}

impl From<entity::PeriodUnit> for PeriodUnit {
    fn from(unit: entity::PeriodUnit) -> Self {
        match unit {
            entity::PeriodUnit::Day => Self::Day,
            entity::PeriodUnit::Week => Self::Week,
            entity::PeriodUnit::Month => Self::Month,
            entity::PeriodUnit::Year => Self::Year,
        }
    }
}

impl From<PeriodUnit> for entity::PeriodUnit {
    fn from(unit: PeriodUnit) -> Self {
        match unit {
            PeriodUnit::Day => Self::Day,
            PeriodUnit::Week => Self::Week,
            PeriodUnit::Month => Self::Month,
            PeriodUnit::Year => Self::Year,
        }
    }
}

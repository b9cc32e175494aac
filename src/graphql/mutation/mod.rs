use async_graphql::MergedObject;

mod account;
mod business;
mod staff;
mod subscription;
mod team;
mod usage;

/// The mutation root, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    account::AccountMutation,
    business::BusinessMutation,
    team::TeamMutation,
    subscription::SubscriptionMutation,
    usage::UsageMutation,
    staff::StaffMutation,
);

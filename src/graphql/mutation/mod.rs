use async_graphql::MergedObject;

mod account;
mod business;
mod staff;
mod subscription;
mod usage;

/// The mutation root, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Mutation(
    account::AccountMutation,
    business::BusinessMutation,
    subscription::SubscriptionMutation,
    usage::UsageMutation,
    staff::StaffMutation,
);

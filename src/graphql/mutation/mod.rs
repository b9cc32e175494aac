use async_graphql::MergedObject;

mod billing;
mod identity;
mod plan_admin;
mod team;
mod usage;

/// The mutation root, merged from one object per domain (as `services/` is grouped).
#[derive(MergedObject, Default)]
pub struct Mutation(
    identity::IdentityMutation,
    team::TeamMutation,
    billing::BillingMutation,
    usage::UsageMutation,
    plan_admin::PlanAdminMutation,
);

use async_graphql::MergedObject;

mod billing;
mod identity;
mod team;

/// The query root, merged from one object per domain (as `services/` is grouped).
#[derive(MergedObject, Default)]
pub struct Query(
    billing::BillingQuery,
    identity::IdentityQuery,
    team::TeamQuery,
);

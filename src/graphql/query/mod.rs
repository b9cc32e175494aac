use async_graphql::MergedObject;

mod plans;

/// The query root, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Query(plans::PlansQuery);

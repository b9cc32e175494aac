use async_graphql::MergedObject;

mod plans;
mod staff;
mod viewer;

/// The query root, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Query(plans::PlansQuery, viewer::ViewerQuery, staff::StaffQuery);

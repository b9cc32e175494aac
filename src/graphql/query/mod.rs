use async_graphql::MergedObject;

mod plans;
mod staff;
mod team;
mod viewer;

/// The query root, merged from one object per area.
#[derive(MergedObject, Default)]
pub struct Query(
    plans::PlansQuery,
    viewer::ViewerQuery,
    team::TeamQuery,
    staff::StaffQuery,
);

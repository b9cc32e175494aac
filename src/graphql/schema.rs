//! The schema: its roots, its limits, and the data every resolver can reach.

use async_graphql::dataloader::DataLoader;
use async_graphql::{EmptyMutation, EmptySubscription, Schema, SchemaBuilder};

use super::loaders::PlanLimitsLoader;
use super::query::Query;
use crate::state::AppState;

pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// Deepest selection a query may nest.
const MAX_DEPTH: usize = 12;
/// Most fields (weighted by complexity) one query may select.
const MAX_COMPLEXITY: usize = 1_000;

fn builder() -> SchemaBuilder<Query, EmptyMutation, EmptySubscription> {
    Schema::build(Query::default(), EmptyMutation, EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(16)
}

/// The schema served over HTTP, with its data loaders.
pub fn build(state: AppState) -> AppSchema {
    let limits = DataLoader::new(PlanLimitsLoader::new(state.db.clone()), tokio::spawn);
    builder().data(limits).data(state).finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

//! The schema: its roots, its limits, and the data every resolver can reach.

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use super::mutation::Mutation;
use super::query::Query;
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Deepest selection a query may nest.
const MAX_DEPTH: usize = 12;
/// Most fields (weighted by complexity) one query may select.
const MAX_COMPLEXITY: usize = 1_000;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        .limit_depth(MAX_DEPTH)
        .limit_complexity(MAX_COMPLEXITY)
        .limit_recursive_depth(32)
        .limit_directives(16)
}

/// The schema served over HTTP, with its data loaders.
pub fn build(state: AppState) -> AppSchema {
    builder()
        .data(super::loaders::new(state.db.clone()))
        .data(state)
        .finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

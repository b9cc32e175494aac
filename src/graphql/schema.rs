//! The schema: its roots, its limits, and the data every resolver can reach.

use async_graphql::{EmptySubscription, Schema, SchemaBuilder};

use super::mutation::Mutation;
use super::query::Query;
use crate::state::AppState;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

fn builder() -> SchemaBuilder<Query, Mutation, EmptySubscription> {
    Schema::build(Query::default(), Mutation::default(), EmptySubscription)
        // Depth, size, aliases and directives are bounded before async-graphql sees a document
        // (`document::inspect`); its own depth and complexity visitors would re-expand every
        // fragment at every spread and refuse the standard introspection query.
        .limit_recursive_depth(64)
        .limit_directives(16)
}

/// The schema served over HTTP, with its data loaders and a span per root field. Production
/// names no fields a document did not ask for ("did you mean …"): the schema is for staff only
/// there.
pub fn build(state: AppState) -> AppSchema {
    let mut builder = builder()
        .extension(crate::telemetry::spans::RootFieldSpans)
        .data(super::loaders::new(state.db.clone()));
    if state.settings.is_production() {
        builder = builder.disable_suggestions();
    }
    builder.data(state).finish()
}

/// The SDL of the schema, as committed in `schema.graphql`.
pub fn sdl() -> String {
    builder().finish().sdl()
}

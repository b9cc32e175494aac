//! The GraphQL API: thin resolvers that turn input into a service call.

mod loaders;
mod query;
mod schema;
mod types;

pub use schema::{AppSchema, build, sdl};

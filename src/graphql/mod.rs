//! The GraphQL API: thin resolvers that turn input into a service call.

pub mod context;
mod guards;
mod loaders;
mod mutation;
pub mod operations;
mod pagination;
mod query;
mod schema;
mod types;

pub use schema::{AppSchema, build, sdl};

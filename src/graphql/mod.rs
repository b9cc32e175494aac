//! The GraphQL API: thin resolvers that turn input into a service call.

pub mod context;
pub mod document;
mod guards;
mod loaders;
mod mutation;
mod pagination;
mod query;
mod schema;
mod types;

pub use schema::{AppSchema, build, sdl};

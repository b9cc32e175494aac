//! saaskit: businesses, members and roles, plans with limits, subscriptions, metered usage,
//! SDK keys, staff support and invitations, as one GraphQL API.

pub mod auth;
pub mod cli;
pub mod client_addr;
pub mod clock;
pub mod config;
pub mod cors;
pub mod db;
pub mod error;
mod graphiql;
pub mod graphql;
mod http;
pub mod jobs;
pub mod mail;
pub mod services;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use error::AppError;

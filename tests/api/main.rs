//! Integration tests: one binary, each test against its own server and database.

mod helpers;

mod accounts;
mod authorization;
mod billing_cycle;
mod cli;
mod cors;
mod errors;
mod graphiql;
mod health;
mod mail;
mod migrations;
mod operations;
mod plans;
mod schema;
mod security;
mod staff;
mod team;
mod tokens;
mod usage;
mod usage_batch;

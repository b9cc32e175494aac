//! Tokens and who may do what. Every token is a Biscuit signed by the root key.

pub mod keys;

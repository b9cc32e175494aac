//! Tokens and who may do what. Every token is a Biscuit signed by the root key.

pub mod attenuation;
pub mod authenticate;
pub mod cache;
pub mod keys;
pub mod password;
pub mod principal;
pub mod rights;
pub mod token;

pub use principal::{Access, Caller, Grant, Principal};
pub use rights::{Right, RightSet};

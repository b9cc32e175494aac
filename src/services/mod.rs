//! The business rules. Services know nothing of GraphQL: they take a connection (the pool or a
//! transaction), typed input, and return models or an [`AppError`](crate::AppError).

pub mod accounts;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod businesses;
pub mod cycle;
pub mod impersonation;
pub mod lookup;
pub mod one_time_keys;
pub mod outbox;
pub mod password_reset;
pub mod periods;
pub mod plan_admin;
pub mod plans;
pub mod sessions;
pub mod staff;
pub mod subscription;
pub mod team;
pub mod throttle;
pub mod usage;
pub mod validate;

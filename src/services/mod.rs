//! The business rules. Services know nothing of GraphQL: they take a connection (the pool or a
//! transaction), typed input, and return models or an [`AppError`](crate::AppError).

pub mod plans;

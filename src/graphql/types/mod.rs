//! The GraphQL object types, each wrapping what a service returns.

mod plan;

pub use plan::Plan;

/// GraphQL's `Int` is 32-bit; counters and limits are stored as 64-bit and saturate here.
pub(crate) fn graphql_int(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(if value < 0 { i32::MIN } else { i32::MAX })
}

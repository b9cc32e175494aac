//! `recordUsage`'s one rule: when a call counts, and if not, why.
//!
//! [`judge`] is the rule as Rust. The same rule is written twice more as SQL, beside this
//! file: `rule_as_update.rs` (one call's conditional `UPDATE`) and
//! `rule_as_batch_statement.rs` (a whole batch as one PostgreSQL statement). A property test
//! (`tests/api/security/usage.rs`) holds the update to this rule, and
//! `tests/api/usage_batch/equivalence.rs` holds the batches to calls made one by one.

use crate::error::AppError;

/// What a metric's counter is judged against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// The subscription is `active`.
    pub active: bool,
    /// The plan's limit; `None` is unlimited.
    pub max: Option<i64>,
    pub resets_each_period: bool,
    /// The counter before the call.
    pub used: i64,
}

/// Why a call counts nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Inactive,
    /// A resetting metric only grows within its period.
    Shrinks,
    BelowZero,
    OverLimit,
}

/// Whether adding `quantity` to a counter that stands at `standing` counts. Limits apply to
/// increases only: a decrement is refused only below zero, so a counter left above a lowered
/// limit (a plan change) can come back down. An unlimited metric is still bounded by what a
/// counter holds (`i64::MAX`).
///
/// # Errors
/// The first [`Refusal`] that applies, in the order listed there.
pub fn judge(standing: Standing, quantity: i64) -> Result<(), Refusal> {
    let after = i128::from(standing.used) + i128::from(quantity);
    if !standing.active {
        Err(Refusal::Inactive)
    } else if quantity < 0 && standing.resets_each_period {
        Err(Refusal::Shrinks)
    } else if after < 0 {
        Err(Refusal::BelowZero)
    } else if quantity > 0 && after > i128::from(standing.max.unwrap_or(i64::MAX)) {
        Err(Refusal::OverLimit)
    } else {
        Ok(())
    }
}

impl Refusal {
    /// The error a client is told.
    pub fn into_error(self, metric: &str, standing: Standing) -> AppError {
        match self {
            Refusal::Inactive => AppError::SubscriptionInactive,
            Refusal::Shrinks => {
                AppError::bad_input("quantity", format!("{metric} only grows within a period"))
            }
            Refusal::BelowZero => {
                AppError::bad_input("quantity", format!("{metric} cannot go below zero"))
            }
            Refusal::OverLimit => AppError::QuotaExceeded {
                metric: metric.to_owned(),
                limit: standing.max.unwrap_or(i64::MAX),
                used: standing.used,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(used: i64, max: Option<i64>) -> Standing {
        Standing {
            active: true,
            max,
            resets_each_period: false,
            used,
        }
    }

    #[test]
    fn a_decrement_is_refused_only_below_zero() {
        assert_eq!(judge(at(5, Some(1)), -1), Ok(()));
        assert_eq!(judge(at(5, Some(1)), -6), Err(Refusal::BelowZero));
        assert_eq!(judge(at(5, Some(1)), 1), Err(Refusal::OverLimit));
        assert_eq!(judge(at(0, Some(1)), 1), Ok(()));
    }
}

//! Billing periods: `count` × day, week, month or year, counted from an anchor.
//!
//! Period k is `[boundary(k), boundary(k + 1))` and `boundary(k)` is always computed from the
//! anchor, never from the previous boundary: a subscription anchored on Jan 31 has boundaries
//! Feb 28 (29 in a leap year), Mar 31, Apr 30, … and never drifts to the 28th.

use chrono::{DateTime, Datelike, Months, TimeDelta, Utc};
use entity::PeriodUnit;

/// A plan's billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    pub count: u32,
    pub unit: PeriodUnit,
}

impl Cadence {
    /// The plan's stored period; a count below 1 (never written by saaskit) counts as 1.
    pub fn of(count: i32, unit: PeriodUnit) -> Self {
        Cadence {
            count: u32::try_from(count).unwrap_or(1).max(1),
            unit,
        }
    }

    /// The start of period `k` (period 0 starts at the anchor); `None` past the calendar's end.
    pub fn boundary(self, anchor: DateTime<Utc>, k: u32) -> Option<DateTime<Utc>> {
        let n = k.checked_mul(self.count)?;
        match self.unit {
            PeriodUnit::Day => anchor.checked_add_signed(TimeDelta::try_days(n.into())?),
            PeriodUnit::Week => anchor.checked_add_signed(TimeDelta::try_weeks(n.into())?),
            PeriodUnit::Month => anchor.checked_add_months(Months::new(n)),
            PeriodUnit::Year => anchor.checked_add_months(Months::new(n.checked_mul(12)?)),
        }
    }

    /// The period that contains `at`: the first one when `at` is before the anchor. `None`
    /// when its end lies past the calendar's end.
    pub fn containing(self, anchor: DateTime<Utc>, at: DateTime<Utc>) -> Option<Period> {
        let mut k = if at <= anchor {
            0
        } else {
            self.estimate(anchor, at)
        };
        // The estimate is within a step or two of the answer; walk to it.
        while k > 0 && self.boundary(anchor, k)? > at {
            k -= 1;
        }
        while self.boundary(anchor, k.checked_add(1)?)? <= at {
            k = k.checked_add(1)?;
        }
        Some(Period {
            index: k,
            start: self.boundary(anchor, k)?,
            end: self.boundary(anchor, k.checked_add(1)?)?,
        })
    }

    /// Roughly how many whole periods lie between `anchor` and a later `at`.
    fn estimate(self, anchor: DateTime<Utc>, at: DateTime<Utc>) -> u32 {
        let whole = |units: i64, per_period: i64| {
            u32::try_from(units / per_period.max(1)).unwrap_or(u32::MAX - 1)
        };
        let count = i64::from(self.count);
        match self.unit {
            PeriodUnit::Day => whole((at - anchor).num_days(), count),
            PeriodUnit::Week => whole((at - anchor).num_weeks(), count),
            PeriodUnit::Month | PeriodUnit::Year => {
                let months = i64::from(at.year() - anchor.year()) * 12 + i64::from(at.month())
                    - i64::from(anchor.month());
                let per = if self.unit == PeriodUnit::Year { 12 } else { 1 };
                whole(months.max(0), count * per)
            }
        }
    }
}

/// One billing period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// How many periods after the anchor it starts.
    pub index: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

#[cfg(test)]
#[path = "periods_tests.rs"]
mod tests;

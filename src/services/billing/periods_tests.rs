use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use proptest::prelude::*;

use super::*;

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 30, 0)
        .single()
        .expect("a date")
}

const MONTHLY: Cadence = Cadence {
    count: 1,
    unit: PeriodUnit::Month,
};

#[test]
fn a_month_anchored_on_the_31st_ends_on_each_months_last_day() {
    let anchor = at(2027, 1, 31);
    let ends: Vec<_> = (1..=4)
        .map(|k| MONTHLY.boundary(anchor, k).expect("in range"))
        .collect();
    assert_eq!(
        ends,
        [
            at(2027, 2, 28),
            at(2027, 3, 31),
            at(2027, 4, 30),
            at(2027, 5, 31)
        ]
    );
}

#[test]
fn february_has_29_days_in_a_leap_year_only() {
    assert_eq!(MONTHLY.boundary(at(2028, 1, 31), 1), Some(at(2028, 2, 29)));
    assert_eq!(MONTHLY.boundary(at(2100, 1, 31), 1), Some(at(2100, 2, 28)));
    assert_eq!(MONTHLY.boundary(at(2000, 1, 30), 1), Some(at(2000, 2, 29)));
    let yearly = Cadence {
        count: 1,
        unit: PeriodUnit::Year,
    };
    let leap_day = at(2028, 2, 29);
    assert_eq!(yearly.boundary(leap_day, 1), Some(at(2029, 2, 28)));
    assert_eq!(yearly.boundary(leap_day, 4), Some(at(2032, 2, 29)));
}

#[test]
fn weeks_and_days_are_fixed_lengths() {
    let two_weeks = Cadence {
        count: 2,
        unit: PeriodUnit::Week,
    };
    assert_eq!(
        two_weeks.boundary(at(2027, 1, 31), 3),
        Some(at(2027, 3, 14))
    );
    let ten_days = Cadence {
        count: 10,
        unit: PeriodUnit::Day,
    };
    assert_eq!(ten_days.boundary(at(2027, 1, 31), 1), Some(at(2027, 2, 10)));
}

#[test]
fn the_period_containing_a_late_instant_is_found_in_one_step() {
    let anchor = at(2027, 1, 31);
    let period = MONTHLY
        .containing(anchor, at(2027, 7, 15))
        .expect("in range");
    assert_eq!(period.index, 5);
    assert_eq!(
        (period.start, period.end),
        (at(2027, 6, 30), at(2027, 7, 31))
    );
    // A boundary belongs to the period it starts.
    let period = MONTHLY
        .containing(anchor, at(2027, 3, 31))
        .expect("in range");
    assert_eq!((period.index, period.start), (2, at(2027, 3, 31)));
    // Before the anchor: the first period.
    assert_eq!(
        MONTHLY.containing(anchor, at(2026, 1, 1)).map(|p| p.index),
        Some(0)
    );
}

#[test]
fn the_end_of_the_calendar_is_none_not_a_panic() {
    let far = DateTime::<Utc>::MAX_UTC - TimeDelta::days(10);
    assert_eq!(MONTHLY.boundary(far, 1), None);
    assert_eq!(MONTHLY.containing(far, DateTime::<Utc>::MAX_UTC), None);
    let huge = Cadence {
        count: u32::MAX,
        unit: PeriodUnit::Year,
    };
    assert_eq!(huge.boundary(at(2027, 1, 1), 2), None);
}

fn cadence() -> impl Strategy<Value = Cadence> {
    let unit = prop_oneof![
        Just(PeriodUnit::Day),
        Just(PeriodUnit::Week),
        Just(PeriodUnit::Month),
        Just(PeriodUnit::Year),
    ];
    (1u32..=6, unit).prop_map(|(count, unit)| Cadence { count, unit })
}

fn anchor() -> impl Strategy<Value = DateTime<Utc>> {
    // 2000-01-01 .. 2060-01-01, to the second.
    (946_684_800i64..2_840_140_800)
        .prop_map(|secs| DateTime::<Utc>::from_timestamp(secs, 0).expect("in range"))
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    next.and_then(|d| d.pred_opt()).map_or(31, |d| d.day())
}

proptest! {
    /// Over ten years, periods are contiguous and strictly increasing, calendar periods end on
    /// the anchor's day (or the month's last day when it has fewer) at the anchor's time, and
    /// `containing` finds for any instant the very period that stepping reaches.
    #[test]
    fn periods_are_contiguous_increasing_and_never_drift(
        cadence in cadence(),
        anchor in anchor(),
        probe in 0i64..(10 * 366 * 86_400),
    ) {
        let ten_years = anchor + TimeDelta::days(3653);
        let mut k = 0u32;
        let mut start = cadence.boundary(anchor, 0).expect("period 0");
        prop_assert_eq!(start, anchor);
        while start < ten_years {
            let end = cadence.boundary(anchor, k + 1).expect("in range");
            prop_assert!(end > start, "period {} is empty", k);
            if matches!(cadence.unit, PeriodUnit::Month | PeriodUnit::Year) {
                let day = anchor.day().min(days_in_month(end.year(), end.month()));
                prop_assert_eq!(end.day(), day, "period {} ends off the anchor day", k);
                prop_assert_eq!(end.time(), anchor.time());
                prop_assert_eq!(end.second(), anchor.second());
            }
            let found = cadence.containing(anchor, start).expect("in range");
            prop_assert_eq!(found, Period { index: k, start, end });
            start = end;
            k += 1;
        }
        let instant = anchor + TimeDelta::seconds(probe);
        let found = cadence.containing(anchor, instant).expect("in range");
        prop_assert!(found.start <= instant && instant < found.end);
        prop_assert_eq!(cadence.boundary(anchor, found.index), Some(found.start));
    }
}

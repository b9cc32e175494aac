//! Rates kept in this node's memory and counted with `governor` (token buckets): the
//! per-address rate of `login`, `signup`, `requestPasswordReset` and invitation previews
//! ([`AddressRate`]), and the per-key rate of `recordUsage` ([`KeyRate`]). They protect this
//! node's resources, so each node counts for itself.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::client_addr::ClientAddr;
use crate::clock::SharedClock;
use crate::error::AppError;

/// Forget idle keys once every this many checks, so the map does not grow without bound: what
/// stays is the keys whose bucket is not yet full again.
const SWEEP_EVERY: u32 = 4096;

/// saaskit's [`Clock`](crate::clock::Clock) as governor's clock: time since the Unix epoch, so
/// tests that move a `ManualClock` move the limiter too.
#[derive(Debug, Clone)]
struct AppClock(SharedClock);

impl GovernorClock for AppClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0
            .now()
            .signed_duration_since(chrono::DateTime::UNIX_EPOCH)
            .to_std()
            .unwrap_or_default()
    }
}

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, AppClock, NoOpMiddleware<Duration>>;

/// A token bucket per key.
#[derive(Debug)]
pub struct KeyedRate<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    clock: AppClock,
    checks: AtomicU32,
}

/// Up to `per_minute` attempts per client address at once, then one more every
/// `60 s / per_minute`.
pub type AddressRate = KeyedRate<ClientAddr>;

/// `recordUsage` calls per SDK key (per session: attenuated copies of a key share its
/// bucket).
pub type KeyRate = KeyedRate<uuid::Uuid>;

impl<K: Hash + Eq + Clone> KeyedRate<K> {
    /// `per_minute` at once, then one more every `60 s / per_minute`.
    pub fn per_minute(per_minute: NonZeroU32, clock: SharedClock) -> Self {
        Self::with_quota(Quota::per_minute(per_minute), clock)
    }

    /// `burst` at once, then `per_second` each second.
    pub fn per_second(per_second: NonZeroU32, burst: NonZeroU32, clock: SharedClock) -> Self {
        Self::with_quota(Quota::per_second(per_second).allow_burst(burst), clock)
    }

    fn with_quota(quota: Quota, clock: SharedClock) -> Self {
        let clock = AppClock(clock);
        KeyedRate {
            limiter: RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone()),
            clock,
            checks: AtomicU32::new(0),
        }
    }

    /// Counts one call for `key`.
    ///
    /// # Errors
    /// `RATE_LIMITED` with the whole seconds until the next call is allowed (at least 1).
    pub fn check(&self, key: &K) -> Result<(), AppError> {
        self.check_n(key, NonZeroU32::MIN)
    }

    /// Counts `n` calls for `key` at once (all or none), e.g. the events of one batch.
    ///
    /// # Errors
    /// `RATE_LIMITED` with the whole seconds until `n` calls are allowed (at least 1). `n`
    /// beyond the burst can never be allowed, however long the caller waits: that is
    /// `BAD_USER_INPUT` on `inputs` (the events of one batch) naming the most that fit, with
    /// no `retryAfter` to promise otherwise.
    pub fn check_n(&self, key: &K, n: NonZeroU32) -> Result<(), AppError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        match self.limiter.check_key_n(key, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(AppError::RateLimited {
                retry_after_secs: whole_seconds(not_until.wait_time_from(self.clock.now())),
            }),
            Err(governor::InsufficientCapacity(most)) => Err(AppError::bad_input(
                "inputs",
                format!(
                    "{n} events at once are more than this key may ever send at once ({most}); \
                     send at most {most} per call"
                ),
            )),
        }
    }

    /// Keys held in memory now (for tests of the bound).
    pub fn keys_held(&self) -> usize {
        self.limiter.len()
    }
}

/// `wait` rounded up to whole seconds, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;

    fn rate(per_second: u32, burst: u32) -> (KeyRate, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::starting_at(chrono::Utc::now()));
        let n = |n| NonZeroU32::new(n).expect("non-zero");
        let rate = KeyRate::per_second(n(per_second), n(burst), clock.clone());
        (rate, clock)
    }

    #[test]
    fn a_burst_then_the_rate_then_a_refusal_with_retry_after() {
        let (rate, clock) = rate(2, 3);
        let key = uuid::Uuid::now_v7();
        for _ in 0..3 {
            rate.check(&key).expect("within the burst");
        }
        match rate.check(&key) {
            Err(AppError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected RATE_LIMITED, got {other:?}"),
        }
        clock.advance(chrono::TimeDelta::milliseconds(500));
        rate.check(&key).expect("one more after half a second");
        assert!(rate.check(&key).is_err());
    }

    #[test]
    fn a_batch_larger_than_the_burst_is_told_it_never_fits_not_to_retry() {
        let (rate, clock) = rate(10, 5);
        let key = uuid::Uuid::now_v7();
        let n = |n| NonZeroU32::new(n).expect("non-zero");
        for _ in 0..2 {
            match rate.check_n(&key, n(6)) {
                Err(AppError::BadInput { field, message }) => {
                    assert_eq!(field, "inputs");
                    assert!(message.contains("at most 5"), "{message}");
                }
                other => panic!("expected BAD_USER_INPUT, got {other:?}"),
            }
            // Waiting changes nothing: it can never fit.
            clock.advance(chrono::TimeDelta::hours(1));
        }
        rate.check_n(&key, n(5)).expect("the whole burst fits");
        assert!(matches!(
            rate.check_n(&key, n(5)),
            Err(AppError::RateLimited { .. })
        ));
    }

    #[test]
    fn idle_keys_are_forgotten_so_memory_stays_bounded() {
        let (rate, clock) = rate(1_000, 1);
        for _ in 0..SWEEP_EVERY {
            rate.check(&uuid::Uuid::now_v7()).expect("a fresh key");
        }
        assert!(rate.keys_held() >= (SWEEP_EVERY - 1) as usize);
        // Every bucket is full again a moment later: the next sweep drops them all.
        clock.advance(chrono::TimeDelta::seconds(1));
        let key = uuid::Uuid::now_v7();
        for _ in 0..SWEEP_EVERY {
            let _ = rate.check(&key);
        }
        assert!(rate.keys_held() <= 1, "held {}", rate.keys_held());
    }
}

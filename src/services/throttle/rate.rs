//! The per-address rate of `login` and `signup` attempts, whatever the e-mail: kept in this
//! node's memory (it protects this node's password-hashing permits), counted with `governor`.

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

/// Forget idle addresses once every this many checks, so the map does not grow without bound.
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

type Keyed =
    RateLimiter<ClientAddr, DefaultKeyedStateStore<ClientAddr>, AppClock, NoOpMiddleware<Duration>>;

/// Up to `per_minute` attempts per client address at once, then one more every
/// `60 s / per_minute` (a token bucket).
#[derive(Debug)]
pub struct AddressRate {
    limiter: Keyed,
    clock: AppClock,
    checks: AtomicU32,
}

impl AddressRate {
    pub fn per_minute(per_minute: NonZeroU32, clock: SharedClock) -> Self {
        let clock = AppClock(clock);
        AddressRate {
            limiter: RateLimiter::new(
                Quota::per_minute(per_minute),
                DefaultKeyedStateStore::default(),
                clock.clone(),
            ),
            clock,
            checks: AtomicU32::new(0),
        }
    }

    /// Counts one attempt from `addr`.
    ///
    /// # Errors
    /// `RATE_LIMITED` with the whole seconds until the next attempt is allowed (at least 1).
    pub fn check(&self, addr: &ClientAddr) -> Result<(), AppError> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(addr).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            AppError::RateLimited {
                retry_after_secs: whole_seconds(wait),
            }
        })
    }
}

/// `wait` rounded up to whole seconds, at least 1.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

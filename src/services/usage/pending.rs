//! A request's deadline (`SAASKIT_REQUEST_TIMEOUT`) and the usage calls it has queued: what a
//! caller may rely on when time runs out.
//!
//! A queued call is either taken into a batch by its writer or withdrawn by its caller —
//! whichever comes first, decided by one compare-and-swap, so never both. A withdrawn call is
//! never written: the writer skips it. A call in a batch is never withdrawn: its batch commits
//! it or not, and answers. So when a request's time runs out, [`Pending::expire`] withdraws
//! what is still queued (it counts nothing, and `TIMEOUT` is the truth) and tells whether a
//! call had already entered a batch; that request waits for the batch and gets its answer. A
//! batch is bounded — at most [`super::MAX_BATCH`] events, one transaction (or one statement),
//! written again only in parts when it fails — so the wait is short; the HTTP layer still
//! bounds it, and past that bound answers `TIMEOUT`, whose message says to repeat the write
//! with its idempotency key. Without a key, a retry after a `TIMEOUT` can count twice only in
//! that case.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::error::AppError;

const QUEUED: u8 = 0;
const IN_BATCH: u8 = 1;
const WITHDRAWN: u8 = 2;

/// Where one queued call stands.
#[derive(Debug, Default)]
pub(super) struct Stand(AtomicU8);

impl Stand {
    /// The writer's side: `true` when the call is now in its batch, `false` when its caller
    /// withdrew it first.
    pub(super) fn take(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, IN_BATCH, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller's side: `true` when the call is withdrawn (now or before), `false` when it
    /// is in a batch already.
    pub(super) fn withdraw(&self) -> bool {
        match self
            .0
            .compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(now) => now == WITHDRAWN,
        }
    }

    pub(super) fn withdrawn(&self) -> bool {
        self.0.load(Ordering::Acquire) == WITHDRAWN
    }
}

/// The usage calls of one request, for its deadline.
#[derive(Debug)]
pub struct Pending {
    after: Duration,
    calls: Mutex<Calls>,
}

#[derive(Debug, Default)]
struct Calls {
    expired: bool,
    stands: Vec<Arc<Stand>>,
}

impl Pending {
    /// A request that times out `after` this long.
    pub fn new(after: Duration) -> Pending {
        Pending {
            after,
            calls: Mutex::default(),
        }
    }

    /// Counts `stand` among the request's calls.
    ///
    /// # Errors
    /// `TIMEOUT` once the request has expired: the call is not queued.
    pub(super) fn enter(&self, stand: &Arc<Stand>) -> Result<(), AppError> {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        if calls.expired {
            return Err(self.timed_out());
        }
        calls.stands.push(stand.clone());
        Ok(())
    }

    /// The request's time has run out: every call still queued is withdrawn (it will count
    /// nothing and answer `TIMEOUT`), later calls are refused with `TIMEOUT`, and the answer
    /// is whether a call had entered a batch — whose answer the request should then wait for.
    pub fn expire(&self) -> bool {
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        calls.expired = true;
        let mut in_batch = false;
        for stand in &calls.stands {
            in_batch |= !stand.withdraw();
        }
        in_batch
    }

    pub(super) fn timed_out(&self) -> AppError {
        AppError::TimedOut { after: self.after }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_taken_or_withdrawn_never_both() {
        let taken = Stand::default();
        assert!(taken.take());
        assert!(!taken.withdraw(), "in a batch: not withdrawn");
        let withdrawn = Stand::default();
        assert!(withdrawn.withdraw());
        assert!(!withdrawn.take(), "withdrawn: the writer skips it");
        assert!(withdrawn.withdraw() && withdrawn.withdrawn());
    }

    #[test]
    fn an_expired_request_waits_only_for_calls_in_a_batch_and_queues_no_more() {
        let pending = Pending::new(Duration::from_secs(1));
        let (queued, in_batch) = (Arc::new(Stand::default()), Arc::new(Stand::default()));
        pending.enter(&queued).expect("queued");
        assert!(!pending.expire(), "nothing in a batch yet");
        assert!(queued.withdrawn() && !queued.take());
        let pending = Pending::new(Duration::from_secs(1));
        pending.enter(&in_batch).expect("queued");
        assert!(in_batch.take());
        assert!(pending.expire(), "its answer is coming");
        let late = Arc::new(Stand::default());
        assert_eq!(pending.enter(&late).expect_err("expired").code(), "TIMEOUT");
    }
}

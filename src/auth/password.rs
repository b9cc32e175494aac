//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool and bounded, so a login storm can neither starve the async executor nor take
//! all the memory: at most half the cores hash at once, and they reuse a few 19 MiB work areas
//! instead of allocating (and the allocator keeping) one per hash.
//!
//! Password work is scarce, and handed out fairly:
//! - every hash or check needs a [`Ticket`], and one HTTP request gets one ticket (its
//!   [`Budget`], shared by the operations of a batch), so neither aliases nor batches multiply
//!   the work one request asks for: a second field that needs a password in the same request
//!   is `RATE_LIMITED`;
//! - the queue for the hashing permits is bounded: at most [`WAITERS_PER_PERMIT`] callers per
//!   permit wait; beyond that a caller is `RATE_LIMITED` at once (with `retryAfter`) instead
//!   of making everyone behind it wait longer.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::AppError;

pub const MIN_LEN: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// At most this many hashes run at once: half the cores, so a login storm leaves the other
/// half to everything else (and each hash holds 19 MiB).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(permits()));

/// How many callers may wait per hashing permit. A hash takes some 20–40 ms on a release
/// build, so the last of them waits well under a second.
pub const WAITERS_PER_PERMIT: usize = 16;

/// Callers waiting for a hashing permit now.
static WAITING: AtomicUsize = AtomicUsize::new(0);

fn permits() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    (cores / 2).max(1)
}

/// The password work one HTTP request may do: one [`Ticket`], whichever operation of a batch
/// (or alias of a field) asks first. Clones share the one ticket.
#[derive(Debug, Clone, Default)]
pub struct Budget(Arc<AtomicBool>);

/// Leave to hash or check passwords for one field: a check of the current password and the
/// hash of the new one it leads to, say.
#[derive(Debug)]
pub struct Ticket(());

/// The root fields that take a request's ticket (each of them takes it in its service; this
/// list only lets a batch's later operations be refused before they run).
pub const FIELDS: [&str; 5] = [
    "login",
    "signup",
    "changePassword",
    "acceptInvitation",
    "resetPassword",
];

impl Budget {
    /// Whether an operation with these root fields is refused whole before it runs: the ticket
    /// is spent and one of them would need it. (Each such field would be refused anyway; a
    /// flood of batched operations then costs one error per operation, not one per field.)
    pub fn spent_for<'a>(&self, root_fields: impl IntoIterator<Item = &'a str>) -> bool {
        self.0.load(Ordering::Acquire) && root_fields.into_iter().any(|f| FIELDS.contains(&f))
    }

    /// A fresh budget: one ticket.
    pub fn new() -> Self {
        Budget::default()
    }

    /// The budget's ticket, the first time only.
    ///
    /// # Errors
    /// `RATE_LIMITED` (`retryAfter` 1) when this request already spent it.
    pub fn take(&self) -> Result<Ticket, AppError> {
        if self.0.swap(true, Ordering::AcqRel) {
            tracing::info!("password work refused: one password check per request");
            return Err(AppError::RateLimited {
                retry_after_secs: 1,
            });
        }
        Ok(Ticket(()))
    }
}

/// Counts a caller waiting for a permit while it lives.
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A hashing permit: at once when one is free; after a wait when fewer than
/// [`WAITERS_PER_PERMIT`] per permit are already waiting; else a refusal.
async fn permit() -> Result<SemaphorePermit<'static>, AppError> {
    if let Ok(permit) = HASHING.try_acquire() {
        return Ok(permit);
    }
    let waiting = Waiting;
    if WAITING.fetch_add(1, Ordering::AcqRel) >= permits() * WAITERS_PER_PERMIT {
        drop(waiting);
        tracing::warn!("password work refused: the hashing queue is full");
        return Err(AppError::RateLimited {
            retry_after_secs: 1,
        });
    }
    let permit = HASHING.acquire().await.map_err(anyhow::Error::from)?;
    drop(waiting);
    Ok(permit)
}

/// A hash of a random password, verified against when the account does not exist, so that
/// an unknown e-mail costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    hash_blocking(&hex::encode(secret)).unwrap_or_default()
});

/// Work areas kept between hashes; never more than there are permits.
static WORK_AREAS: Mutex<Vec<Vec<Block>>> = Mutex::new(Vec::new());

fn params() -> Params {
    // OWASP's parameters are valid by construction.
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// Runs argon2 into `out` with a pooled work area.
fn hash_into(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = argon2.params().block_count();
    let taken = WORK_AREAS.lock().ok().and_then(|mut pool| pool.pop());
    let mut area = taken
        .filter(|area| area.len() == blocks)
        .unwrap_or_else(|| vec![Block::default(); blocks]);
    let result = argon2.hash_password_into_with_memory(password, salt, out, &mut area);
    if let Ok(mut pool) = WORK_AREAS.lock() {
        pool.push(area);
    }
    result
}

/// Checks a new password's length: 8 characters to 1,024 bytes.
///
/// # Errors
/// `BAD_USER_INPUT` naming `field`.
pub fn validate(password: &SecretString, field: &str) -> Result<(), AppError> {
    let password = password.expose_secret();
    if password.chars().count() < MIN_LEN {
        return Err(AppError::bad_input(
            field,
            format!("the password must have at least {MIN_LEN} characters"),
        ));
    }
    if password.len() > MAX_BYTES {
        return Err(AppError::bad_input(
            field,
            format!("the password must have at most {MAX_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// The argon2id PHC string of `password`.
///
/// # Errors
/// `RATE_LIMITED` when the hashing queue is full; internal when the blocking pool is gone or
/// the hasher failed.
pub async fn hash(_ticket: &Ticket, password: SecretString) -> Result<String, AppError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
        .await
        .map_err(anyhow::Error::from)?
}

/// Whether `password` matches `hash`. With no hash (unknown account, or no password set yet)
/// the work is done against a dummy hash and the answer is `false`.
///
/// # Errors
/// `RATE_LIMITED` when the hashing queue is full; internal when the blocking pool is gone.
pub async fn verify(
    _ticket: &Ticket,
    password: SecretString,
    hash: Option<String>,
) -> Result<bool, AppError> {
    let _permit = permit().await?;
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let matches = verify_blocking(password.expose_secret().as_bytes(), &hash);
        known && matches
    })
    .await
    .map_err(|err| AppError::Internal(err.into()))
}

/// Computes the dummy hash now rather than on the first login.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

fn hash_blocking(password: &str) -> Result<String, AppError> {
    let internal =
        |err: &dyn std::fmt::Display| AppError::Internal(anyhow::anyhow!("argon2: {err}"));
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| internal(&e))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    hash_into(&argon2, password.as_bytes(), salt_bytes, &mut out).map_err(|e| internal(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| internal(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| internal(&e))?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against a PHC string, with the parameters the string names.
fn verify_blocking(password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (hash.hash, hash.salt) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else {
        return false;
    };
    let version = hash
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or_default();
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if hash_into(&argon2, password, salt_bytes, &mut out).is_err() {
        return false;
    }
    // Output's equality is constant-time.
    Output::new(&out).is_ok_and(|actual| actual == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket() -> Ticket {
        Budget::new().take().expect("a fresh budget has a ticket")
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let t = ticket();
        let hash = hash(&t, "correct horse".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify(&t, "correct horse".into(), Some(hash.clone()))
                .await
                .expect("verifies")
        );
        assert!(
            !verify(&t, "wrong horse".into(), Some(hash))
                .await
                .expect("verifies")
        );
        assert!(!verify(&t, "anything".into(), None).await.expect("verifies"));
    }

    #[test]
    fn a_budget_and_its_clones_hand_out_one_ticket() {
        let budget = Budget::new();
        let shared = budget.clone();
        assert!(shared.take().is_ok());
        for _ in 0..3 {
            assert!(matches!(
                budget.take(),
                Err(AppError::RateLimited {
                    retry_after_secs: 1
                })
            ));
        }
        assert!(Budget::new().take().is_ok(), "another request has its own");
    }

    #[test]
    fn once_spent_only_operations_needing_a_password_are_refused_whole() {
        let budget = Budget::new();
        assert!(!budget.spent_for(["changePassword"]), "not spent yet");
        let _ticket = budget.take().expect("the ticket");
        assert!(budget.spent_for(["me", "changePassword"]));
        assert!(budget.spent_for(["login"]));
        assert!(!budget.spent_for(["me", "business"]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_bounded_queue_callers_are_refused_at_once_not_queued() {
        let callers = permits() * (WAITERS_PER_PERMIT + 1) + 8;
        let runs = (0..callers).map(|_| {
            tokio::spawn(async {
                let at = std::time::Instant::now();
                let result = hash(&ticket(), "correct horse".into()).await;
                (result.is_ok(), at.elapsed())
            })
        });
        let mut refused = Vec::new();
        let mut hashed = Vec::new();
        for run in futures::future::join_all(runs).await {
            let (ok, took) = run.expect("joins");
            if ok {
                hashed.push(took)
            } else {
                refused.push(took)
            }
        }
        assert!(hashed.len() >= permits(), "the permits' holders hash");
        assert!(
            refused.len() >= 8,
            "at least the callers past the queue are refused, got {}",
            refused.len()
        );
        // A refusal waits for no hash: each came back sooner than the quickest hash.
        let quickest = hashed.iter().min().copied().unwrap_or_default();
        assert!(
            refused.iter().all(|took| *took < quickest),
            "refusals {refused:?}, quickest hash {quickest:?}"
        );
    }
}

//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool and bounded, so a login storm can neither starve the async executor nor take
//! all the memory: at most half the cores hash at once, and they reuse a few 19 MiB work areas
//! instead of allocating (and the allocator keeping) one per hash.

use std::sync::{LazyLock, Mutex};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::error::AppError;

pub const MIN_LEN: usize = 8;
pub const MAX_BYTES: usize = 1024;

/// At most this many hashes run at once: half the cores, so a login storm leaves the other
/// half to everything else (and each hash holds 19 MiB).
static HASHING: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    Semaphore::new((cores / 2).max(1))
});

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
/// Internal only: the blocking pool is gone or the hasher failed.
pub async fn hash(password: SecretString) -> Result<String, AppError> {
    let _permit = HASHING.acquire().await.map_err(anyhow::Error::from)?;
    tokio::task::spawn_blocking(move || hash_blocking(password.expose_secret()))
        .await
        .map_err(anyhow::Error::from)?
}

/// Whether `password` matches `hash`. With no hash (unknown account, or no password set yet)
/// the work is done against a dummy hash and the answer is `false`.
///
/// # Errors
/// Internal only.
pub async fn verify(password: SecretString, hash: Option<String>) -> Result<bool, AppError> {
    let _permit = HASHING.acquire().await.map_err(anyhow::Error::from)?;
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

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hash = hash("correct horse".into()).await.expect("hashes");
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(hash.clone()))
                .await
                .expect("verifies")
        );
        assert!(
            !verify("wrong horse".into(), Some(hash))
                .await
                .expect("verifies")
        );
        assert!(!verify("anything".into(), None).await.expect("verifies"));
    }

    #[test]
    fn our_hashes_are_standard_phc_strings() {
        use argon2::PasswordVerifier;
        let phc = hash_blocking("correct horse").expect("hashes");
        let parsed = PasswordHash::new(&phc).expect("parses");
        let standard = Argon2::default().verify_password(b"correct horse", &parsed);
        assert!(
            standard.is_ok(),
            "the argon2 crate's own verifier accepts it"
        );
        let theirs = argon2::PasswordHasher::hash_password(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params()),
            b"tr0ub4dor&3",
            &SaltString::generate(&mut OsRng),
        )
        .expect("hashes")
        .to_string();
        assert!(
            verify_blocking(b"tr0ub4dor&3", &theirs),
            "and we accept its hashes"
        );
        assert!(!verify_blocking(b"tr0ub4dor&4", &theirs));
        assert!(!verify_blocking(b"x", "not a phc string"));
    }

    #[test]
    fn passwords_must_be_8_characters_to_1024_bytes() {
        let check = |p: &str| validate(&SecretString::from(p), "password");
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        assert!(check(&"x".repeat(1024)).is_ok());
        assert!(check(&"x".repeat(1025)).is_err());
    }
}

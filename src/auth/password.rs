//! Password hashing: argon2id with OWASP's parameters (m = 19 MiB, t = 2, p = 1), run on the
//! blocking pool and bounded, so a login storm can neither starve the async executor nor take
//! all the memory.

use std::sync::LazyLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
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

fn argon2() -> Argon2<'static> {
    // OWASP's parameters are valid by construction.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
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
        let matches = match PasswordHash::new(&hash) {
            Ok(parsed) => argon2()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok(),
            Err(_) => false,
        };
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
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| AppError::Internal(anyhow::anyhow!("argon2: {err}")))
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
    fn passwords_must_be_8_characters_to_1024_bytes() {
        let check = |p: &str| validate(&SecretString::from(p), "password");
        assert!(check("1234567").is_err());
        assert!(check("12345678").is_ok());
        assert!(check(&"x".repeat(1024)).is_ok());
        assert!(check(&"x".repeat(1025)).is_err());
    }
}

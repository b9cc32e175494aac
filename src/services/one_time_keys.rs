//! One-time keys (invitation activation keys, password-reset keys): 32 random bytes handed out
//! once, in a link, and kept only as their SHA-256. A key is found by that hash alone — an
//! indexed equality on a digest of a uniformly random secret, which tells a guesser nothing
//! about how close they came.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use sha2::{Digest, Sha256};

/// A key given as input longer than this is no key of ours (ours are 64 hex digits).
const MAX_LEN: usize = 128;

/// A fresh key: the raw text for the link, and its hash for the database.
pub struct NewKey {
    pub raw: String,
    pub hash: String,
}

pub fn generate() -> NewKey {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    let raw = hex::encode(bytes);
    let hash = digest(&raw);
    NewKey { raw, hash }
}

/// The stored form of a key given as input; `None` for text that cannot be a key.
pub fn hash_of(raw: &str) -> Option<String> {
    let raw = raw.trim();
    (!raw.is_empty() && raw.len() <= MAX_LEN).then(|| digest(raw))
}

fn digest(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

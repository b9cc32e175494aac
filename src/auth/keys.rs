//! The root key that signs every token.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use biscuit_auth::{Algorithm, KeyPair, PrivateKey};
use secrecy::ExposeSecret;

use crate::config::Settings;

/// Why no root key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "SAASKIT_ROOT_KEY is not a hex ed25519 private key ({0}); `saaskit keygen` prints a new one"
    )]
    Invalid(String),
    #[error("SAASKIT_ROOT_KEY must be set in production; `saaskit keygen` prints a new one")]
    MissingInProduction,
    #[error("the development root key file {path} is unusable: {reason}")]
    File { path: PathBuf, reason: String },
}

/// A new root key, as the hex string `SAASKIT_ROOT_KEY` takes.
pub fn generate_hex() -> String {
    KeyPair::new().private().to_bytes_hex()
}

/// The root key: `SAASKIT_ROOT_KEY` when set; otherwise, outside production, the key kept in
/// `SAASKIT_ROOT_KEY_FILE`, generated there on first use.
///
/// # Errors
/// See [`KeyError`].
pub fn load(settings: &Settings) -> Result<KeyPair, KeyError> {
    if let Some(key) = &settings.root_key {
        return parse(key.expose_secret()).map_err(KeyError::Invalid);
    }
    if settings.is_production() {
        return Err(KeyError::MissingInProduction);
    }
    load_or_create_file(&settings.root_key_file)
}

fn parse(text: &str) -> Result<KeyPair, String> {
    let hex = text.trim();
    let hex = hex.strip_prefix("ed25519-private/").unwrap_or(hex);
    let private = PrivateKey::from_bytes_hex(hex, Algorithm::Ed25519).map_err(|e| e.to_string())?;
    Ok(KeyPair::from(&private))
}

fn load_or_create_file(path: &Path) -> Result<KeyPair, KeyError> {
    let file_error = |reason: String| KeyError::File {
        path: path.to_owned(),
        reason,
    };
    match fs::read_to_string(path) {
        Ok(text) => return parse(&text).map_err(file_error),
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(file_error(err.to_string())),
    }
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(|e| file_error(e.to_string()))?;
    }
    let hex = generate_hex();
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(hex.as_bytes())
                .map_err(|e| file_error(e.to_string()))?;
            tracing::warn!(
                path = %path.display(),
                "generated a development root key; production must set SAASKIT_ROOT_KEY"
            );
            parse(&hex).map_err(file_error)
        }
        // Another process created it first: use theirs.
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            let text = fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
            parse(&text).map_err(file_error)
        }
        Err(err) => Err(file_error(err.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_the_same_public_key() {
        let hex = generate_hex();
        let a = parse(&hex).expect("parses");
        let b = parse(&format!("ed25519-private/{hex}\n")).expect("prefixed parses");
        assert_eq!(a.public().to_bytes(), b.public().to_bytes());
    }

    #[test]
    fn garbage_is_not_a_key() {
        assert!(parse("not hex").is_err());
        assert!(parse("abcd").is_err());
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/root.key");
        let first = load_or_create_file(&path).expect("created");
        let second = load_or_create_file(&path).expect("reused");
        assert_eq!(first.public().to_bytes(), second.public().to_bytes());
    }
}

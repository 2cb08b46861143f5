//! Secrets: random tokens (shown once, stored as SHA-256), and passwords (argon2id).
//!
//! Session ids, API tokens, invitation and install keys are 32 random bytes: a digest
//! of one is as good as the one itself for an attacker who reads the database only if
//! it can be inverted, so SHA-256 is the right hash for them. Passwords are chosen by
//! people and get argon2id.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use crate::ServerError;

/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 12;
/// The longest password accepted (argon2 hashes any length; this bounds the work).
pub const MAX_PASSWORD: usize = 1024;

/// A new random secret with a prefix that says what it is (`pct_…` for an API token),
/// as it is shown once to its holder.
pub fn token(prefix: &str) -> Result<String, ServerError> {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ServerError::Internal("the system's random source failed".to_owned()))?;
    Ok(format!(
        "{prefix}_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// What is stored of a token: its SHA-256, hex.
pub fn digest(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two strings in time that depends only on their lengths.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks a new password's length.
pub fn check_password(password: &str) -> Result<(), ServerError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD {
        return Err(ServerError::BadInput(format!(
            "the password has {chars} characters; it needs at least {MIN_PASSWORD}"
        )));
    }
    if password.len() > MAX_PASSWORD {
        return Err(ServerError::BadInput(format!(
            "the password has {} bytes; at most {MAX_PASSWORD} are accepted",
            password.len()
        )));
    }
    Ok(())
}

/// The argon2id hash of a password (PHC string, salt included), with the crate's
/// default parameters (19 MiB, 2 passes, 1 lane: OWASP's recommendation).
pub fn hash_password(password: &str) -> Result<String, ServerError> {
    check_password(password)?;
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| ServerError::Internal("the system's random source failed".to_owned()))?;
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| ServerError::Internal(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| ServerError::Internal(format!("password hash: {e}")))
}

/// Whether `password` matches a stored hash. A malformed stored hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    if password.len() > MAX_PASSWORD {
        return false;
    }
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() -> Result<(), ServerError> {
        let stored = hash_password("correct horse battery")?;
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterx", &stored));
        assert!(!verify_password("correct horse battery", "not a hash"));
        assert!(hash_password("short").is_err());
        Ok(())
    }

    #[test]
    fn tokens_are_distinct_and_digests_fixed() -> Result<(), ServerError> {
        let (a, b) = (token("pct")?, token("pct")?);
        assert_ne!(a, b);
        assert!(a.starts_with("pct_") && a.len() == 4 + 43);
        assert_eq!(digest("abc").len(), 64);
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
        Ok(())
    }
}

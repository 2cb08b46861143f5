//! The key the server signs agents' views with (ed25519, `ring`), kept in the state
//! directory as `view.key` (PKCS#8, owner-only) and made on first start. An agent pins
//! the public half at enrollment and swaps in nothing that does not verify with it.
//!
//! What is signed is the exact text of a JSON payload, sent as a string beside its
//! signature (`{"payload": "…", "signature": "<base64>"}`), so that no two parties
//! need to agree on how JSON is written to agree on what was signed.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde::Serialize;
use serde_json::{json, Value};

use crate::ServerError;

/// The server's view-signing key.
pub struct ViewKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for ViewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// Where a state directory keeps the key.
pub fn key_path(state: &Path) -> PathBuf {
    state.join("view.key")
}

impl ViewKey {
    /// The key of a state directory, made (and written, owner-only) when it has none.
    pub fn load_or_create(state: &Path) -> Result<ViewKey, ServerError> {
        let path = key_path(state);
        let fail = |e: std::io::Error| {
            ServerError::Storage(format!("the view key `{}`: {e}", path.display()))
        };
        let pkcs8 = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let made = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).map_err(|_| {
                    ServerError::Internal("cannot make a view key: no randomness".to_owned())
                })?;
                write_private(&path, made.as_ref()).map_err(fail)?;
                made.as_ref().to_vec()
            }
            Err(e) => return Err(fail(e)),
        };
        let pair = Ed25519KeyPair::from_pkcs8(&pkcs8).map_err(|e| {
            ServerError::Storage(format!(
                "the view key `{}` is not an ed25519 key (PKCS#8): {e}",
                path.display()
            ))
        })?;
        Ok(ViewKey { pair })
    }

    /// The public key, base64: what agents pin.
    pub fn public(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.pair.public_key().as_ref())
    }

    /// `payload` as JSON text, and that text's signature: the envelope agents read.
    pub fn sign(&self, payload: &impl Serialize) -> Result<Value, ServerError> {
        let text = serde_json::to_string(payload)
            .map_err(|e| ServerError::Internal(format!("cannot write a view: {e}")))?;
        let signature = self.pair.sign(text.as_bytes());
        Ok(json!({
            "payload": text,
            "signature": base64::engine::general_purpose::STANDARD.encode(signature.as_ref()),
        }))
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_signs_what_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let key = ViewKey::load_or_create(dir.path()).unwrap();
        let again = ViewKey::load_or_create(dir.path()).unwrap();
        assert_eq!(key.public(), again.public());
        let signed = key.sign(&json!({"revision": 3})).unwrap();
        let public = base64::engine::general_purpose::STANDARD
            .decode(key.public())
            .unwrap();
        let signature = base64::engine::general_purpose::STANDARD
            .decode(signed["signature"].as_str().unwrap())
            .unwrap();
        let verifier = ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public);
        verifier
            .verify(signed["payload"].as_str().unwrap().as_bytes(), &signature)
            .unwrap();
    }
}

//! The computer's view, as the server signs it, and the agent's copy of it: verified
//! before anything is swapped in, applied to the engine (a whole view with `deploy`, a
//! change with `deploy_change`), and kept on disk as the last good view plus the
//! changes applied since, so that the agent starts from it when the server cannot be
//! reached.
//!
//! Every message is an envelope `{"payload": "<JSON text>", "signature": "<base64>"}`
//! whose signature (ed25519, with the key pinned at enrollment) covers the payload's
//! exact text. The payload says which computer it is for and which revision it brings;
//! a change also says which revision it starts `from`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use portcullis_engine::{Bundle, BundleChange, Engine};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

use crate::store::write_atomic;

/// What the server sends: a payload's text and its signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The payload, as JSON text.
    pub payload: String,
    /// The ed25519 signature of the payload's bytes, base64.
    pub signature: String,
}

/// What a verified envelope says.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Payload {
    /// The whole view at a revision.
    View {
        /// The computer it is for.
        computer: String,
        /// The bundle version it was made from.
        revision: i64,
        /// The computer's organization audits allows.
        #[serde(default)]
        audit_allows: bool,
        /// The view.
        bundle: Bundle,
    },
    /// What changed in the view from one revision to another.
    Change {
        /// The computer it is for.
        computer: String,
        /// The revision it starts from.
        from: i64,
        /// The revision it brings.
        revision: i64,
        /// The computer's organization audits allows.
        #[serde(default)]
        audit_allows: bool,
        /// The organizations replaced or added, with their entries, and those removed.
        change: ChangeBody,
    },
}

/// A view change as it travels.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChangeBody {
    /// The changed organizations' entries, as they are now.
    pub entries: Bundle,
    /// The organizations removed.
    #[serde(default)]
    pub removed: Vec<String>,
}

/// Why a view or a change was not taken; in every case the agent's view, its engine
/// and its copy on disk are as they were.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// The envelope does not read.
    #[error("the view does not read: {0}")]
    Malformed(String),
    /// The signature does not verify with the pinned key.
    #[error("the view's signature does not verify with the server's pinned key")]
    BadSignature,
    /// It is another computer's.
    #[error("the view is for computer `{found}`, not `{expected}`")]
    OtherComputer {
        /// This computer.
        expected: String,
        /// The one it names.
        found: String,
    },
    /// It is older than the view held.
    #[error("the view's revision {found} is older than the revision {held} held")]
    Older {
        /// What is held.
        held: i64,
        /// What came.
        found: i64,
    },
    /// A change that does not start at the revision held: the whole view is needed.
    #[error("the change starts at revision {from}, but revision {held} is held")]
    Gap {
        /// What is held.
        held: i64,
        /// Where the change starts.
        from: i64,
    },
    /// The view does not compile.
    #[error("the view does not compile: {0}")]
    Compile(String),
    /// The copy on disk could not be read or written.
    #[error("the view on disk (`{path}`): {reason}")]
    Disk {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// The server's public key, pinned at enrollment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    key: Vec<u8>,
}

impl Verifier {
    /// The key, base64 as the server gives it.
    pub fn from_base64(text: &str) -> Result<Verifier, ViewError> {
        let key = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| ViewError::Malformed(format!("the pinned key is not base64: {e}")))?;
        if key.len() != 32 {
            return Err(ViewError::Malformed(format!(
                "the pinned key has {} bytes; an ed25519 key has 32",
                key.len()
            )));
        }
        Ok(Verifier { key })
    }

    /// The payload of `envelope`, when its signature verifies.
    pub fn open(&self, envelope: &Envelope) -> Result<Payload, ViewError> {
        let signature = base64::engine::general_purpose::STANDARD
            .decode(envelope.signature.trim())
            .map_err(|_| ViewError::BadSignature)?;
        UnparsedPublicKey::new(&ED25519, &self.key)
            .verify(envelope.payload.as_bytes(), &signature)
            .map_err(|_| ViewError::BadSignature)?;
        serde_json::from_str(&envelope.payload).map_err(|e| ViewError::Malformed(e.to_string()))
    }
}

/// The last good view and the changes applied since, as kept on disk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Journal {
    view: Option<Envelope>,
    #[serde(default)]
    changes: Vec<Envelope>,
}

/// The view an agent holds: its revision, its bundle, the engine deciding on it, and
/// where it is kept on disk.
#[derive(Debug)]
pub struct HeldView {
    computer: String,
    verifier: Verifier,
    file: PathBuf,
    revision: i64,
    audit_allows: bool,
    bundle: Bundle,
    engine: Option<Arc<Engine>>,
    journal: Journal,
}

/// What taking a message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The whole view was swapped in.
    View,
    /// A change was applied (possibly an empty one that only moves the revision).
    Change,
}

/// Changes kept on disk after the last whole view before the agent asks for a whole
/// view again.
pub const MAX_JOURNAL: usize = 64;

impl HeldView {
    /// An agent's view kept in `file`, empty until a view is taken or loaded.
    pub fn new(computer: &str, verifier: Verifier, file: PathBuf) -> HeldView {
        HeldView {
            computer: computer.to_owned(),
            verifier,
            file,
            revision: 0,
            audit_allows: false,
            bundle: Bundle::default(),
            engine: None,
            journal: Journal::default(),
        }
    }

    /// The view kept on disk, verified and replayed; `Ok(false)` when there is none.
    pub fn load(&mut self) -> Result<bool, ViewError> {
        let disk = |reason: String| ViewError::Disk {
            path: self.file.clone(),
            reason,
        };
        let text = match std::fs::read_to_string(&self.file) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(disk(e.to_string())),
        };
        let journal: Journal = serde_json::from_str(&text).map_err(|e| disk(e.to_string()))?;
        let Some(view) = journal.view else {
            return Ok(false);
        };
        let mut fresh = HeldView::new(&self.computer, self.verifier.clone(), self.file.clone());
        fresh.engine = self.engine.clone();
        fresh.apply(&view, false)?;
        for change in &journal.changes {
            fresh.apply(change, false)?;
        }
        *self = fresh;
        Ok(true)
    }

    /// Verifies `envelope` and takes it: a whole view, or a change from the revision
    /// held. Nothing changes unless it verifies, is this computer's, is not older, and
    /// compiles; then the engine swaps and the copy on disk is replaced.
    pub fn take(&mut self, envelope: &Envelope) -> Result<Taken, ViewError> {
        self.apply(envelope, true)
    }

    fn apply(&mut self, envelope: &Envelope, save: bool) -> Result<Taken, ViewError> {
        let payload = self.verifier.open(envelope)?;
        let (computer, revision) = match &payload {
            Payload::View {
                computer, revision, ..
            }
            | Payload::Change {
                computer, revision, ..
            } => (computer, *revision),
        };
        if *computer != self.computer {
            return Err(ViewError::OtherComputer {
                expected: self.computer.clone(),
                found: computer.clone(),
            });
        }
        if revision < self.revision {
            return Err(ViewError::Older {
                held: self.revision,
                found: revision,
            });
        }
        let compile = |e: portcullis_engine::CompileErrors| ViewError::Compile(e.to_string());
        let taken = match payload {
            Payload::View {
                audit_allows,
                bundle,
                ..
            } => {
                match &self.engine {
                    Some(engine) => {
                        engine.deploy(&bundle).map_err(compile)?;
                    }
                    None => self.engine = Some(Arc::new(Engine::new(&bundle).map_err(compile)?)),
                }
                self.bundle = bundle;
                self.audit_allows = audit_allows;
                self.journal = Journal {
                    view: Some(envelope.clone()),
                    changes: Vec::new(),
                };
                Taken::View
            }
            Payload::Change {
                from,
                audit_allows,
                change,
                ..
            } => {
                let engine = match &self.engine {
                    Some(engine) if from == self.revision => engine,
                    _ => {
                        return Err(ViewError::Gap {
                            held: self.revision,
                            from,
                        })
                    }
                };
                let mut bundle_change = BundleChange::new(change.entries);
                bundle_change.removed = change.removed;
                if bundle_change.is_empty() && audit_allows == self.audit_allows {
                    // Nothing to keep (most long-polls end so): the revision moves in
                    // memory only; after a restart the agent asks from the revision on
                    // disk, and gets the same nothing.
                    self.revision = revision;
                    return Ok(Taken::Change);
                }
                if !bundle_change.is_empty() {
                    engine.deploy_change(&bundle_change).map_err(compile)?;
                    self.bundle = bundle_change.apply(&self.bundle);
                }
                self.audit_allows = audit_allows;
                self.journal.changes.push(envelope.clone());
                Taken::Change
            }
        };
        self.revision = revision;
        if save {
            self.save()?;
        }
        Ok(taken)
    }

    fn save(&self) -> Result<(), ViewError> {
        let text = serde_json::to_vec(&self.journal).map_err(|e| ViewError::Disk {
            path: self.file.clone(),
            reason: e.to_string(),
        })?;
        write_atomic(&self.file, &text).map_err(|e| ViewError::Disk {
            path: self.file.clone(),
            reason: e.to_string(),
        })
    }

    /// The revision held (0 before any view).
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The engine deciding on the view; `None` before any view.
    pub fn engine(&self) -> Option<&Arc<Engine>> {
        self.engine.as_ref()
    }

    /// The view's bundle.
    pub fn bundle(&self) -> &Bundle {
        &self.bundle
    }

    /// The organization audits allows.
    pub fn audit_allows(&self) -> bool {
        self.audit_allows
    }

    /// So many changes are kept since the last whole view that the next message
    /// should be a whole view.
    pub fn wants_whole_view(&self) -> bool {
        self.journal.changes.len() >= MAX_JOURNAL
    }

    /// The file the view is kept in.
    pub fn file(&self) -> &Path {
        &self.file
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use serde_json::{json, Value};

    /// A signing key as the server has one, and the verifier an agent pins.
    pub(crate) fn key() -> (Ed25519KeyPair, Verifier) {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        let public = base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref());
        (pair, Verifier::from_base64(&public).unwrap())
    }

    pub(crate) fn sign(pair: &Ed25519KeyPair, payload: &Value) -> Envelope {
        let text = payload.to_string();
        Envelope {
            signature: base64::engine::general_purpose::STANDARD
                .encode(pair.sign(text.as_bytes()).as_ref()),
            payload: text,
        }
    }

    /// The view of `pc-1` with a policy permitting `/opt/*` (when `permit`).
    pub(crate) fn bundle(permit: bool) -> Value {
        let policies = if permit {
            json!([{"id": "opt", "scope": {"organization": "acme"}, "position": 10,
                    "applications": ["opt"], "action": "permit"}])
        } else {
            json!([])
        };
        json!({"format": "portcullis.bundle/v1",
            "organizations": [{"id": "acme", "name": "Acme"}],
            "groups": [{"id": "linux", "organization": "acme", "name": "Linux"}],
            "computers": [{"id": "pc-1", "group": "linux", "name": "pc-1", "os": "linux"}],
            "applications": [{"id": "opt", "organization": "acme", "name": "Opt",
                              "rules": [{"path": "/opt/*"}]}],
            "policies": policies})
    }

    pub(crate) fn view(revision: i64, permit: bool) -> Value {
        json!({"kind": "view", "computer": "pc-1", "revision": revision,
               "audit_allows": false, "bundle": bundle(permit)})
    }

    pub(crate) fn change(from: i64, revision: i64, permit: bool) -> Value {
        json!({"kind": "change", "computer": "pc-1", "from": from, "revision": revision,
               "change": {"entries": bundle(permit), "removed": []}})
    }

    fn allowed(held: &HeldView) -> bool {
        let event = portcullis_engine::Event::from_json(
            r#"{"computer": "pc-1", "user": "amy", "path": "/opt/tool", "time": "2026-11-22T10:00:00Z",
                "sha256": "0000000000000000000000000000000000000000000000000000000000000000"}"#,
        )
        .unwrap();
        held.engine().unwrap().decide(&event).decision == portcullis_engine::Outcome::Allow
    }

    #[test]
    fn a_bad_signature_is_refused_and_nothing_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, verifier) = key();
        let mut held = HeldView::new("pc-1", verifier, dir.path().join("view.json"));
        held.take(&sign(&pair, &view(3, false))).unwrap();
        let on_disk = std::fs::read(held.file()).unwrap();

        // Signed by someone else.
        let (other, _) = key();
        let forged = sign(&other, &view(4, true));
        assert!(matches!(held.take(&forged), Err(ViewError::BadSignature)));
        // The right signature over other text.
        let mut tampered = sign(&pair, &view(4, false));
        tampered.payload = view(4, true).to_string();
        assert!(matches!(held.take(&tampered), Err(ViewError::BadSignature)));
        // Not an envelope's signature at all.
        let mut garbage = sign(&pair, &view(4, true));
        garbage.signature = "not base64!".to_owned();
        assert!(matches!(held.take(&garbage), Err(ViewError::BadSignature)));

        assert_eq!(held.revision(), 3);
        assert!(!allowed(&held));
        assert_eq!(std::fs::read(held.file()).unwrap(), on_disk);
    }

    #[test]
    fn another_computers_an_older_or_an_uncompilable_view_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, verifier) = key();
        let mut held = HeldView::new("pc-1", verifier, dir.path().join("view.json"));
        held.take(&sign(&pair, &view(3, false))).unwrap();
        let mut other = view(4, true);
        other["computer"] = json!("pc-2");
        assert!(matches!(
            held.take(&sign(&pair, &other)),
            Err(ViewError::OtherComputer { .. })
        ));
        assert!(matches!(
            held.take(&sign(&pair, &view(2, true))),
            Err(ViewError::Older { held: 3, found: 2 })
        ));
        let mut broken = view(4, true);
        broken["bundle"]["policies"][0]["applications"] = json!(["nowhere"]);
        assert!(matches!(
            held.take(&sign(&pair, &broken)),
            Err(ViewError::Compile(_))
        ));
        let mut unreadable = sign(&pair, &view(4, true));
        unreadable.payload = "{".to_owned();
        unreadable.signature = sign(&pair, &json!("{")).signature;
        assert!(held.take(&unreadable).is_err());
        assert_eq!(held.revision(), 3);
        assert!(!allowed(&held));
    }

    #[test]
    fn a_change_applies_from_the_revision_held_and_a_gap_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (pair, verifier) = key();
        let file = dir.path().join("view.json");
        let mut held = HeldView::new("pc-1", verifier.clone(), file.clone());
        held.take(&sign(&pair, &view(3, false))).unwrap();
        assert!(matches!(
            held.take(&sign(&pair, &change(4, 5, true))),
            Err(ViewError::Gap { held: 3, from: 4 })
        ));
        assert_eq!(held.revision(), 3);
        assert!(!allowed(&held));
        assert_eq!(
            held.take(&sign(&pair, &change(3, 5, true))).unwrap(),
            Taken::Change
        );
        assert_eq!(held.revision(), 5);
        assert!(allowed(&held));

        // An empty change moves the revision without writing anything.
        let on_disk = std::fs::read(&file).unwrap();
        let mut empty = change(5, 6, true);
        empty["change"] = json!({"entries": {"format": "portcullis.bundle/v1"}, "removed": []});
        assert_eq!(held.take(&sign(&pair, &empty)).unwrap(), Taken::Change);
        assert_eq!(held.revision(), 6);
        assert_eq!(std::fs::read(&file).unwrap(), on_disk);

        // What is on disk is the view and the change: the agent starts from it.
        let mut again = HeldView::new("pc-1", verifier, file);
        assert!(again.load().unwrap());
        assert_eq!(again.revision(), 5);
        assert!(allowed(&again));
    }
}

//! The audit's read side: searching entries, and verifying the hash chain against the
//! head recorded outside the table.

use portcullis_engine::model::{Sha256, Timestamp};
use serde::{Deserialize, Serialize};

use crate::error::AuditBreak;
use crate::error::{Error, StorageError};

/// An audit entry to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub time: Timestamp,
    /// Who: an administrator, `plugin:NAME`, `user:NAME@COMPUTER` or `system`.
    pub actor: String,
    /// The organization concerned, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// `system` for administrators' actions, `unified` for the rest.
    pub log: AuditLog,
    /// What happened: `request`, `approve`, `reject`, `expire`, `deploy`, …
    pub kind: String,
    /// The ids involved and the details.
    pub detail: serde_json::Value,
}

/// The two audits of SPEC §9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditLog {
    /// Decisions, requests, approvals, rejections, maintenance modes, deploys.
    Unified,
    /// Administrators' actions on administrators, roles, permissions and settings.
    System,
}

/// A stored audit entry with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Sequence number, from 1.
    pub seq: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// SHA-256 (hex) of the previous entry's hash and this entry.
    pub hash: String,
}

/// The chained hash of an audit entry: SHA-256 over the previous entry's hash, the
/// sequence number and the entry's canonical JSON.
pub fn chain_hash(previous: &str, seq: i64, entry: &AuditEntry) -> Result<String, Error> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    hasher.update(previous.as_bytes());
    hasher.update(b"\n");
    hasher.update(seq.to_string().as_bytes());
    hasher.update(b"\n");
    hasher.update(
        serde_json::to_string(entry)
            .map_err(StorageError::Encode)?
            .as_bytes(),
    );
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// What to look for in the audit. Empty fields match everything. A server reads it
/// from a request (every field may be left out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditQuery {
    /// The unified or the system audit (default: unified).
    pub log: Option<AuditLog>,
    /// Entries of this organization.
    pub organization: Option<String>,
    /// Entries about this computer.
    pub computer: Option<String>,
    /// Entries about this user (compared case-insensitively).
    pub user: Option<String>,
    /// Entries about this file.
    pub sha256: Option<Sha256>,
    /// Entries of this kind (`deny`, `allow`, `request`, `approve`, …).
    pub kind: Option<String>,
    /// Entries at or after this time.
    pub since: Option<Timestamp>,
    /// Entries before this time.
    pub until: Option<Timestamp>,
}

impl AuditQuery {
    /// Whether an entry matches.
    pub fn matches(&self, record: &AuditRecord) -> bool {
        let entry = &record.entry;
        let detail = |key: &str| entry.detail.get(key).and_then(|v| v.as_str());
        entry.log == self.log.unwrap_or(AuditLog::Unified)
            && self
                .organization
                .as_ref()
                .is_none_or(|o| entry.organization.as_ref() == Some(o))
            && self
                .computer
                .as_deref()
                .is_none_or(|c| detail("computer") == Some(c))
            && self
                .user
                .as_deref()
                .is_none_or(|u| detail("user").is_some_and(|d| d.eq_ignore_ascii_case(u)))
            && self
                .sha256
                .is_none_or(|s| detail("sha256").and_then(|d| d.parse::<Sha256>().ok()) == Some(s))
            && self.kind.as_deref().is_none_or(|k| entry.kind == k)
            && self.since.is_none_or(|t| entry.time >= t)
            && self.until.is_none_or(|t| entry.time < t)
    }
}

/// The audit's signing key: ed25519, kept in a file outside the database, readable by
/// its owner only. It signs every new head, so that someone who can write the
/// database but not read the key cannot rewrite the chain and its head together.
pub struct AuditKey {
    pair: ring::signature::Ed25519KeyPair,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl AuditKey {
    /// Reads the key at `path`; with `create`, makes a new one there when the file does
    /// not exist (mode 0600).
    pub fn load(path: &std::path::Path, create: bool) -> Result<AuditKey, Error> {
        let shown = path.display();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let rng = ring::rand::SystemRandom::new();
                let doc = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
                    .map_err(|_| key_error("cannot generate the audit key".to_owned()))?;
                write_private(path, doc.as_ref())?;
                doc.as_ref().to_vec()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(key_error(format!(
                    "the audit signing key `{shown}` is missing: the audit cannot be verified or extended (set its path with `--audit-key`)"
                )))
            }
            Err(e) => return Err(StorageError::file("read", path)(e)),
        };
        let pair = ring::signature::Ed25519KeyPair::from_pkcs8(&bytes)
            .map_err(|_| key_error(format!("`{shown}` is not an ed25519 key (PKCS #8)")))?;
        Ok(AuditKey { pair })
    }

    /// The public key, in hex.
    pub fn public_key(&self) -> String {
        use ring::signature::KeyPair;
        hex(self.pair.public_key().as_ref())
    }

    /// Signs the audit's state: its entry count and the hash of its last entry.
    pub fn sign(&self, count: i64, hash: &str) -> Checkpoint {
        let signature = self.pair.sign(checkpoint_message(count, hash).as_bytes());
        Checkpoint {
            count,
            hash: hash.to_owned(),
            public_key: self.public_key(),
            signature: hex(signature.as_ref()),
        }
    }
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let fail = StorageError::file("write", path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

fn key_error(message: String) -> Error {
    Error::Storage(StorageError::AuditKey(message))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

fn checkpoint_message(count: i64, hash: &str) -> String {
    format!("portcullis audit checkpoint\n{count}\n{hash}")
}

/// A signed statement of the audit's state: `count` entries, the last of them with
/// hash `hash`. The head of a state is the latest one; `portcullis audit checkpoint`
/// exports it to keep elsewhere.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    /// Entries in the audit (the last one's sequence number).
    pub count: i64,
    /// The last entry's hash (empty for an empty audit).
    pub hash: String,
    /// The ed25519 public key that signed it, in hex.
    pub public_key: String,
    /// The signature of `count` and `hash`, in hex.
    pub signature: String,
}

impl Checkpoint {
    /// Whether the signature is `public_key`'s (hex) over this count and hash.
    pub fn signed_by(&self, public_key: &str) -> bool {
        let (Some(key), Some(signature)) = (unhex(public_key), unhex(&self.signature)) else {
            return false;
        };
        self.public_key == public_key
            && ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, key)
                .verify(
                    checkpoint_message(self.count, &self.hash).as_bytes(),
                    &signature,
                )
                .is_ok()
    }
}

/// The head file: the latest checkpoint and, while a commit is under way, the one it
/// will make. After a crash in between, the database ends at one of the two.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Head {
    /// The checkpoint of the last commit (`None` before the first).
    pub head: Option<Checkpoint>,
    /// The checkpoint of the commit under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Checkpoint>,
}

/// What the head file said when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadRead {
    /// No head file.
    Missing,
    /// A head file that does not parse.
    Corrupt(String),
    /// A head file.
    Found(Head),
}

impl HeadRead {
    /// Checks the head against the audit's last entry (`None` for an empty audit) and
    /// the state's key: the head, or the pending checkpoint after a crash, must be
    /// signed by the key and name exactly that entry.
    pub fn check(&self, last: Option<(i64, &str)>, public_key: &str) -> Result<(), AuditBreak> {
        let last_seq = last.map_or(0, |(seq, _)| seq);
        let head = match self {
            HeadRead::Missing => return Err(AuditBreak::HeadMissing { last: last_seq }),
            HeadRead::Corrupt(why) => {
                return Err(AuditBreak::HeadCorrupt {
                    reason: why.clone(),
                })
            }
            HeadRead::Found(head) => head,
        };
        let candidates: Vec<&Checkpoint> = head.head.iter().chain(&head.pending).collect();
        if let Some(forged) = candidates.iter().find(|c| !c.signed_by(public_key)) {
            return Err(AuditBreak::HeadCorrupt {
                reason: format!(
                    "the checkpoint of entry {} is not signed by the state's audit key",
                    forged.count
                ),
            });
        }
        let matches = |c: &&Checkpoint| match last {
            None => c.count == 0,
            Some((seq, hash)) => c.count == seq && c.hash == hash,
        };
        if candidates.iter().any(matches) {
            return Ok(());
        }
        let Some(recorded) = head.pending.as_ref().or(head.head.as_ref()) else {
            return Err(AuditBreak::HeadMissing { last: last_seq });
        };
        Err(if recorded.count > last_seq {
            AuditBreak::Truncated {
                last: last_seq,
                head: recorded.count,
            }
        } else if recorded.count < last_seq {
            AuditBreak::HeadBehind {
                head: recorded.count,
                last: last_seq,
            }
        } else {
            AuditBreak::Rewritten {
                seq: recorded.count,
            }
        })
    }
}

/// The kind of the audit entry a re-anchoring writes.
pub const REANCHOR: &str = "audit-reanchor";

/// Every break in the chain and the head, in order; breaks acknowledged by a later
/// re-anchoring entry are left out.
pub fn problems(
    records: &[AuditRecord],
    head: &HeadRead,
    public_key: &str,
) -> Result<Vec<AuditBreak>, Error> {
    let mut found: Vec<(i64, AuditBreak)> = Vec::new();
    let mut previous = String::new();
    let mut expected = 1i64;
    for record in records {
        if record.seq != expected {
            found.push((
                record.seq,
                AuditBreak::Missing {
                    expected,
                    found: record.seq,
                },
            ));
            expected = record.seq;
        }
        if chain_hash(&previous, record.seq, &record.entry)? != record.hash {
            found.push((record.seq, AuditBreak::Edited { seq: record.seq }));
        }
        previous.clone_from(&record.hash);
        expected += 1;
    }
    let acknowledged: Vec<(i64, AuditBreak)> = records
        .iter()
        .filter(|r| r.entry.kind == REANCHOR && r.entry.log == AuditLog::System)
        .flat_map(|r| {
            r.entry
                .detail
                .get("problems")
                .and_then(|p| serde_json::from_value::<Vec<AuditBreak>>(p.clone()).ok())
                .unwrap_or_default()
                .into_iter()
                .map(move |b| (r.seq, b))
        })
        .collect();
    let mut out: Vec<AuditBreak> = found
        .into_iter()
        .filter(|(at, b)| !acknowledged.iter().any(|(seq, a)| seq > at && a == b))
        .map(|(_, b)| b)
        .collect();
    let last = records.last().map(|r| (r.seq, r.hash.as_str()));
    if let Err(problem) = head.check(last, public_key) {
        out.push(problem);
    }
    Ok(out)
}

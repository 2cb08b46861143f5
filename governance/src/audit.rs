//! The audit's read side: searching entries, and verifying the hash chain against the
//! head recorded outside the table.

use portcullis_engine::model::{Sha256, Timestamp};
use serde::Serialize;

use crate::sqlite::chain_hash;
use crate::store::{AuditLog, AuditRecord};
use crate::Error;

/// What to look for in the audit. Empty fields match everything.
#[derive(Debug, Clone, Default)]
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

/// Where and how the audit chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum AuditBreak {
    /// The entry's hash does not match its content and the previous hash: it, or an
    /// entry before it, was edited or reordered.
    #[error("entry {seq} does not match its hash: it or its place in the chain was edited")]
    Edited {
        /// The first entry that does not verify.
        seq: i64,
    },
    /// A sequence number is missing: entries were removed (or reordered).
    #[error("entry {expected} is missing (the next one stored is {found}): entries were removed or reordered")]
    Missing {
        /// The number expected.
        expected: i64,
        /// The number found instead.
        found: i64,
    },
    /// The chain ends before the recorded head: entries were cut off the end.
    #[error("the audit ends at entry {last}, but entry {head} was recorded: entries after {last} were removed")]
    Truncated {
        /// The last stored entry (0 when none is left).
        last: i64,
        /// The recorded head.
        head: i64,
    },
    /// The entry at the recorded head has another hash: the chain was rewritten.
    #[error("entry {seq} has another hash than the one recorded for it: the chain was rewritten")]
    Rewritten {
        /// The head's sequence number.
        seq: i64,
    },
}

/// Checks the chain, entry by entry from the first, then against the recorded head.
/// Returns the number of entries.
pub fn verify(
    records: &[AuditRecord],
    head: Option<(i64, String)>,
) -> Result<Result<usize, AuditBreak>, Error> {
    let mut previous = String::new();
    let mut expected = 1i64;
    for record in records {
        if record.seq != expected {
            return Ok(Err(AuditBreak::Missing {
                expected,
                found: record.seq,
            }));
        }
        if chain_hash(&previous, record.seq, &record.entry)? != record.hash {
            return Ok(Err(AuditBreak::Edited { seq: record.seq }));
        }
        previous.clone_from(&record.hash);
        expected += 1;
    }
    if let Some((head_seq, head_hash)) = head {
        let last = expected - 1;
        if head_seq > last {
            return Ok(Err(AuditBreak::Truncated {
                last,
                head: head_seq,
            }));
        }
        let at_head = usize::try_from(head_seq - 1)
            .ok()
            .and_then(|i| records.get(i));
        if head_seq >= 1 && at_head.map(|r| &r.hash) != Some(&head_hash) {
            return Ok(Err(AuditBreak::Rewritten { seq: head_seq }));
        }
    }
    Ok(Ok(records.len()))
}

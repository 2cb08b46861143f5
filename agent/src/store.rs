//! What the agent keeps on disk besides its view: the spool of decisions waiting to be
//! uploaded, and the helper every file of the agent is written with.
//!
//! The spool is bounded: past its limit a decision is not kept, and the number of
//! such decisions is counted, kept on disk and reported to the server, so nothing is
//! dropped silently. Decisions are appended one JSON line each as they are made and
//! removed only once the server has acknowledged them, so a restart loses none (a
//! line torn by a crash mid-write is skipped when the spool is read back).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Writes `bytes` to `path` in one step: a temporary file beside it, synced, then
/// renamed over it (owner-only).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut file = private(&temporary, true)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&temporary, path)?;
    if let Some(parent) = path.parent() {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Opens `path` for writing, owner-only: truncated, or appended to.
fn private(path: &Path, truncate: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(truncate)
        .append(!truncate)
        .mode(0o600)
        .open(path)
}

/// How many decisions the spool keeps unless told otherwise.
pub const DEFAULT_SPOOL_LIMIT: usize = 100_000;

/// The counters kept beside the spool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolCounts {
    /// Decisions waiting for upload.
    pub pending: usize,
    /// Decisions not kept because the spool was full, since the agent was installed.
    pub overflowed: u64,
}

/// Decisions waiting to be uploaded, kept in `spool.jsonl`, and in
/// `spool.state.json` the overflow count and how many lines at the file's start were
/// uploaded already. The file is only appended to; it is rewritten with what is left
/// when more of it was uploaded than waits (and when opened), so that acknowledging a
/// batch costs a small write, not a copy of the backlog. A crash between an upload
/// and its acknowledgment is written sends that batch again: decisions are delivered
/// at least once, never lost.
#[derive(Debug)]
pub struct Spool {
    lines: PathBuf,
    state: PathBuf,
    limit: usize,
    entries: VecDeque<Value>,
    overflowed: u64,
    consumed: usize,
    file: File,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct SpoolState {
    overflowed: u64,
    #[serde(default)]
    consumed: usize,
}

impl Spool {
    /// The spool in `dir`, holding at most `limit` decisions; what an earlier run left
    /// is read back.
    pub fn open(dir: &Path, limit: usize) -> io::Result<Spool> {
        let lines = dir.join("spool.jsonl");
        let state = dir.join("spool.state.json");
        let kept = std::fs::read(&state)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SpoolState>(&bytes).ok())
            .unwrap_or_default();
        let entries: VecDeque<Value> = match std::fs::read_to_string(&lines) {
            Ok(text) => text
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .skip(kept.consumed)
                .collect(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => VecDeque::new(),
            Err(e) => return Err(e),
        };
        let mut spool = Spool {
            file: private(&lines, false)?,
            lines,
            state,
            limit: limit.max(1),
            entries,
            overflowed: kept.overflowed,
            consumed: kept.consumed,
        };
        // Rewritten once, so that a torn last line does not stay in front of new ones.
        spool.compact()?;
        Ok(spool)
    }

    /// The counts of the spool in `dir`, read without opening it (a running agent may
    /// hold it).
    pub fn counts_in(dir: &Path) -> io::Result<SpoolCounts> {
        let kept = std::fs::read(dir.join("spool.state.json"))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<SpoolState>(&bytes).ok())
            .unwrap_or_default();
        let lines = match std::fs::read_to_string(dir.join("spool.jsonl")) {
            Ok(text) => text
                .lines()
                .filter(|line| serde_json::from_str::<Value>(line).is_ok())
                .count(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e),
        };
        Ok(SpoolCounts {
            pending: lines.saturating_sub(kept.consumed),
            overflowed: kept.overflowed,
        })
    }

    /// Keeps a decision for upload; `Ok(false)` when the spool is full (the decision
    /// is counted as overflowed instead).
    pub fn push(&mut self, entry: Value) -> io::Result<bool> {
        if self.entries.len() >= self.limit {
            self.overflowed = self.overflowed.saturating_add(1);
            self.save_state()?;
            return Ok(false);
        }
        let mut line = serde_json::to_vec(&entry)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.entries.push_back(entry);
        Ok(true)
    }

    /// The oldest `n` decisions, to upload.
    pub fn peek(&self, n: usize) -> Vec<Value> {
        self.entries.iter().take(n).cloned().collect()
    }

    /// Forgets the oldest `n` decisions (the server acknowledged them).
    pub fn commit(&mut self, n: usize) -> io::Result<()> {
        let n = n.min(self.entries.len());
        self.entries.drain(..n);
        self.consumed = self.consumed.saturating_add(n);
        if self.consumed > self.entries.len() {
            self.compact()
        } else {
            self.file.sync_data()?;
            self.save_state()
        }
    }

    /// Flushes what was appended to the disk.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// How many wait, and how many were not kept.
    pub fn counts(&self) -> SpoolCounts {
        SpoolCounts {
            pending: self.entries.len(),
            overflowed: self.overflowed,
        }
    }

    fn save_state(&self) -> io::Result<()> {
        let state = serde_json::to_vec(&SpoolState {
            overflowed: self.overflowed,
            consumed: self.consumed,
        })?;
        write_atomic(&self.state, &state)
    }

    /// Rewrites the file with what waits. The state first says nothing was consumed,
    /// then the file is replaced: a crash between the two sends some decisions twice
    /// rather than skipping any.
    fn compact(&mut self) -> io::Result<()> {
        let mut text = Vec::new();
        for entry in &self.entries {
            serde_json::to_writer(&mut text, entry)?;
            text.push(b'\n');
        }
        self.consumed = 0;
        self.save_state()?;
        write_atomic(&self.lines, &text)?;
        self.file = private(&self.lines, false)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_overflow_is_counted_and_everything_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 3).unwrap();
        for i in 0..5 {
            let kept = spool.push(json!({"n": i})).unwrap();
            assert_eq!(kept, i < 3, "decision {i}");
        }
        assert_eq!(
            spool.counts(),
            SpoolCounts {
                pending: 3,
                overflowed: 2
            }
        );
        drop(spool);

        let mut again = Spool::open(dir.path(), 3).unwrap();
        assert_eq!(
            again.counts(),
            SpoolCounts {
                pending: 3,
                overflowed: 2
            }
        );
        assert_eq!(again.peek(2), vec![json!({"n": 0}), json!({"n": 1})]);
        again.commit(2).unwrap();
        assert!(again.push(json!({"n": 9})).unwrap());
        drop(again);

        let counted = Spool::counts_in(dir.path()).unwrap();
        let last = Spool::open(dir.path(), 3).unwrap();
        assert_eq!(last.peek(10), vec![json!({"n": 2}), json!({"n": 9})]);
        assert_eq!(counted, last.counts());
        assert_eq!(last.counts().overflowed, 2);
    }

    #[test]
    fn what_was_acknowledged_stays_acknowledged_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), 100).unwrap();
        for i in 0..10 {
            spool.push(json!({"n": i})).unwrap();
        }
        // Three of ten acknowledged: no rewrite, only the count of lines consumed.
        spool.commit(3).unwrap();
        spool.push(json!({"n": 10})).unwrap();
        drop(spool);
        let mut again = Spool::open(dir.path(), 100).unwrap();
        let left: Vec<Value> = (3..=10).map(|i| json!({"n": i})).collect();
        assert_eq!(again.peek(100), left);
        // Most acknowledged: rewritten.
        again.commit(7).unwrap();
        drop(again);
        let last = Spool::open(dir.path(), 100).unwrap();
        assert_eq!(last.peek(100), vec![json!({"n": 10})]);
    }

    #[test]
    fn a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("spool.jsonl"), "{\"n\": 1}\n{\"n\": ").unwrap();
        let mut spool = Spool::open(dir.path(), 10).unwrap();
        assert_eq!(spool.peek(10), vec![json!({"n": 1})]);
        spool.push(json!({"n": 2})).unwrap();
        drop(spool);
        let again = Spool::open(dir.path(), 10).unwrap();
        assert_eq!(again.peek(10), vec![json!({"n": 1}), json!({"n": 2})]);
    }
}

//! How an agent runs: what it marks, what it never blocks, how it answers when it is
//! overloaded, where it keeps its state and listens for users.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What the kernel is told when an execution cannot be decided in time (the queue is
/// full or the deadline passed) or the file cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Let it run (fail open).
    Allow,
    /// Block it (fail closed).
    Deny,
}

/// The agent's configuration (`/etc/portcullis/agent.json`; every field optional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the enrollment, the view and the spool are kept.
    pub state: PathBuf,
    /// The Unix socket users' `portcullis request` talks to.
    pub socket: PathBuf,
    /// Mounts to enforce on: the mount holding each path is marked.
    pub mounts: Vec<PathBuf>,
    /// Filesystems to enforce on: every mount of the filesystem holding each path.
    pub filesystems: Vec<PathBuf>,
    /// Paths never blocked: a file at or under one of them is allowed without a
    /// decision.
    pub exclude: Vec<PathBuf>,
    /// Threads deciding executions.
    pub workers: usize,
    /// Executions waiting for a worker at most; past it, the fail mode answers.
    pub queue: usize,
    /// Milliseconds an execution may wait for a worker before the fail mode answers.
    pub deadline_ms: u64,
    /// The answer when an execution cannot be decided in time or read.
    pub fail: FailMode,
    /// Decisions the spool keeps at most.
    pub spool_limit: usize,
    /// Seconds a long-poll for changes waits.
    pub poll_seconds: u64,
    /// Seconds between health reports (one is also sent after every change).
    pub health_seconds: u64,
    /// Seconds between uploads of spooled decisions.
    pub upload_seconds: u64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            state: PathBuf::from("/var/lib/portcullis-agent"),
            socket: PathBuf::from("/run/portcullis/agent.sock"),
            mounts: Vec::new(),
            filesystems: Vec::new(),
            exclude: Vec::new(),
            workers: 4,
            queue: 1024,
            deadline_ms: 2_000,
            fail: FailMode::Allow,
            spool_limit: crate::store::DEFAULT_SPOOL_LIMIT,
            poll_seconds: 20,
            health_seconds: 60,
            upload_seconds: 2,
        }
    }
}

impl Config {
    /// The configuration in a JSON file.
    pub fn read(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("`{}`: {e}", path.display()))
    }

    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.max(1))
    }

    /// The enrollment file in the state directory.
    pub fn enrollment_file(&self) -> PathBuf {
        self.state.join("enrollment.json")
    }

    /// The view file in the state directory.
    pub fn view_file(&self) -> PathBuf {
        self.state.join("view.json")
    }
}

//! What every plugin call gets, on either host: its limits and the tenant's settings;
//! and why a plugin does not load.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What one plugin call may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock budget of one call.
    pub time: Duration,
    /// The most linear memory a component may grow to, and what a Rego call on
    /// regorus's virtual machine may allocate, in bytes.
    pub memory: usize,
    /// Log lines kept per call; more are counted and dropped.
    pub max_logs: usize,
    /// The longest log line kept, in bytes; longer ones are cut.
    pub max_log_len: usize,
}

impl Default for Limits {
    /// 50 ms, 32 MiB, 32 log lines of at most 1 KiB.
    fn default() -> Self {
        Limits {
            time: Duration::from_millis(50),
            memory: 32 << 20,
            max_logs: 32,
            max_log_len: 1024,
        }
    }
}

/// Why a plugin cannot be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file cannot be read.
    #[error("cannot read `{}`: {message}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file is neither a component nor a Rego policy the hosts accept.
    #[error("{message}")]
    Invalid {
        /// Why.
        message: String,
    },
    /// It loads, but targets no world (hook) this host supports.
    #[error(
        "targets no supported world: it exports {found}; a plugin must export \
         `portcullis:plugin/approval-reviewer@0.1.0` (world `approval-review`) or \
         `portcullis:plugin/rule-checker@0.1.0` (world `rule`)"
    )]
    NoWorld {
        /// What it offers instead.
        found: String,
    },
    /// The host itself could not be set up.
    #[error("the plugin host cannot start: {0}")]
    Host(String),
    /// The host had no room to instantiate it within its time budget (every slot of
    /// its pool held by calls in flight); loading it later may succeed.
    #[error("the plugin host is busy: {0}")]
    Busy(String),
}

/// The tenant's settings a plugin reads through the host's `config`, shared by the
/// calls that use them.
pub type Settings = Arc<BTreeMap<String, String>>;

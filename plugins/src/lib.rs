//! # portcullis-plugins
//!
//! The plugin hosts of Portcullis (SPEC §7): WebAssembly components on wasmtime and
//! Rego policies on regorus, behind the traits of
//! [`portcullis_engine::plugin`], and a per-organization [`Registry`] that validates
//! plugins before it swaps them in and switches off one that keeps failing. With the
//! `governance` feature, `StatePlugins` loads the plugins attached in a governance
//! state into a registry: the plugin provider a state is given.
//!
//! ```no_run
//! use std::sync::Arc;
//! use portcullis_plugins::{Attachment, Limits, Plugin, Registry, WasmHost};
//!
//! let host = WasmHost::new()?;
//! let plugin = Plugin::load_file(&host, "plugins/examples/known-bad.wasm".as_ref(), Limits::default())?;
//! let registry = Registry::new();
//! registry.attach("acme", Attachment::new(Arc::new(plugin)).config("hashes", "…"))?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use portcullis_engine::plugin::{ApprovalInput, Execution, Hook, Outcome, RuleVerdict, Verdict};

mod registry;
mod rego;
mod rego_value;
#[cfg(feature = "governance")]
mod state;
mod vectors;
mod wasm;

pub use registry::{AttachError, Attachment, Call, Notice, Registry, Review, DEFAULT_BREAKER};
pub use rego::RegoPlugin;
#[cfg(feature = "governance")]
pub use state::StatePlugins;
pub use vectors::{Vector, VectorError, VectorResult};
#[cfg(feature = "bench")]
pub use wasm::Reusable;
pub use wasm::{WasmHost, WasmPlugin};

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
}

/// The tenant's settings a plugin reads through the host's `config`, shared by the
/// calls that use them.
pub type Settings = Arc<BTreeMap<String, String>>;

/// The calls of the hooks, each on whichever host holds the plugin.
macro_rules! calls {
    ($($(#[$doc:meta])* $method:ident($input:ident: $ty:ty) -> $verdict:ty;)*) => {$(
        $(#[$doc])*
        pub fn $method(&self, $input: &$ty, config: &Settings) -> Outcome<$verdict> {
            match self {
                Plugin::Wasm(p) => p.$method($input, config),
                Plugin::Rego(p) => p.$method($input, config),
            }
        }
    )*};
}

/// A loaded plugin: a component or a Rego policy.
#[derive(Debug)]
pub enum Plugin {
    /// A WebAssembly component.
    Wasm(WasmPlugin),
    /// A Rego policy.
    Rego(Box<RegoPlugin>),
}

impl Plugin {
    /// Load a `.wasm` component or a `.rego` policy from a file, named after the file.
    pub fn load_file(
        host: &Arc<WasmHost>,
        path: &Path,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let name = path
            .file_stem()
            .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let source = path.display().to_string();
        Plugin::load_bytes(&name, &source, bytes, limits, || Ok(Arc::clone(host)))
    }

    /// Load `name` from `bytes`: a Rego policy when `source` (its file name or path)
    /// ends in `.rego`, else a component, compiled on the host `host` gives (asked only
    /// for a component).
    pub fn load_bytes(
        name: &str,
        source: &str,
        bytes: Vec<u8>,
        limits: Limits,
        host: impl FnOnce() -> Result<Arc<WasmHost>, LoadError>,
    ) -> Result<Plugin, LoadError> {
        if source.ends_with(".rego") {
            let text = String::from_utf8(bytes).map_err(|_| LoadError::Invalid {
                message: format!("`{source}` is not UTF-8 text"),
            })?;
            return RegoPlugin::load(name, source, &text, limits)
                .map(|p| Plugin::Rego(Box::new(p)));
        }
        host()?.load(name, &bytes, limits).map(Plugin::Wasm)
    }

    /// The hook it targets.
    pub fn hook(&self) -> Hook {
        match self {
            Plugin::Wasm(p) => p.hook(),
            Plugin::Rego(p) => p.hook(),
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Plugin::Wasm(p) => p.name(),
            Plugin::Rego(p) => p.name(),
        }
    }

    /// `component` or `rego`.
    pub fn kind(&self) -> &'static str {
        match self {
            Plugin::Wasm(_) => "component",
            Plugin::Rego(_) => "rego",
        }
    }

    calls! {
        /// Review a request with `config` as the tenant's settings.
        review(input: ApprovalInput) -> Verdict;
        /// Check an execution with `config` as the tenant's settings.
        check(execution: Execution) -> RuleVerdict;
    }
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Plugin>();
        assert_send_sync::<crate::WasmHost>();
        assert_send_sync::<crate::RegoPlugin>();
        assert_send_sync::<crate::Registry>();
        assert_send_sync::<crate::Attachment>();
    }
}

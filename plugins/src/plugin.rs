//! A loaded plugin, on whichever host runs it: a WebAssembly component or a Rego
//! policy, loaded from a file or from bytes.

use std::path::Path;
use std::sync::Arc;

use portcullis_engine::plugin::{
    ApprovalInput, Execution, Hook, PluginOutcome, RuleVerdict, Verdict,
};

use crate::call::{Limits, LoadError, Settings};
use crate::rego::RegoPlugin;
use crate::wasm::{WasmHost, WasmPlugin};

/// The calls of the hooks, each on whichever host holds the plugin.
macro_rules! calls {
    ($($(#[$doc:meta])* $method:ident($input:ident: $ty:ty) -> $verdict:ty;)*) => {$(
        $(#[$doc])*
        pub fn $method(&self, $input: &$ty, config: &Settings) -> PluginOutcome<$verdict> {
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

    /// The imports of a component that its host does not provide (calling one traps);
    /// none for a Rego policy.
    pub fn unprovided_imports(&self) -> &[String] {
        match self {
            Plugin::Wasm(p) => p.unprovided_imports(),
            Plugin::Rego(_) => &[],
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

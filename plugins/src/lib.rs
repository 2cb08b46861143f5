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

mod artifacts;
#[cfg(feature = "governance")]
mod attach;
mod cache;
mod call;
mod plugin;
mod registry;
mod rego;
mod rego_value;
#[cfg(feature = "governance")]
mod state;
mod vectors;
mod warm;
mod wasi;
mod wasm;
mod wit;

pub use artifacts::ArtifactStore;
#[cfg(feature = "governance")]
pub use attach::{prepare, AttachSource, PrepareError};
pub use call::{Limits, LoadError, Settings};
pub use plugin::Plugin;
pub use registry::{AttachError, Attachment, Call, Notice, Registry, Review, DEFAULT_BREAKER};
pub use rego::RegoPlugin;
#[cfg(feature = "governance")]
pub use state::{StateArtifacts, StatePlugins};
pub use vectors::{Vector, VectorError, VectorResult};
#[cfg(feature = "bench")]
pub use wasm::Reusable;
pub use wasm::{HostOptions, WasmHost, WasmPlugin};

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

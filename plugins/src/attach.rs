//! Attaching a plugin to an organization, as the command line and the server both do
//! it: the plugin is loaded, every test vector given runs against it (with the
//! settings the attachment gives, where a vector sets none), and only a plugin that
//! passes them all becomes an attachment for governance to store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use portcullis_governance::PluginAttachment;

use crate::{Limits, Plugin, Vector, WasmHost};

/// What to attach.
#[derive(Debug, Clone)]
pub struct AttachSource {
    /// The organization.
    pub organization: String,
    /// The name to attach it under (default: the plugin's own).
    pub name: Option<String>,
    /// Its file name (`*.rego` for a Rego policy, else a component).
    pub file_name: String,
    /// Its bytes.
    pub content: Vec<u8>,
    /// The organization's settings for it.
    pub config: BTreeMap<String, String>,
    /// Its test vectors: file name and text.
    pub vectors: Vec<(String, String)>,
}

/// Why a plugin was not attached.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrepareError {
    /// It does not load.
    #[error("`{file}`: {message}")]
    Load {
        /// Its file name.
        file: String,
        /// Why.
        message: String,
    },
    /// A vector does not parse.
    #[error("{0}")]
    Vector(#[from] crate::VectorError),
    /// A vector did not give the verdict it expects.
    #[error("`{file}`: vector `{vector}` failed: expected {expected}, got {actual}{failure}; nothing was attached")]
    Failed {
        /// The plugin's file name.
        file: String,
        /// The vector.
        vector: String,
        /// What it expects.
        expected: Box<serde_json::Value>,
        /// What the plugin answered.
        actual: Box<serde_json::Value>,
        /// Why the call failed, when it did (` (the call failed: …)`).
        failure: String,
    },
}

/// Loads the plugin in `source` (components on `host`), runs its vectors, and makes
/// the attachment governance stores; refused, with the first failing vector, when
/// one fails.
pub fn prepare(
    source: AttachSource,
    host: &Arc<WasmHost>,
) -> Result<PluginAttachment, PrepareError> {
    let file = source.file_name.clone();
    // Named after the file, as `Plugin::load_file` names it, unless a name is given.
    let stem = Path::new(&file)
        .file_stem()
        .map_or_else(|| "plugin".to_owned(), |s| s.to_string_lossy().into_owned());
    let plugin = Plugin::load_bytes(
        source.name.as_deref().unwrap_or(&stem),
        &file,
        source.content.clone(),
        Limits::default(),
        || Ok(Arc::clone(host)),
    )
    .map_err(|e| PrepareError::Load {
        file: file.clone(),
        message: e.to_string(),
    })?;
    for (vector_file, text) in &source.vectors {
        let mut vector = Vector::parse(Path::new(vector_file), text)?;
        for (k, v) in &source.config {
            vector.config.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let result = vector.run(&plugin)?;
        if !result.pass {
            return Err(PrepareError::Failed {
                file,
                vector: result.name,
                expected: Box::new(vector.expected),
                actual: Box::new(result.actual),
                failure: result
                    .failure
                    .map(|f| format!(" (the call failed: {f})"))
                    .unwrap_or_default(),
            });
        }
    }
    let sha256 = portcullis_engine::identity::sha256_bytes(&source.content);
    Ok(PluginAttachment {
        organization: source.organization,
        name: source.name.unwrap_or_else(|| plugin.name().to_owned()),
        hook: plugin.hook().world().to_owned(),
        file_name: file,
        content: source.content,
        sha256,
        config: source.config,
        vectors: source.vectors,
        generation: 0,
    })
}

//! The on-disk cache of compiled components: an artifact (`Component::serialize`) is
//! kept in a file named by the component's SHA-256 and the engine's compatibility hash,
//! with the component's SHA-256 and the artifact's CRC-32 beside it, and is checked
//! before it is deserialized. A damaged, foreign or incompatible file is compiled
//! again and replaced, never trusted.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::{Engine, Precompiled};

use crate::call::LoadError;
use crate::wasm::WasmHost;

impl WasmHost {
    /// The name of the artifact of the component whose SHA-256 is `digest`: that
    /// digest and the engine's compatibility hash (wasmtime's version and every
    /// setting that changes the machine code), so an artifact of another engine is
    /// never even opened.
    fn artifact_name(&self, digest: &[u8; 32]) -> String {
        let mut hasher = Sha256::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut Sha256Hasher(&mut hasher));
        let engine = hasher.finalize();
        format!(
            "{}-{}.cwasm",
            hex(digest),
            hex(engine.get(..8).unwrap_or_default())
        )
    }

    /// Where the artifact of the component whose SHA-256 is `digest` lives in the
    /// cache directory.
    pub(crate) fn cache_path(&self, digest: &[u8; 32]) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        Some(dir.join(self.artifact_name(digest)))
    }

    /// Compile `bytes`, or load them from the cache directory, or from the artifact
    /// store (and keep them in the directory too).
    pub(crate) fn component(&self, bytes: &[u8]) -> Result<Component, LoadError> {
        let digest: [u8; 32] = Sha256::digest(bytes).into();
        let cached = self.cache_path(&digest);
        if let Some(path) = &cached {
            if let Ok(component) = self.load_cached(path, &digest) {
                return Ok(component);
            }
        }
        let name = self.artifact_name(&digest);
        if let Some(store) = &self.artifacts {
            if let Some(file) = store.get(&name) {
                if let Ok(component) = self.component_of_file(&file, &digest) {
                    if let Some(path) = &cached {
                        write_cache_file(path, &file);
                    }
                    return Ok(component);
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(|e| LoadError::Invalid {
            message: format!("not a WebAssembly component this host can compile: {e:#}"),
        })?;
        if cached.is_some() || self.artifacts.is_some() {
            // A cache that cannot be written only costs a compile next time.
            if let Ok(artifact) = component.serialize() {
                let file = artifact_file(&digest, &artifact);
                if let Some(path) = &cached {
                    write_cache_file(path, &file);
                }
                if let Some(store) = &self.artifacts {
                    store.put(&name, &file);
                }
            }
        }
        Ok(component)
    }

    /// The component in the cache file `path`, if it is an intact artifact of the
    /// component whose SHA-256 is `digest`, made by an engine compatible with this one;
    /// else why not (the caller compiles again and replaces the file).
    pub(crate) fn load_cached(&self, path: &Path, digest: &[u8; 32]) -> Result<Component, String> {
        // Read into memory rather than map the file: a file changed in place while
        // mapped would fault the process.
        let file = std::fs::read(path).map_err(|e| e.to_string())?;
        self.component_of_file(&file, digest)
    }

    /// The component in a cache file's bytes, under the same checks.
    #[expect(
        unsafe_code,
        reason = "deserializing machine code the host wrote itself into its own cache directory \
                  or artifact store, after checking its checksum, its source's SHA-256 and the \
                  engine's compatibility"
    )]
    fn component_of_file(&self, file: &[u8], digest: &[u8; 32]) -> Result<Component, String> {
        let artifact = check_artifact_file(file, digest)?;
        match Engine::detect_precompiled(artifact) {
            Some(Precompiled::Component) => {}
            _ => return Err("not a precompiled component of this engine".to_owned()),
        }
        // SAFETY: the bytes are exactly those `Component::serialize` wrote for this
        // component (their CRC-32 matches the one stored beside them, and the source's
        // SHA-256 too), `detect_precompiled` recognises them as a component artifact,
        // and the cache directory and the artifact store are documented as writable
        // only by the hosts' accounts. wasmtime checks the header again and refuses an
        // artifact of another version or configuration.
        unsafe { Component::deserialize(&self.engine, artifact) }.map_err(|e| format!("{e:#}"))
    }
}

/// Writes a cache file through a file of its own, renamed into place: two loads of the
/// same component at once each write their own file, and the last rename wins.
fn write_cache_file(path: &Path, file: &[u8]) {
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    if std::fs::write(&tmp, file).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

/// The first bytes of a cache file: its format. (Files of the first format, which
/// carried the artifact's SHA-256, are not recognised, so they are compiled again and
/// replaced.)
const ARTIFACT_MAGIC: &[u8; 16] = b"portcullis-art-2";

/// A cache file: [`ARTIFACT_MAGIC`], the SHA-256 of the component, the CRC-32 of the
/// artifact (little-endian), then the artifact (`Component::serialize`). The checksum
/// is there to catch accidents (a torn write, a damaged disk), which a CRC-32 does at
/// a tenth of a SHA-256's cost on a 35 MB artifact; it does not stand against someone
/// who can write the cache directory, and nothing could: the artifact is machine code.
fn artifact_file(digest: &[u8; 32], artifact: &[u8]) -> Vec<u8> {
    let mut file = Vec::with_capacity(ARTIFACT_MAGIC.len() + 36 + artifact.len());
    file.extend_from_slice(ARTIFACT_MAGIC);
    file.extend_from_slice(digest);
    file.extend_from_slice(&crc32fast::hash(artifact).to_le_bytes());
    file.extend_from_slice(artifact);
    file
}

/// The artifact in a cache file, if the file is whole and is that of the component
/// whose SHA-256 is `digest`.
fn check_artifact_file<'a>(file: &'a [u8], digest: &[u8; 32]) -> Result<&'a [u8], String> {
    let rest = file
        .strip_prefix(ARTIFACT_MAGIC.as_slice())
        .ok_or("not a Portcullis artifact file")?;
    let (source, rest) = rest.split_at_checked(32).ok_or("truncated")?;
    let (sum, artifact) = rest.split_at_checked(4).ok_or("truncated")?;
    if source != digest {
        return Err("the artifact of another component".to_owned());
    }
    if crc32fast::hash(artifact).to_le_bytes().as_slice() != sum {
        return Err("damaged: its checksum does not match".to_owned());
    }
    Ok(artifact)
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Feeds a `Hash` into a SHA-256, so the engine's compatibility hash names files the
/// same way in every build (`DefaultHasher` may change between Rust versions).
struct Sha256Hasher<'a>(&'a mut Sha256);

impl Hasher for Sha256Hasher<'_> {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

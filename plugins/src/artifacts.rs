//! Where compiled components are shared between hosts, besides each one's cache
//! directory (`crate::cache`).

/// Where compiled components are kept besides a host's cache directory, shared by every
/// host that reads it: a governance state, so that the nodes of one database compile a
/// component once between them (`StateArtifacts`). It holds cache files under their
/// names; a host checks a file from it as it checks one of its own directory.
pub trait ArtifactStore: Send + Sync {
    /// The file stored under `name`, if any (an error counts as none: the host then
    /// compiles).
    fn get(&self, name: &str) -> Option<Vec<u8>>;
    /// Stores `file` under `name` (a failure only costs another host a compile).
    fn put(&self, name: &str, file: &[u8]);
}

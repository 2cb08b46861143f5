//! The identity cache: an unchanged file is never hashed twice.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use dashmap::DashMap;

use super::{inspect_open, FileIdentity, IdentityError, TrustRoots};

/// A file's identity on disk. Equal keys mean the same, unchanged file.
///
/// Besides the device, inode, size and modification time, the key holds the inode
/// change time: unlike the modification time, no unprivileged call can set it back,
/// so a file rewritten and then `touch`ed to its old time still misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileKey {
    /// Device id.
    pub device: u64,
    /// Inode number.
    pub inode: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified: i128,
    /// Inode change time, nanoseconds since the epoch.
    pub changed: i128,
}

impl FileKey {
    /// The key of an open file, on systems that expose inodes (Unix). `None`
    /// elsewhere: there the cache does not cache.
    pub fn of(file: &File) -> std::io::Result<Option<FileKey>> {
        let meta = file.metadata()?;
        Ok(key(&meta))
    }
}

#[cfg(unix)]
fn key(meta: &std::fs::Metadata) -> Option<FileKey> {
    use std::os::unix::fs::MetadataExt;
    let nanos = |secs: i64, nsec: i64| i128::from(secs) * 1_000_000_000 + i128::from(nsec);
    Some(FileKey {
        device: meta.dev(),
        inode: meta.ino(),
        size: meta.size(),
        modified: nanos(meta.mtime(), meta.mtime_nsec()),
        changed: nanos(meta.ctime(), meta.ctime_nsec()),
    })
}

#[cfg(not(unix))]
fn key(_meta: &std::fs::Metadata) -> Option<FileKey> {
    None
}

/// Identities of files by [`FileKey`], shared between threads (dashmap).
///
/// When it holds `capacity` entries it is emptied before the next insertion: simple,
/// and bounded.
#[derive(Debug)]
pub struct IdentityCache {
    map: DashMap<FileKey, Arc<FileIdentity>>,
    roots: TrustRoots,
    capacity: usize,
}

impl IdentityCache {
    /// The default capacity.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty cache whose signatures are judged `trusted` against `roots`.
    pub fn new(roots: TrustRoots) -> Self {
        Self::with_capacity(roots, Self::DEFAULT_CAPACITY)
    }

    /// An empty cache holding at most `capacity` identities.
    pub fn with_capacity(roots: TrustRoots, capacity: usize) -> Self {
        IdentityCache {
            map: DashMap::new(),
            roots,
            capacity: capacity.max(1),
        }
    }

    /// The identity of the file at `path`: from the cache when the file is unchanged
    /// since it was last inspected, else inspected now (and cached when the file did
    /// not change while it was read).
    pub fn inspect(&self, path: &Path) -> Result<Arc<FileIdentity>, IdentityError> {
        self.inspect_file(&File::open(path)?)
    }

    /// As [`IdentityCache::inspect`], for a file already open (an agent's event
    /// descriptor): no path is resolved and nothing is opened again. The file is read
    /// from its start; its position moves.
    pub fn inspect_file(&self, file: &File) -> Result<Arc<FileIdentity>, IdentityError> {
        let meta = file.metadata()?;
        if let Some(hit) = self.cached(&meta) {
            return Ok(hit);
        }
        if !meta.is_file() {
            return Err(IdentityError::NotAFile);
        }
        let identity = Arc::new(inspect_open(&mut &*file, meta.len(), &self.roots)?);
        if let Some(k) = key(&meta) {
            if FileKey::of(file)? == Some(k) {
                if self.map.len() >= self.capacity {
                    self.map.clear();
                }
                self.map.insert(k, Arc::clone(&identity));
            }
        }
        Ok(identity)
    }

    /// The identity of the file `meta` describes when it is cached (the file is
    /// unchanged since it was inspected); `None` when it would have to be read.
    pub fn cached(&self, meta: &std::fs::Metadata) -> Option<Arc<FileIdentity>> {
        if !meta.is_file() {
            return None;
        }
        let k = key(meta)?;
        self.map.get(&k).map(|e| Arc::clone(e.value()))
    }

    /// How many identities are cached.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Nothing cached.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Forgets everything (e.g. after the trust roots changed).
    pub fn clear(&self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_until_the_file_changes() {
        let dir = std::env::temp_dir().join(format!("portcullis-cache-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        std::fs::write(&path, b"one").unwrap();
        let cache = IdentityCache::new(TrustRoots::none());
        let a = cache.inspect(&path).unwrap();
        let b = cache.inspect(&path).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(cache.len(), 1);
        std::fs::write(&path, b"two!").unwrap();
        let c = cache.inspect(&path).unwrap();
        assert_ne!(c.sha256, a.sha256);
        assert_eq!(c.sha256, super::super::sha256_bytes(b"two!"));
        assert!(cache.inspect(&dir).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_open_file_is_read_from_its_start_and_then_only_looked_up() {
        use std::io::{Read as _, Seek as _};
        let dir = std::env::temp_dir().join(format!("portcullis-open-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.bin");
        std::fs::write(&path, b"open file").unwrap();
        let cache = IdentityCache::new(TrustRoots::none());
        let mut file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        assert!(cache.cached(&meta).is_none());
        // Somewhere in the middle: the identity is still the whole file's.
        file.read_exact(&mut [0u8; 4]).unwrap();
        let a = cache.inspect_file(&file).unwrap();
        assert_eq!(a.sha256, super::super::sha256_bytes(b"open file"));
        assert!(Arc::ptr_eq(&cache.cached(&meta).unwrap(), &a));
        assert!(Arc::ptr_eq(&cache.inspect(&path).unwrap(), &a));
        file.rewind().unwrap();
        let directory = File::open(&dir).unwrap();
        assert!(cache.cached(&directory.metadata().unwrap()).is_none());
        assert!(cache.inspect_file(&directory).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

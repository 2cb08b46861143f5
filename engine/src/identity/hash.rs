//! Streaming digests. SHA-256 comes from `sha2`, which picks the CPU's SHA extensions
//! at run time and otherwise its assembly backend (the `asm` feature).

use std::io::{self, Read};

use serde::Serialize;
use sha2::Digest as _;

use crate::model::Sha256;

/// The size of one read when hashing a file. Large enough that system calls cost
/// nothing next to the hashing, small enough to stay in the L2 cache.
pub(crate) const CHUNK: usize = 256 * 1024;

/// A digest algorithm an Authenticode signature can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-1 (legacy signatures).
    Sha1,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// Recognises a digest AlgorithmIdentifier OID (DER contents).
    pub(crate) fn from_oid(oid: &[u8]) -> Option<Self> {
        use super::der::oid;
        Some(match oid {
            o if o == oid::SHA1 => Self::Sha1,
            o if o == oid::SHA256 => Self::Sha256,
            o if o == oid::SHA384 => Self::Sha384,
            o if o == oid::SHA512 => Self::Sha512,
            _ => return None,
        })
    }

    /// The digest of `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }
}

/// One running digest of any [`DigestAlgorithm`].
#[derive(Clone)]
pub(crate) enum Hasher {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: DigestAlgorithm) -> Self {
        match algorithm {
            DigestAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            DigestAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => Self::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
            Self::Sha384(h) => h.update(data),
            Self::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Sha384(h) => h.finalize().to_vec(),
            Self::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// SHA-256 of everything `reader` yields, read in fixed-size chunks so that a file of
/// any size hashes in constant memory. Returns the digest and the number of bytes.
pub fn sha256_reader<R: Read>(mut reader: R) -> io::Result<(Sha256, u64)> {
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        total += n as u64;
    }
    Ok((Sha256(hasher.finalize().into()), total))
}

/// SHA-256 of a byte slice.
pub fn sha256_bytes(data: &[u8]) -> Sha256 {
    Sha256(sha2::Sha256::digest(data).into())
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        assert_eq!(
            sha256_bytes(b"abc").to_string(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let data = vec![0x61u8; CHUNK * 3 + 17];
        let (streamed, n) = sha256_reader(&data[..]).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(streamed, sha256_bytes(&data));
        assert_eq!(
            hex(&DigestAlgorithm::Sha1.digest(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(DigestAlgorithm::Sha384.digest(b"").len(), 48);
        assert_eq!(DigestAlgorithm::Sha512.digest(b"").len(), 64);
    }
}

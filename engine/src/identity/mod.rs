//! File identity: who a file is. Its SHA-256, and for Windows PE images (PE32 and
//! PE32+, EFI images included) its Authenticode signatures and their certificates.
//!
//! - [`inspect_file`] (or [`inspect_reader`]) reads a file once, in fixed-size chunks,
//!   computing its SHA-256 and, for a PE, its Authenticode digest in the same pass.
//! - [`IdentityCache`] remembers identities by the file's identity on disk, so an
//!   unchanged file is never hashed twice.
//! - [`Certificate`] / [`parse_certificates`] read X.509 certificates (DER or PEM).
//!   Names come out in the engine's canonical distinguished-name form, which a bundle's
//!   `certificate.subject` and `certificate.issuer` accept as is.
//!
//! # The Authenticode digest
//!
//! The digest covers the whole file except the optional header's `CheckSum`, the
//! certificate-table directory entry, and the certificate table itself (which must
//! come last: bytes after it make every signature `invalid`, `malformed`; so does
//! anything in it but signatures: an entry that is not one PKCS#7 value and at most 7
//! zero bytes of padding, or more than 7 bytes after the last entry). For an
//! unsigned image, the file is padded with zeros to a multiple of 8 bytes first, as
//! signing tools do, so the digest reported before signing is the one signed.
//!
//! # Signature status
//!
//! A file is `valid` when at least one of its signatures (certificate-table entries,
//! and signatures nested in them) is: structure, signed attributes, the signer's
//! signature, every included certificate's signature by its included issuer, and the
//! image digest all check out. `valid` says nothing about whether the chain reaches a
//! root you trust: that is `trusted`, reported against [`TrustRoots`] you choose.
//! Certificate validity periods and time stamps are reported, not judged.
//!
//! # Hostile input
//!
//! Every offset is checked against the file's length before it is read; the largest
//! allocation is bounded ([`MAX_CERT_TABLE`], [`MAX_SIGNATURES`],
//! [`MAX_CERTIFICATES_PER_SIGNATURE`]), and so is the work ([`MAX_VERIFICATIONS`]). A file that claims structures past its end is an
//! [`IdentityError`]; a signature that cannot be read is `invalid` with reason
//! `malformed`.

mod authenticode;
mod cache;
mod cert;
mod der;
mod hash;
mod pe;
mod verify;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;

pub use authenticode::{
    InvalidReason, MAX_CERTIFICATES_PER_SIGNATURE, MAX_SIGNATURES, MAX_VERIFICATIONS,
};
pub use cache::{FileKey, IdentityCache};
pub use cert::{parse_certificates, Certificate, CertificateError, TrustRoots, MAX_CERTIFICATES};
pub use hash::{sha256_bytes, sha256_reader, DigestAlgorithm};
pub use pe::{PeFormat, MAX_CERT_TABLE};

use crate::model::{Sha256, SignatureStatus};
use authenticode::{Candidate, Problem};
use hash::{hex, Hasher, CHUNK};

/// Who a file is: what `portcullis inspect` prints (without the path).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct FileIdentity {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file.
    pub sha256: Sha256,
    /// For a PE image: its Authenticode digest with SHA-256 (see the module docs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authenticode_digest: Option<Sha256>,
    /// For a PE image: PE32 or PE32+ (not printed: an event has no such field).
    #[serde(skip)]
    pub format: Option<PeFormat>,
    /// The signature, in the shape an execution event's `signature` takes.
    pub signature: SignatureReport,
}

/// A file's signatures. `status`, `signers` (with `subject`, `issuer`, `thumbprint`)
/// are what an execution event reads; the rest is for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SignatureReport {
    /// `valid` when at least one signature is, else `invalid`, or `unsigned`.
    pub status: SignatureStatus,
    /// Why it is `invalid`: the reason of the first signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidReason>,
    /// The certificates of the first valid signature (else of the first one), leaf
    /// first, then its issuers as far as they are included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<Certificate>,
    /// Whether that chain reaches one of the trust roots given; absent when none were.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
    /// Every signature: certificate-table entries in order, each followed by the
    /// signatures nested in it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<SignatureDetail>,
}

/// One Authenticode signature.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct SignatureDetail {
    /// `valid` or `invalid`.
    pub status: SignatureStatus,
    /// Why it is `invalid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<InvalidReason>,
    /// What exactly is wrong, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The certificate-table entry it is in (0-based).
    pub entry: usize,
    /// The index in `signatures` of the signature it is nested in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nested_in: Option<usize>,
    /// The digest algorithm of the image digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_algorithm: Option<DigestAlgorithm>,
    /// The image digest the signature carries (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signed_digest: Option<String>,
    /// The file's image digest with the same algorithm (hex).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
    /// Leaf first, then its issuers as far as they are included.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<Certificate>,
    /// Whether the chain reaches a trust root; absent when none were given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted: Option<bool>,
}

/// Why a file's identity could not be established.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// Reading failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    /// Not a regular file.
    #[error("not a regular file")]
    NotAFile,
    /// A PE structure lies (partly) past the end of the file.
    #[error("truncated PE file: the {structure} (bytes {start}..{end}) extends past the end of the file ({size} bytes)")]
    Truncated {
        /// What was being read.
        structure: String,
        /// Where it starts.
        start: u64,
        /// Where it ends.
        end: u64,
        /// The file's size.
        size: u64,
    },
    /// A PE structure is impossible.
    #[error("malformed PE file: {0}")]
    Malformed(String),
    /// A structure is larger than this engine reads.
    #[error("the {structure} is {size} bytes, more than the limit of {limit}")]
    TooLarge {
        /// What was being read.
        structure: String,
        /// Its claimed size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The file's size changed while it was read.
    #[error("the file changed while it was read ({expected} bytes expected, {found} read)")]
    Changed {
        /// The size at the start.
        expected: u64,
        /// The bytes read.
        found: u64,
    },
}

/// Inspects the file at `path`.
pub fn inspect_file(path: &Path, roots: &TrustRoots) -> Result<FileIdentity, IdentityError> {
    let mut file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(IdentityError::NotAFile);
    }
    inspect_open(&mut file, meta.len(), roots)
}

/// Inspects what `reader` holds, from its start to its end.
pub fn inspect_reader<R: Read + Seek>(
    reader: &mut R,
    roots: &TrustRoots,
) -> Result<FileIdentity, IdentityError> {
    let len = reader.seek(SeekFrom::End(0))?;
    inspect_open(reader, len, roots)
}

/// A byte range the Authenticode digest leaves out.
type Skip = (u64, u64);

fn inspect_open<R: Read + Seek>(
    r: &mut R,
    len: u64,
    roots: &TrustRoots,
) -> Result<FileIdentity, IdentityError> {
    let layout = pe::layout(r, len)?;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut image_problem = None;
    if let Some((offset, size)) = layout.as_ref().and_then(|l| l.cert_table) {
        let table = pe::read_cert_table(r, len, (offset, size))?;
        let (found, table_problem) = authenticode::signatures(&table);
        candidates = found;
        image_problem = table_problem.map(|p| format!("malformed certificate table: {p}"));
        let end = offset + size;
        if end < len && image_problem.is_none() {
            image_problem = Some(format!(
                "{} bytes after the certificate table are not covered by any signature",
                len - end
            ));
        }
    }

    // One pass: the file's SHA-256, and the image digest with every algorithm needed.
    let mut image: BTreeMap<DigestAlgorithm, Hasher> = BTreeMap::new();
    if layout.is_some() {
        image.insert(
            DigestAlgorithm::Sha256,
            Hasher::new(DigestAlgorithm::Sha256),
        );
        for c in &candidates {
            if let Ok(p) = &c.outcome {
                image
                    .entry(p.digest_algorithm)
                    .or_insert_with(|| Hasher::new(p.digest_algorithm));
            }
        }
    }
    let mut skips: Vec<Skip> = Vec::new();
    let mut image_end = len;
    if let Some(l) = &layout {
        skips.push((l.checksum, l.checksum + 4));
        if let Some(dir) = l.cert_dir {
            skips.push((dir, dir + 8));
        }
        if let Some((offset, _)) = l.cert_table {
            image_end = offset;
        }
    }
    skips.sort_unstable();
    let mut whole = Hasher::new(DigestAlgorithm::Sha256);
    r.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; CHUNK];
    let mut pos = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        whole.update(chunk);
        if !image.is_empty() {
            feed_image(&mut image, chunk, pos, image_end, &skips);
        }
        pos += n as u64;
    }
    if pos != len {
        return Err(IdentityError::Changed {
            expected: len,
            found: pos,
        });
    }
    let padding = if layout.as_ref().is_some_and(|l| l.cert_table.is_none()) {
        (8 - image_end % 8) % 8
    } else {
        0
    };
    let zeros = [0u8; 8];
    let image: BTreeMap<DigestAlgorithm, Vec<u8>> = image
        .into_iter()
        .map(|(alg, mut h)| {
            h.update(zeros.get(..padding as usize).unwrap_or_default());
            (alg, h.finish())
        })
        .collect();
    let sha256 = to_sha256(whole.finish());
    let authenticode_digest = image.get(&DigestAlgorithm::Sha256).cloned().map(to_sha256);
    let signed = layout.as_ref().is_some_and(|l| l.cert_table.is_some());
    let signature = report(candidates, &image, image_problem, roots, signed);
    Ok(FileIdentity {
        size: len,
        sha256,
        authenticode_digest,
        format: layout.map(|l| l.format),
        signature,
    })
}

fn to_sha256(bytes: Vec<u8>) -> Sha256 {
    let mut out = [0u8; 32];
    if bytes.len() == 32 {
        out.copy_from_slice(&bytes);
    }
    Sha256(out)
}

/// Feeds the part of `chunk` (at file offset `pos`) that lies before `end` and outside
/// `skips` to every image hasher.
fn feed_image(
    image: &mut BTreeMap<DigestAlgorithm, Hasher>,
    chunk: &[u8],
    pos: u64,
    end: u64,
    skips: &[Skip],
) {
    let chunk_end = (pos + chunk.len() as u64).min(end);
    let mut at = pos;
    let mut feed = |from: u64, to: u64| {
        if from < to {
            let a = (from - pos) as usize;
            let b = (to - pos) as usize;
            if let Some(part) = chunk.get(a..b) {
                for h in image.values_mut() {
                    h.update(part);
                }
            }
        }
    };
    for &(s, e) in skips {
        if e <= at || s >= chunk_end {
            continue;
        }
        feed(at, s.max(at));
        at = e.max(at);
        if at >= chunk_end {
            break;
        }
    }
    if at < chunk_end {
        feed(at, chunk_end);
    }
}

fn report(
    candidates: Vec<Candidate>,
    image: &BTreeMap<DigestAlgorithm, Vec<u8>>,
    image_problem: Option<String>,
    roots: &TrustRoots,
    signed: bool,
) -> SignatureReport {
    if !signed {
        return SignatureReport {
            status: SignatureStatus::Unsigned,
            reason: None,
            signers: Vec::new(),
            trusted: None,
            signatures: Vec::new(),
        };
    }
    let signatures: Vec<SignatureDetail> = candidates
        .into_iter()
        .map(|c| {
            let mut detail = SignatureDetail {
                status: SignatureStatus::Invalid,
                reason: None,
                detail: None,
                entry: c.entry,
                nested_in: c.nested_in,
                digest_algorithm: None,
                signed_digest: None,
                image_digest: None,
                signers: Vec::new(),
                trusted: None,
            };
            let problem = match c.outcome {
                Err(problem) => Some(problem),
                Ok(parsed) => {
                    let computed = image.get(&parsed.digest_algorithm);
                    detail.digest_algorithm = Some(parsed.digest_algorithm);
                    detail.signed_digest = Some(hex(&parsed.signed_digest));
                    detail.image_digest = computed.map(|d| hex(d));
                    detail.trusted = parsed.trusted(roots);
                    detail.signers = parsed.chain.iter().map(|c| c.info.clone()).collect();
                    match parsed.check {
                        Err(problem) => Some(problem),
                        Ok(()) => match &image_problem {
                            Some(p) => Some(Problem {
                                reason: InvalidReason::Malformed,
                                detail: p.clone(),
                            }),
                            None if computed != Some(&parsed.signed_digest) => Some(Problem {
                                reason: InvalidReason::DigestMismatch,
                                detail: "the file's Authenticode digest differs from the signed one: the image was changed after signing".into(),
                            }),
                            None => None,
                        },
                    }
                }
            };
            match problem {
                Some(p) => {
                    detail.reason = Some(p.reason);
                    detail.detail = Some(p.detail);
                }
                None => detail.status = SignatureStatus::Valid,
            }
            detail
        })
        .collect();
    let chosen = signatures
        .iter()
        .find(|s| s.status == SignatureStatus::Valid)
        .or(signatures.first());
    SignatureReport {
        status: chosen.map_or(SignatureStatus::Invalid, |s| s.status),
        reason: chosen.and_then(|s| s.reason),
        signers: chosen.map(|s| s.signers.clone()).unwrap_or_default(),
        trusted: chosen.and_then(|s| s.trusted),
        signatures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_are_cut_out_across_chunk_edges() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let skips = [(10u64, 14u64), (100, 108)];
        let end = 900u64;
        let mut expected = Vec::new();
        expected.extend_from_slice(&data[..10]);
        expected.extend_from_slice(&data[14..100]);
        expected.extend_from_slice(&data[108..900]);
        for chunk_size in [1usize, 3, 7, 8, 13, 64, 999, 1000] {
            let mut image = BTreeMap::new();
            image.insert(
                DigestAlgorithm::Sha256,
                Hasher::new(DigestAlgorithm::Sha256),
            );
            let mut pos = 0u64;
            for chunk in data.chunks(chunk_size) {
                feed_image(&mut image, chunk, pos, end, &skips);
                pos += chunk.len() as u64;
            }
            let got = image.remove(&DigestAlgorithm::Sha256).unwrap().finish();
            assert_eq!(
                got,
                DigestAlgorithm::Sha256.digest(&expected),
                "chunk {chunk_size}"
            );
        }
    }

    #[test]
    fn not_a_pe_is_unsigned() {
        let id =
            inspect_reader(&mut io::Cursor::new(b"hello".to_vec()), &TrustRoots::none()).unwrap();
        assert_eq!(id.signature.status, SignatureStatus::Unsigned);
        assert_eq!(id.sha256, sha256_bytes(b"hello"));
        assert_eq!(id.authenticode_digest, None);
        assert_eq!(id.size, 5);
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<FileIdentity>();
        check::<IdentityCache>();
        check::<TrustRoots>();
        check::<IdentityError>();
        check::<Certificate>();
    }
}

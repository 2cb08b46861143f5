//! Signature verification with `ring`: RSA PKCS#1 v1.5 (1024–8192 bits; SHA-384 needs
//! 2048 bits or more), ECDSA on P-256 and P-384, and Ed25519. Anything else is
//! reported as unsupported rather than guessed at.

use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};

use super::der::{oid, oid_to_string};
use super::hash::DigestAlgorithm;

/// A subject public key, kept owned so that trust roots outlive their PEM text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicKey {
    pub kind: KeyKind,
    /// The BIT STRING contents: an RSAPublicKey, an EC point, or an Ed25519 key.
    pub bits: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    /// The algorithm (and curve) in dotted form.
    Other(String),
}

impl PublicKey {
    /// From a SubjectPublicKeyInfo's algorithm OID, its parameters' contents (the
    /// curve OID for EC keys) and the key bits.
    pub fn new(algorithm: &[u8], parameter: Option<&[u8]>, bits: &[u8]) -> Self {
        let kind = match algorithm {
            a if a == oid::RSA => KeyKind::Rsa,
            a if a == oid::ED25519 => KeyKind::Ed25519,
            a if a == oid::EC_PUBLIC_KEY => match parameter {
                Some(p) if p == oid::P256 => KeyKind::EcP256,
                Some(p) if p == oid::P384 => KeyKind::EcP384,
                Some(p) => KeyKind::Other(format!("EC key on curve {}", oid_to_string(p))),
                None => KeyKind::Other("EC key without a named curve".into()),
            },
            a => KeyKind::Other(format!("key algorithm {}", oid_to_string(a))),
        };
        PublicKey {
            kind,
            bits: bits.to_vec(),
        }
    }
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VerifyError {
    /// The signature does not verify with this key.
    Bad,
    /// The algorithm, key type or key size is not one this module checks.
    Unsupported(String),
}

/// Verifies `signature` over `message`. `algorithm` is the signature
/// AlgorithmIdentifier OID; when it names only the key type (`rsaEncryption`,
/// `id-ecPublicKey`, as PKCS#7 SignerInfos may), `digest` gives the hash.
pub(crate) fn verify(
    key: &PublicKey,
    algorithm: &[u8],
    digest: Option<DigestAlgorithm>,
    message: &[u8],
    signature: &[u8],
) -> Result<(), VerifyError> {
    use DigestAlgorithm as D;
    let hash = match algorithm {
        a if a == oid::RSA_SHA1 => Some(D::Sha1),
        a if a == oid::RSA_SHA256 || a == oid::ECDSA_SHA256 => Some(D::Sha256),
        a if a == oid::RSA_SHA384 || a == oid::ECDSA_SHA384 => Some(D::Sha384),
        a if a == oid::RSA_SHA512 => Some(D::Sha512),
        a if a == oid::RSA || a == oid::EC_PUBLIC_KEY => digest,
        a if a == oid::ED25519 => None,
        a => {
            return Err(VerifyError::Unsupported(format!(
                "signature algorithm {}",
                oid_to_string(a)
            )))
        }
    };
    let is_rsa_alg = [
        oid::RSA,
        oid::RSA_SHA1,
        oid::RSA_SHA256,
        oid::RSA_SHA384,
        oid::RSA_SHA512,
    ]
    .contains(&algorithm);
    let is_ec_alg = [oid::EC_PUBLIC_KEY, oid::ECDSA_SHA256, oid::ECDSA_SHA384].contains(&algorithm);
    let mismatch = || {
        VerifyError::Unsupported(format!(
            "signature algorithm {} with {}",
            oid_to_string(algorithm),
            key_name(&key.kind)
        ))
    };
    let alg: &'static dyn VerificationAlgorithm = match (&key.kind, hash) {
        (KeyKind::Rsa, Some(h)) if is_rsa_alg => match h {
            D::Sha1 => &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY,
            D::Sha256 => &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            D::Sha384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            D::Sha512 => &signature::RSA_PKCS1_1024_8192_SHA512_FOR_LEGACY_USE_ONLY,
        },
        (KeyKind::EcP256, Some(D::Sha256)) if is_ec_alg => &signature::ECDSA_P256_SHA256_ASN1,
        (KeyKind::EcP256, Some(D::Sha384)) if is_ec_alg => &signature::ECDSA_P256_SHA384_ASN1,
        (KeyKind::EcP384, Some(D::Sha256)) if is_ec_alg => &signature::ECDSA_P384_SHA256_ASN1,
        (KeyKind::EcP384, Some(D::Sha384)) if is_ec_alg => &signature::ECDSA_P384_SHA384_ASN1,
        (KeyKind::Ed25519, None) if algorithm == oid::ED25519 => &signature::ED25519,
        (KeyKind::Other(name), _) => return Err(VerifyError::Unsupported(name.clone())),
        _ => return Err(mismatch()),
    };
    if key.kind == KeyKind::Rsa {
        check_rsa_size(&key.bits, hash)?;
    }
    UnparsedPublicKey::new(alg, &key.bits)
        .verify(message, signature)
        .map_err(|_| VerifyError::Bad)
}

fn key_name(kind: &KeyKind) -> &str {
    match kind {
        KeyKind::Rsa => "an RSA key",
        KeyKind::EcP256 => "a P-256 key",
        KeyKind::EcP384 => "a P-384 key",
        KeyKind::Ed25519 => "an Ed25519 key",
        KeyKind::Other(name) => name,
    }
}

/// `ring` answers "bad signature" for a key size it does not take; say which it is.
fn check_rsa_size(rsa_public_key: &[u8], hash: Option<DigestAlgorithm>) -> Result<(), VerifyError> {
    use super::der::{tag, Reader};
    let modulus_bits = Reader::new(rsa_public_key)
        .sequence("RSA public key")
        .and_then(|mut seq| seq.expect(tag::INTEGER, "RSA modulus"))
        .map(|n| {
            let bytes = n.value;
            let skip = bytes.iter().take_while(|&&b| b == 0).count();
            let significant = bytes.get(skip..).unwrap_or_default();
            match significant.first() {
                Some(&top) => (significant.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
                None => 0,
            }
        })
        .map_err(|e| VerifyError::Unsupported(format!("malformed RSA key ({e})")))?;
    let min = if hash == Some(DigestAlgorithm::Sha384) {
        2048
    } else {
        1024
    };
    if !(min..=8192).contains(&modulus_bits) {
        return Err(VerifyError::Unsupported(format!(
            "{modulus_bits}-bit RSA key (supported: {min} to 8192 bits)"
        )));
    }
    Ok(())
}

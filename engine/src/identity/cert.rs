//! X.509 certificates (x509-parser): what a rule author needs to write a certificate
//! condition, and what verification needs (names as DER, the key, the signature).

use serde::Serialize;
use x509_parser::certificate::X509Certificate;
use x509_parser::pem::Pem;
use x509_parser::x509::X509Name;

use super::hash::{hex, sha256_bytes, DigestAlgorithm};
use super::verify::{self, PublicKey, VerifyError};
use crate::model::dn::{AttributeType, DistinguishedName};
use crate::model::{Sha256, Timestamp};

/// At most this many certificates are read from one PEM or DER input.
pub const MAX_CERTIFICATES: usize = 10_000;

/// One certificate, as a rule author reads it.
///
/// `subject` and `issuer` are rendered in the engine's canonical distinguished-name
/// form (RFC 4514 order: most specific attribute first, e.g. `CN=…, O=…, C=US`), which
/// a bundle's `certificate.subject` / `certificate.issuer` accepts as is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Certificate {
    /// The subject; absent only when the certificate's subject is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<DistinguishedName>,
    /// The issuer; absent only when the certificate's issuer is empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<DistinguishedName>,
    /// The serial number in lowercase hexadecimal, without leading zero bytes.
    pub serial: String,
    /// SHA-256 of the DER encoding (what certificate conditions call `thumbprint`).
    pub thumbprint: Sha256,
    /// SHA-1 of the DER encoding, as Windows shows it, in lowercase hexadecimal.
    pub sha1: String,
    /// Start of the validity period.
    pub not_before: Timestamp,
    /// End of the validity period.
    pub not_after: Timestamp,
    /// Key usage bits that are set (`digital_signature`, `key_cert_sign` …); empty when
    /// the extension is absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub key_usage: Vec<&'static str>,
    /// Extended key usages (`code_signing`, `time_stamping` …, other OIDs dotted);
    /// empty when the extension is absent.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extended_key_usage: Vec<String>,
    /// The extended key usage allows code signing (it lists `code_signing` or
    /// `any`).
    pub code_signing: bool,
    /// A CA certificate (basic constraints).
    pub is_ca: bool,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The DER is not an X.509 certificate.
    #[error("not an X.509 certificate: {0}")]
    Der(String),
    /// A PEM block could not be decoded.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// The input holds no certificate at all.
    #[error("no certificate found (expected DER or PEM `-----BEGIN CERTIFICATE-----` blocks)")]
    Empty,
    /// More than [`MAX_CERTIFICATES`] certificates.
    #[error("more than {MAX_CERTIFICATES} certificates")]
    TooMany,
}

impl Certificate {
    /// Reads one DER-encoded certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, CertificateError> {
        Ok(ParsedCertificate::from_der(der)?.info)
    }
}

/// Reads every certificate of a DER certificate or of PEM text (every
/// `CERTIFICATE` block; other blocks and text between blocks are ignored).
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Certificate>, CertificateError> {
    Ok(parse_all(input)?.into_iter().map(|c| c.info).collect())
}

pub(crate) fn parse_all(input: &[u8]) -> Result<Vec<ParsedCertificate>, CertificateError> {
    if input.first() == Some(&0x30) {
        return Ok(vec![ParsedCertificate::from_der(input)?]);
    }
    let mut out = Vec::new();
    for (n, block) in Pem::iter_from_buffer(input).enumerate() {
        let block = block.map_err(|e| CertificateError::Pem(format!("block {}: {e}", n + 1)))?;
        if block.label != "CERTIFICATE" && block.label != "TRUSTED CERTIFICATE" {
            continue;
        }
        if out.len() >= MAX_CERTIFICATES {
            return Err(CertificateError::TooMany);
        }
        let cert = ParsedCertificate::from_der_prefix(&block.contents)
            .map_err(|e| CertificateError::Der(format!("block {}: {e}", n + 1)))?;
        out.push(cert);
    }
    if out.is_empty() {
        return Err(CertificateError::Empty);
    }
    Ok(out)
}

/// A certificate with the parts verification needs, owned.
#[derive(Debug, Clone)]
pub(crate) struct ParsedCertificate {
    pub info: Certificate,
    pub der: Vec<u8>,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    /// The serial INTEGER's contents as encoded.
    pub serial_raw: Vec<u8>,
    pub subject_key_id: Option<Vec<u8>>,
    pub key: PublicKey,
    /// Basic constraints' `pathLenConstraint`.
    path_len: Option<u32>,
    /// The key usage extension is present.
    has_key_usage: bool,
    /// The extended key usage extension is present.
    has_extended_key_usage: bool,
    tbs: std::ops::Range<usize>,
    signature_algorithm: Vec<u8>,
    signature: Vec<u8>,
}

impl ParsedCertificate {
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (rest, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertificateError::Der(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::Der(format!(
                "{} unexpected bytes after the certificate",
                rest.len()
            )));
        }
        Self::build(&cert)
    }

    /// A certificate followed by anything (OpenSSL's `TRUSTED CERTIFICATE` appends
    /// its trust settings).
    fn from_der_prefix(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| CertificateError::Der(e.to_string()))?;
        Self::build(&cert)
    }

    fn build(cert: &X509Certificate<'_>) -> Result<Self, CertificateError> {
        let der = cert.as_raw();
        let tbs_raw: &[u8] = cert.tbs_certificate.as_ref();
        let tbs_start = (tbs_raw.as_ptr() as usize).wrapping_sub(der.as_ptr() as usize);
        let tbs = tbs_start..tbs_start + tbs_raw.len();
        if der.get(tbs.clone()) != Some(tbs_raw) {
            return Err(CertificateError::Der(
                "cannot locate the signed part".into(),
            ));
        }
        let bad = |what: &str, e: x509_parser::error::X509Error| {
            CertificateError::Der(format!("{what}: {e}"))
        };
        let key_usage = cert
            .key_usage()
            .map_err(|e| bad("key usage", e))?
            .map(|ku| {
                let k = ku.value;
                [
                    (k.digital_signature(), "digital_signature"),
                    (k.non_repudiation(), "non_repudiation"),
                    (k.key_encipherment(), "key_encipherment"),
                    (k.data_encipherment(), "data_encipherment"),
                    (k.key_agreement(), "key_agreement"),
                    (k.key_cert_sign(), "key_cert_sign"),
                    (k.crl_sign(), "crl_sign"),
                    (k.encipher_only(), "encipher_only"),
                    (k.decipher_only(), "decipher_only"),
                ]
                .into_iter()
                .filter_map(|(set, name)| set.then_some(name))
                .collect()
            })
            .unwrap_or_default();
        let has_key_usage = cert.key_usage().map_err(|e| bad("key usage", e))?.is_some();
        let path_len = cert
            .basic_constraints()
            .map_err(|e| bad("basic constraints", e))?
            .and_then(|bc| bc.value.path_len_constraint);
        let mut code_signing = false;
        let mut has_extended_key_usage = false;
        let extended_key_usage = cert
            .extended_key_usage()
            .map_err(|e| bad("extended key usage", e))?
            .map(|eku| {
                let e = eku.value;
                has_extended_key_usage = true;
                code_signing = e.code_signing || e.any;
                let mut names: Vec<String> = [
                    (e.any, "any"),
                    (e.server_auth, "server_auth"),
                    (e.client_auth, "client_auth"),
                    (e.code_signing, "code_signing"),
                    (e.email_protection, "email_protection"),
                    (e.time_stamping, "time_stamping"),
                    (e.ocsp_signing, "ocsp_signing"),
                ]
                .into_iter()
                .filter(|&(set, _)| set)
                .map(|(_, name)| name.to_owned())
                .collect();
                names.extend(e.other.iter().map(|o| o.to_id_string()));
                names
            })
            .unwrap_or_default();
        let subject_key_id = cert
            .iter_extensions()
            .find_map(|ext| match ext.parsed_extension() {
                x509_parser::extensions::ParsedExtension::SubjectKeyIdentifier(id) => {
                    Some(id.0.to_vec())
                }
                _ => None,
            });
        let spki = cert.public_key();
        let key = PublicKey::new(
            spki.algorithm.algorithm.as_bytes(),
            spki.algorithm.parameters.as_ref().map(|p| p.data),
            &spki.subject_public_key.data,
        );
        let serial_raw = cert.raw_serial();
        let skip = serial_raw
            .iter()
            .take_while(|&&b| b == 0)
            .count()
            .min(serial_raw.len().saturating_sub(1));
        let tbs_cert = &cert.tbs_certificate;
        let info = Certificate {
            subject: name(&tbs_cert.subject).map_err(|e| bad_name("subject", &e))?,
            issuer: name(&tbs_cert.issuer).map_err(|e| bad_name("issuer", &e))?,
            serial: hex(serial_raw.get(skip..).unwrap_or_default()),
            thumbprint: sha256_bytes(der),
            sha1: hex(&DigestAlgorithm::Sha1.digest(der)),
            not_before: Timestamp::from_unix(tbs_cert.validity.not_before.timestamp()),
            not_after: Timestamp::from_unix(tbs_cert.validity.not_after.timestamp()),
            key_usage,
            extended_key_usage,
            code_signing,
            is_ca: cert.is_ca(),
        };
        Ok(ParsedCertificate {
            info,
            der: der.to_vec(),
            subject_raw: tbs_cert.subject.as_raw().to_vec(),
            issuer_raw: tbs_cert.issuer.as_raw().to_vec(),
            serial_raw: serial_raw.to_vec(),
            subject_key_id,
            key,
            path_len,
            has_key_usage,
            has_extended_key_usage,
            tbs,
            signature_algorithm: cert.signature_algorithm.algorithm.as_bytes().to_vec(),
            signature: cert.signature_value.data.to_vec(),
        })
    }

    /// The signed part (TBSCertificate) as encoded.
    pub fn tbs(&self) -> &[u8] {
        self.der.get(self.tbs.clone()).unwrap_or_default()
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// May issue certificates, with `below` non-self-issued intermediate CA
    /// certificates under it: basic constraints `cA`, `keyCertSign` when key usage is
    /// present, and the path length.
    pub fn may_sign_certificates(&self, below: usize) -> bool {
        self.info.is_ca
            && (!self.has_key_usage || self.info.key_usage.contains(&"key_cert_sign"))
            && self
                .path_len
                .is_none_or(|n| usize::try_from(n).is_ok_and(|n| below <= n))
    }

    /// May sign code: `codeSigning` (or `any`) when extended key usage is present.
    pub fn may_sign_code(&self) -> bool {
        !self.has_extended_key_usage || self.info.code_signing
    }

    /// Checks this certificate's signature with `issuer`'s key.
    pub fn verify_signed_by(&self, issuer: &PublicKey) -> Result<(), VerifyError> {
        verify::verify(
            issuer,
            &self.signature_algorithm,
            None,
            self.tbs(),
            &self.signature,
        )
    }
}

fn bad_name(which: &str, e: &str) -> CertificateError {
    CertificateError::Der(format!("unreadable {which}: {e}"))
}

/// The name in the engine's canonical form, most specific RDN first (RFC 4514 order,
/// as Windows shows it); `None` for an empty name.
fn name(x509: &X509Name<'_>) -> Result<Option<DistinguishedName>, String> {
    let mut attributes = Vec::new();
    for rdn in x509.iter_rdn().collect::<Vec<_>>().into_iter().rev() {
        for atv in rdn.iter() {
            let oid = atv.attr_type().to_id_string();
            let kind = AttributeType::from_name(&oid).map_err(|e| e.to_string())?;
            let value = atv.attr_value();
            attributes.push((kind, decode_string(value.header.tag().0, value.data)));
        }
    }
    if attributes.is_empty() {
        return Ok(None);
    }
    DistinguishedName::from_attributes(attributes)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// A directory string's text. Types that are not text come out as `#` and the hex
/// of their contents.
fn decode_string(tag: u32, data: &[u8]) -> String {
    const UTF8: u32 = 12;
    const NUMERIC: u32 = 18;
    const PRINTABLE: u32 = 19;
    const TELETEX: u32 = 20;
    const IA5: u32 = 22;
    const VISIBLE: u32 = 26;
    const UNIVERSAL: u32 = 28;
    const BMP: u32 = 30;
    let as_hex = || format!("#{}", hex(data));
    match tag {
        UTF8 | NUMERIC | PRINTABLE | IA5 | VISIBLE => {
            String::from_utf8(data.to_vec()).unwrap_or_else(|_| as_hex())
        }
        // T.61 in practice carries Latin-1.
        TELETEX => data.iter().map(|&b| char::from(b)).collect(),
        BMP if data.len().is_multiple_of(2) => {
            let units = data.chunks_exact(2).map(|c| {
                u16::from_be_bytes([
                    c.first().copied().unwrap_or(0),
                    c.get(1).copied().unwrap_or(0),
                ])
            });
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .unwrap_or_else(|_| as_hex())
        }
        UNIVERSAL if data.len().is_multiple_of(4) => data
            .chunks_exact(4)
            .map(|c| {
                let mut b = [0u8; 4];
                b.copy_from_slice(c);
                char::from_u32(u32::from_be_bytes(b))
            })
            .collect::<Option<String>>()
            .unwrap_or_else(as_hex),
        _ => as_hex(),
    }
}

/// The certificates a chain must reach to be called trusted.
#[derive(Debug, Clone, Default)]
pub struct TrustRoots {
    roots: Vec<ParsedCertificate>,
}

impl TrustRoots {
    /// No roots: nothing is trusted, and reports say that no roots were given.
    pub fn none() -> Self {
        Self::default()
    }

    /// Roots from PEM text (a CA bundle) or one DER certificate.
    pub fn from_pem(input: &[u8]) -> Result<Self, CertificateError> {
        Ok(TrustRoots {
            roots: parse_all(input)?,
        })
    }

    /// How many roots there are.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// No roots at all.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Whether `chain` (leaf first, each certificate issued by the next) ends in a
    /// root: one of its certificates is a root, or a root issued and signed its last.
    /// Up to that root, the leaf must be allowed to sign code and every issuer to issue
    /// certificates (see [`ParsedCertificate::may_sign_certificates`]): a leaf or a
    /// server certificate the root issued cannot make code-signing certificates.
    pub(crate) fn anchors(&self, chain: &[&ParsedCertificate]) -> bool {
        let is_root = |c: &&ParsedCertificate| self.roots.iter().any(|r| r.der == c.der);
        let path: &[&ParsedCertificate] = match chain.iter().position(is_root) {
            Some(k) => chain.get(..=k).unwrap_or_default(),
            None => {
                let Some(top) = chain.last() else {
                    return false;
                };
                let below = intermediates(chain.get(1..).unwrap_or_default());
                let anchored = self
                    .roots
                    .iter()
                    .filter(|r| r.subject_raw == top.issuer_raw)
                    .filter(|r| r.may_sign_certificates(below))
                    .any(|r| top.verify_signed_by(&r.key).is_ok());
                if !anchored {
                    return false;
                }
                chain
            }
        };
        let Some(leaf) = path.first() else {
            return false;
        };
        if !leaf.may_sign_code() {
            return false;
        }
        let issuers = path.get(1..).unwrap_or_default();
        issuers.iter().enumerate().all(|(i, issuer)| {
            issuer.may_sign_certificates(intermediates(issuers.get(..i).unwrap_or_default()))
        })
    }
}

/// How many of `certs` count towards a path length: those not self-issued.
fn intermediates(certs: &[&ParsedCertificate]) -> usize {
    certs.iter().filter(|c| !c.is_self_issued()).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_directory_strings() {
        assert_eq!(decode_string(12, "café".as_bytes()), "café");
        assert_eq!(decode_string(20, &[0x63, 0xe9]), "cé");
        assert_eq!(decode_string(30, &[0, 0x41, 0x00, 0xe9]), "Aé");
        assert_eq!(decode_string(30, &[0, 0x41, 0x00]), "#004100");
        assert_eq!(decode_string(28, &[0, 0, 0, 0x41]), "A");
        assert_eq!(decode_string(4, &[1, 2]), "#0102");
        assert_eq!(decode_string(12, &[0xff]), "#ff");
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            parse_certificates(b""),
            Err(CertificateError::Empty)
        ));
        assert!(matches!(
            parse_certificates(b"hello"),
            Err(CertificateError::Empty)
        ));
        assert!(parse_certificates(&[0x30, 0x03, 1, 2, 3]).is_err());
        assert!(parse_certificates(
            b"-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}

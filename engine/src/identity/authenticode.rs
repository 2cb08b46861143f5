//! Authenticode: the PKCS#7 SignedData in a PE's certificate table, parsed and checked
//! down to the image digest.
//!
//! What is checked, for each signature:
//! 1. the structure: ContentInfo → SignedData → SpcIndirectDataContent (a PE image
//!    digest) with exactly one SignerInfo, whose certificate is included;
//! 2. the signed attributes: `contentType` is SpcIndirectData and `messageDigest`
//!    is the digest of the SpcIndirectDataContent;
//! 3. the SignerInfo's signature over the signed attributes, with the signer's key;
//! 4. every included certificate whose issuer is included too, with the issuer's key,
//!    and every self-issued one with its own key (the chain, leaf first, is followed
//!    as far as it is included; the signing certificate is one whose own signature
//!    verifies, see `choose_signer`);
//! 5. the image digest in SpcIndirectDataContent against the file.
//!
//! Nested signatures (unauthenticated attribute 1.3.6.1.4.1.311.2.4.1) are parsed the
//! same way and reported beside the outer ones. Counter-signatures (time stamps) are
//! not checked.

use serde::Serialize;

use super::cert::{ParsedCertificate, TrustRoots};
use super::der::{self, oid, tag, DerError, Reader, Tlv};
use super::hash::DigestAlgorithm;
use super::verify::{self, VerifyError};

/// At most this many signatures (table entries and nested ones) are read per file.
pub const MAX_SIGNATURES: usize = 32;
/// Nested signatures are followed this deep.
const MAX_DEPTH: usize = 4;
/// At most this many certificates per SignedData.
pub const MAX_CERTIFICATES_PER_SIGNATURE: usize = 64;
/// At most this many signature verifications per file: a hostile file can ask for
/// many (every included certificate against each namesake, in every signature).
pub const MAX_VERIFICATIONS: usize = 256;
/// At most this many signed, or unsigned, attributes per SignerInfo.
const MAX_ATTRIBUTES: usize = 64;
/// Certificates with the same subject tried as the issuer of one certificate.
const MAX_ISSUER_CANDIDATES: usize = 4;

/// The signature verifications left for one file.
struct Budget(std::cell::Cell<usize>);

impl Budget {
    fn spend(&self) -> Result<(), Problem> {
        let left = self.0.get();
        if left == 0 {
            return Err(Problem::malformed(format!(
                "more than {MAX_VERIFICATIONS} signature verifications in one file; the rest are not made"
            )));
        }
        self.0.set(left - 1);
        Ok(())
    }
}

/// Why a signature is `invalid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum InvalidReason {
    /// The file's Authenticode digest differs from the signed one: the image was
    /// changed after signing.
    DigestMismatch,
    /// A signature does not verify: the signer's over its signed attributes, or an
    /// included certificate's by its issuer, or the signed attributes do not match
    /// the signed content.
    BadSignature,
    /// The signature cannot be read as Authenticode.
    Malformed,
    /// It uses an algorithm or key this engine does not check (e.g. RSA-PSS,
    /// 512-bit RSA); it is not called valid.
    Unsupported,
}

#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub reason: InvalidReason,
    pub detail: String,
}

impl Problem {
    fn malformed(detail: impl Into<String>) -> Self {
        Problem {
            reason: InvalidReason::Malformed,
            detail: detail.into(),
        }
    }
    fn bad(detail: impl Into<String>) -> Self {
        Problem {
            reason: InvalidReason::BadSignature,
            detail: detail.into(),
        }
    }
    fn from_verify(e: VerifyError, what: &str) -> Self {
        match e {
            VerifyError::Bad => Problem::bad(format!("{what} does not verify")),
            VerifyError::Unsupported(alg) => Problem {
                reason: InvalidReason::Unsupported,
                detail: format!("{what} uses {alg}, which is not supported"),
            },
        }
    }
}

impl From<DerError> for Problem {
    fn from(e: DerError) -> Self {
        Problem::malformed(e.0)
    }
}

/// One signature as found, checked as far as it can be without the image.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Index of the certificate-table entry it comes from.
    pub entry: usize,
    /// Index (in the flat list) of the signature it is nested in.
    pub nested_in: Option<usize>,
    pub outcome: Result<Parsed, Problem>,
}

#[derive(Debug, Clone)]
pub(crate) struct Parsed {
    pub digest_algorithm: DigestAlgorithm,
    pub signed_digest: Vec<u8>,
    /// Leaf first, then its issuers as far as they are included.
    pub chain: Vec<ParsedCertificate>,
    /// Steps 2–4 of the module documentation.
    pub check: Result<(), Problem>,
}

impl Parsed {
    pub fn trusted(&self, roots: &TrustRoots) -> Option<bool> {
        if roots.is_empty() {
            return None;
        }
        Some(roots.anchors(&self.chain.iter().collect::<Vec<_>>()))
    }
}

/// Every signature in a certificate table, in table order, each followed by those
/// nested in it; and what is wrong with the table itself, if anything. A table problem
/// (an entry that cannot be walked, that is not PKCS#7 SignedData, that holds more than
/// one DER value and its padding, or bytes after the last entry) makes every
/// signature `invalid`: bytes there are covered by no signature.
pub(crate) fn signatures(table: &[u8]) -> (Vec<Candidate>, Option<String>) {
    let (entries, walk_problem) = super::pe::entries(table);
    let budget = Budget(std::cell::Cell::new(MAX_VERIFICATIONS));
    let mut problem = walk_problem.clone();
    let mut out = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 2;
        if entry.certificate_type != WIN_CERT_TYPE_PKCS_SIGNED_DATA {
            let message = format!(
                "certificate table entry {n} has type {}, not PKCS#7 SignedData (2)",
                entry.certificate_type
            );
            if out.len() < MAX_SIGNATURES {
                out.push(Candidate {
                    entry: n,
                    nested_in: None,
                    outcome: Err(Problem::malformed(message.clone())),
                });
            }
            problem.get_or_insert(message);
            continue;
        }
        if let Some(p) = entry_problem(entry.data) {
            problem.get_or_insert_with(|| format!("certificate table entry {n}: {p}"));
        }
        if out.len() < MAX_SIGNATURES {
            signed_data(entry.data, n, None, 0, &mut out, &budget);
        }
    }
    if let Some(walk_problem) = walk_problem {
        out.push(Candidate {
            entry: entries.len(),
            nested_in: None,
            outcome: Err(Problem::malformed(walk_problem)),
        });
    } else if entries.is_empty() {
        out.push(Candidate {
            entry: 0,
            nested_in: None,
            outcome: Err(Problem::malformed("the certificate table holds no entry")),
        });
    }
    (out, problem)
}

/// What is wrong with an entry's contents as a whole: they must be one DER value
/// followed by at most 7 zero bytes of padding.
fn entry_problem(data: &[u8]) -> Option<String> {
    let mut r = Reader::new(data);
    match r.read("signature") {
        Err(e) => Some(format!("not a DER signature: {}", e.0)),
        Ok(_) => {
            let rest = r.remaining();
            (rest.len() > 7 || rest.iter().any(|&b| b != 0))
                .then(|| format!("{} bytes follow the signature", rest.len()))
        }
    }
}

/// Parses one ContentInfo and pushes it, then the signatures nested in it.
fn signed_data(
    bytes: &[u8],
    entry: usize,
    nested_in: Option<usize>,
    depth: usize,
    out: &mut Vec<Candidate>,
    budget: &Budget,
) {
    let index = out.len();
    let mut nested: Vec<&[u8]> = Vec::new();
    let outcome = parse(bytes, &mut nested, budget);
    out.push(Candidate {
        entry,
        nested_in,
        outcome,
    });
    for inner in nested {
        if out.len() >= MAX_SIGNATURES {
            return;
        }
        if depth + 1 > MAX_DEPTH {
            out.push(Candidate {
                entry,
                nested_in: Some(index),
                outcome: Err(Problem::malformed(format!(
                    "signatures nested more than {MAX_DEPTH} deep are not read"
                ))),
            });
            return;
        }
        signed_data(inner, entry, Some(index), depth + 1, out, budget);
    }
}

fn parse<'a>(
    bytes: &'a [u8],
    nested: &mut Vec<&'a [u8]>,
    budget: &Budget,
) -> Result<Parsed, Problem> {
    let mut top = Reader::new(bytes);
    let mut content_info = top.sequence("ContentInfo")?;
    // The entry may be padded with zeros to its 8-byte boundary.
    if top.remaining().iter().any(|&b| b != 0) {
        return Err(Problem::malformed("unexpected bytes after the signature"));
    }
    let content_type = content_info.expect(tag::OID, "ContentInfo content type")?;
    if content_type.value != oid::SIGNED_DATA {
        return Err(Problem::malformed(format!(
            "content type is {}, not PKCS#7 SignedData",
            der::oid_to_string(content_type.value)
        )));
    }
    let explicit = content_info.expect(tag::CONTEXT_0, "ContentInfo content")?;
    let mut sd =
        der::single(explicit.value, tag::SEQUENCE, "SignedData").map(|t| Reader::new(t.value))?;
    sd.expect(tag::INTEGER, "SignedData version")?;
    sd.expect(tag::SET, "SignedData digest algorithms")?;
    let mut encap = sd.sequence("SignedData content")?;
    let encap_type = encap.expect(tag::OID, "signed content type")?;
    if encap_type.value != oid::SPC_INDIRECT_DATA {
        return Err(Problem::malformed(format!(
            "signed content type is {}, not Authenticode SpcIndirectData",
            der::oid_to_string(encap_type.value)
        )));
    }
    let encap_explicit = encap.expect(tag::CONTEXT_0, "signed content")?;
    let spc = der::single(
        encap_explicit.value,
        tag::SEQUENCE,
        "SpcIndirectDataContent",
    )?;
    let (digest_algorithm, signed_digest) = spc_indirect_data(spc.value)?;

    let mut certificates = Vec::new();
    if let Some(set) = sd.optional(tag::CONTEXT_0, "certificates")? {
        let mut certs = Reader::new(set.value);
        while !certs.is_empty() {
            let cert = certs.read("certificate")?;
            if cert.tag != tag::SEQUENCE {
                // Attribute certificates and other choices are not X.509 certificates.
                continue;
            }
            if certificates.len() >= MAX_CERTIFICATES_PER_SIGNATURE {
                return Err(Problem::malformed(format!(
                    "more than {MAX_CERTIFICATES_PER_SIGNATURE} certificates"
                )));
            }
            let parsed = ParsedCertificate::from_der(cert.raw).map_err(|e| {
                Problem::malformed(format!("certificate {}: {e}", certificates.len() + 1))
            })?;
            certificates.push(parsed);
        }
    }
    sd.optional(tag::CONTEXT_1, "CRLs")?;
    let signer_infos = sd.expect(tag::SET, "SignerInfos")?;
    let mut infos = Reader::new(signer_infos.value);
    let info = infos.sequence("SignerInfo")?;
    if !infos.is_empty() {
        return Err(Problem::malformed(
            "Authenticode allows exactly one SignerInfo; this signature has more",
        ));
    }
    let signer = signer_info(info, nested)?;

    let leaf = choose_signer(&signer, &certificates, budget)?;
    let (chain, chain_check) = build_chain(&certificates, leaf, budget);
    let check = signer
        .check(
            spc.value,
            chain.first().and_then(|&i| certificates.get(i)),
            budget,
        )
        .and(chain_check)
        .and_then(|()| check_others(&certificates, &chain, budget));
    let chain = chain
        .into_iter()
        .filter_map(|i| certificates.get(i).cloned())
        .collect();
    Ok(Parsed {
        digest_algorithm,
        signed_digest,
        chain,
        check,
    })
}

/// SpcIndirectDataContent's contents: the image data type must be a PE image;
/// returns the DigestInfo.
fn spc_indirect_data(contents: &[u8]) -> Result<(DigestAlgorithm, Vec<u8>), Problem> {
    let mut r = Reader::new(contents);
    let mut data = r.sequence("SpcAttributeTypeAndOptionalValue")?;
    let kind = data.expect(tag::OID, "SpcIndirectDataContent data type")?;
    if kind.value != oid::SPC_PE_IMAGE_DATA {
        return Err(Problem::malformed(format!(
            "the signed data type is {}, not a PE image (1.3.6.1.4.1.311.2.1.15)",
            der::oid_to_string(kind.value)
        )));
    }
    let mut digest_info = r.sequence("DigestInfo")?;
    let (alg, _) = der::algorithm(&mut digest_info, "DigestInfo algorithm")?;
    let algorithm = DigestAlgorithm::from_oid(alg).ok_or_else(|| Problem {
        reason: InvalidReason::Unsupported,
        detail: format!(
            "the image digest uses {}, which is not supported",
            der::oid_to_string(alg)
        ),
    })?;
    let digest = digest_info
        .expect(tag::OCTET_STRING, "DigestInfo digest")?
        .value;
    let expected = algorithm.digest(&[]).len();
    if digest.len() != expected {
        return Err(Problem::malformed(format!(
            "the image digest has {} bytes, {} expected",
            digest.len(),
            expected
        )));
    }
    Ok((algorithm, digest.to_vec()))
}

enum SignerId<'a> {
    IssuerSerial { issuer: &'a [u8], serial: &'a [u8] },
    KeyId(&'a [u8]),
}

struct SignerInfo<'a> {
    id: SignerId<'a>,
    digest: Result<DigestAlgorithm, String>,
    signed_attributes: Option<Tlv<'a>>,
    signature_algorithm: &'a [u8],
    signature: &'a [u8],
}

fn signer_info<'a>(
    mut r: Reader<'a>,
    nested: &mut Vec<&'a [u8]>,
) -> Result<SignerInfo<'a>, Problem> {
    r.expect(tag::INTEGER, "SignerInfo version")?;
    let id = match r.peek_tag() {
        Some(tag::CONTEXT_0_PRIMITIVE) => SignerId::KeyId(r.read("subject key identifier")?.value),
        _ => {
            let mut ias = r.sequence("SignerInfo issuer and serial number")?;
            let issuer = ias.expect(tag::SEQUENCE, "signer's issuer")?.raw;
            let serial = ias.expect(tag::INTEGER, "signer's serial number")?.value;
            SignerId::IssuerSerial { issuer, serial }
        }
    };
    let (digest_oid, _) = der::algorithm(&mut r, "SignerInfo digest algorithm")?;
    let digest =
        DigestAlgorithm::from_oid(digest_oid).ok_or_else(|| der::oid_to_string(digest_oid));
    let signed_attributes = r.optional(tag::CONTEXT_0, "signed attributes")?;
    let (signature_algorithm, _) = der::algorithm(&mut r, "SignerInfo signature algorithm")?;
    let signature = r.expect(tag::OCTET_STRING, "SignerInfo signature")?.value;
    if let Some(unsigned) = r.optional(tag::CONTEXT_1, "unsigned attributes")? {
        for attribute in attributes(unsigned.value)? {
            let (kind, values) = attribute?;
            if kind == oid::SPC_NESTED_SIGNATURE {
                let mut values = Reader::new(values);
                while !values.is_empty() {
                    if nested.len() >= MAX_SIGNATURES {
                        return Err(Problem::malformed(format!(
                            "more than {MAX_SIGNATURES} nested signatures"
                        )));
                    }
                    nested.push(values.read("nested signature")?.raw);
                }
            }
        }
    }
    Ok(SignerInfo {
        id,
        digest,
        signed_attributes,
        signature_algorithm,
        signature,
    })
}

type Attribute<'a> = Result<(&'a [u8], &'a [u8]), Problem>;

/// The attributes of a SET OF Attribute's contents: (type OID, the values' SET
/// contents).
fn attributes(contents: &[u8]) -> Result<Vec<Attribute<'_>>, Problem> {
    let mut r = Reader::new(contents);
    let mut out = Vec::new();
    while !r.is_empty() {
        if out.len() >= MAX_ATTRIBUTES {
            return Err(Problem::malformed(format!(
                "more than {MAX_ATTRIBUTES} attributes in one set"
            )));
        }
        let mut attribute = r.sequence("attribute")?;
        let kind = attribute.expect(tag::OID, "attribute type")?.value;
        let values = attribute.expect(tag::SET, "attribute values")?.value;
        out.push(Ok((kind, values)));
    }
    Ok(out)
}

impl SignerInfo<'_> {
    fn identifies(&self, cert: &ParsedCertificate) -> bool {
        match self.id {
            SignerId::IssuerSerial { issuer, serial } => {
                cert.issuer_raw == issuer && cert.serial_raw == serial
            }
            SignerId::KeyId(id) => cert.subject_key_id.as_deref() == Some(id),
        }
    }

    /// Steps 2 and 3: the signed attributes, and the signature over them.
    fn check(
        &self,
        spc_contents: &[u8],
        signer: Option<&ParsedCertificate>,
        budget: &Budget,
    ) -> Result<(), Problem> {
        let digest = self.digest.clone().map_err(|alg| Problem {
            reason: InvalidReason::Unsupported,
            detail: format!("the signer's digest algorithm {alg} is not supported"),
        })?;
        let attrs = self
            .signed_attributes
            .ok_or_else(|| Problem::malformed("the SignerInfo has no signed attributes"))?;
        let mut content_type = None;
        let mut message_digest = None;
        for attribute in attributes(attrs.value)? {
            let (kind, values) = attribute?;
            let slot = if kind == oid::CONTENT_TYPE {
                &mut content_type
            } else if kind == oid::MESSAGE_DIGEST {
                &mut message_digest
            } else {
                continue;
            };
            if slot.is_some() {
                return Err(Problem::malformed(format!(
                    "the signed attribute {} appears twice",
                    der::oid_to_string(kind)
                )));
            }
            *slot = Some(
                der::single(
                    values,
                    if kind == oid::CONTENT_TYPE {
                        tag::OID
                    } else {
                        tag::OCTET_STRING
                    },
                    "signed attribute value",
                )?
                .value,
            );
        }
        if content_type != Some(oid::SPC_INDIRECT_DATA) {
            return Err(Problem::malformed(
                "the signed contentType attribute is missing or is not SpcIndirectData",
            ));
        }
        let message_digest = message_digest
            .ok_or_else(|| Problem::malformed("the signed messageDigest attribute is missing"))?;
        if digest.digest(spc_contents) != message_digest {
            return Err(Problem::bad(
                "the signed messageDigest attribute does not match the signed content",
            ));
        }
        let signer =
            signer.ok_or_else(|| Problem::malformed("the signing certificate is not included"))?;
        // The signature covers the attributes encoded as a SET, not as `[0]`.
        let mut signed = attrs.raw.to_vec();
        if let Some(first) = signed.first_mut() {
            *first = tag::SET;
        }
        budget.spend()?;
        verify::verify(
            &signer.key,
            self.signature_algorithm,
            Some(digest),
            &signed,
            self.signature,
        )
        .map_err(|e| Problem::from_verify(e, "the signer's signature"))
    }
}

fn subject(cert: &ParsedCertificate) -> String {
    cert.info
        .subject
        .as_ref()
        .map_or_else(|| "(empty subject)".into(), |s| format!("`{s}`"))
}

/// Which included certificate signed `cert`: the first with `cert`'s issuer as its
/// subject whose key verifies the signature. `Ok(None)`: no certificate with that
/// subject is included.
fn find_issuer(
    certs: &[ParsedCertificate],
    cert: &ParsedCertificate,
    exclude: &[usize],
    budget: &Budget,
) -> Result<Option<usize>, Problem> {
    let mut last_error = None;
    let candidates = certs
        .iter()
        .enumerate()
        .filter(|(i, c)| c.subject_raw == cert.issuer_raw && !exclude.contains(i))
        .take(MAX_ISSUER_CANDIDATES);
    for (i, issuer) in candidates {
        budget.spend()?;
        match cert.verify_signed_by(&issuer.key) {
            Ok(()) => return Ok(Some(i)),
            Err(e) => last_error = Some(e),
        }
    }
    match last_error {
        None => Ok(None),
        Some(e) => Err(Problem::from_verify(
            e,
            &format!(
                "the signature of certificate {} by its issuer",
                subject(cert)
            ),
        )),
    }
}

/// The signing certificate. The bag of certificates is not signed, so anyone can add
/// one with the signer's issuer and serial (and its key); among the certificates the
/// SignerInfo identifies, the first whose own signature verifies is used (self-signed
/// by its own key, or signed by an included issuer), else the first whose issuer is
/// not included, else the first (whose failing signature then makes it `invalid`).
fn choose_signer(
    signer: &SignerInfo<'_>,
    certs: &[ParsedCertificate],
    budget: &Budget,
) -> Result<usize, Problem> {
    let mut unanchored = None;
    let mut failing = None;
    for (i, cert) in certs.iter().enumerate() {
        if !signer.identifies(cert) {
            continue;
        }
        let verified = if cert.is_self_issued() {
            budget.spend().is_ok() && cert.verify_signed_by(&cert.key).is_ok()
        } else {
            match find_issuer(certs, cert, &[i], budget) {
                Ok(Some(_)) => true,
                Ok(None) => {
                    unanchored.get_or_insert(i);
                    continue;
                }
                Err(_) => false,
            }
        };
        if verified {
            return Ok(i);
        }
        failing.get_or_insert(i);
    }
    unanchored
        .or(failing)
        .ok_or_else(|| Problem::malformed("the signing certificate is not included"))
}

/// A self-issued certificate's signature by its own key. `top_only`: an algorithm this
/// engine does not check is let pass (an old root above the chain).
fn check_self_signature(
    cert: &ParsedCertificate,
    top_only: bool,
    budget: &Budget,
) -> Result<(), Problem> {
    budget.spend()?;
    match cert.verify_signed_by(&cert.key) {
        Ok(()) => Ok(()),
        Err(VerifyError::Unsupported(_)) if top_only => Ok(()),
        Err(e) => Err(Problem::from_verify(
            e,
            &format!("the self-signature of certificate {}", subject(cert)),
        )),
    }
}

/// The chain from `leaf` upwards through included certificates, and the result of
/// checking each link (a self-issued certificate ends it, checked by its own key).
fn build_chain(
    certs: &[ParsedCertificate],
    leaf: usize,
    budget: &Budget,
) -> (Vec<usize>, Result<(), Problem>) {
    let mut chain = vec![leaf];
    while let Some(current) = chain.last().and_then(|&i| certs.get(i)) {
        if current.is_self_issued() {
            if let Err(problem) = check_self_signature(current, chain.len() > 1, budget) {
                return (chain, Err(problem));
            }
            break;
        }
        match find_issuer(certs, current, &chain, budget) {
            Ok(Some(i)) => chain.push(i),
            Ok(None) => break,
            Err(problem) => return (chain, Err(problem)),
        }
    }
    (chain, Ok(()))
}

/// Step 4 for the certificates outside the chain (time-stamping chains, extras).
fn check_others(
    certs: &[ParsedCertificate],
    chain: &[usize],
    budget: &Budget,
) -> Result<(), Problem> {
    for (i, cert) in certs.iter().enumerate() {
        if chain.contains(&i) {
            continue;
        }
        if cert.is_self_issued() {
            check_self_signature(cert, true, budget)?;
            continue;
        }
        match find_issuer(certs, cert, &[i], budget) {
            Ok(_) => {}
            Err(p) if p.reason == InvalidReason::Unsupported => {}
            Err(p) => return Err(p),
        }
    }
    Ok(())
}

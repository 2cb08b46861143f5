//! A minimal, bounds-checked reader of DER (definite lengths only), enough for the
//! PKCS#7 structures Authenticode uses. Every read checks its length against what is
//! left, so hostile input can only produce an error.

/// Universal tags used here.
pub(crate) mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const SET: u8 = 0x31;
    /// `[0]` constructed (EXPLICIT, or IMPLICIT over a constructed type).
    pub const CONTEXT_0: u8 = 0xa0;
    /// `[1]` constructed.
    pub const CONTEXT_1: u8 = 0xa1;
    /// `[0]` primitive (IMPLICIT over a primitive type).
    pub const CONTEXT_0_PRIMITIVE: u8 = 0x80;
}

/// Why DER could not be read: what was expected and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub String);

impl std::fmt::Display for DerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One element: its tag, its contents, and its whole encoding.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tlv<'a> {
    pub tag: u8,
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Reads consecutive elements from a slice.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

fn tag_name(tag: u8) -> String {
    match tag {
        tag::INTEGER => "an INTEGER".into(),
        tag::BIT_STRING => "a BIT STRING".into(),
        tag::OCTET_STRING => "an OCTET STRING".into(),
        tag::NULL => "a NULL".into(),
        tag::OID => "an OBJECT IDENTIFIER".into(),
        tag::SEQUENCE => "a SEQUENCE".into(),
        tag::SET => "a SET".into(),
        t if t & 0xc0 == 0x80 => format!("a [{}] element", t & 0x1f),
        t => format!("tag 0x{t:02x}"),
    }
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// What is left to read.
    pub fn remaining(&self) -> &'a [u8] {
        self.rest
    }

    /// The tag of the next element, without consuming it.
    pub fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next element, whatever its tag. `what` names it in errors.
    pub fn read(&mut self, what: &str) -> Result<Tlv<'a>, DerError> {
        let bytes = self.rest;
        let err = |problem: &str| DerError(format!("{what}: {problem}"));
        let (&tag, after_tag) = bytes
            .split_first()
            .ok_or_else(|| err("missing (the structure ends early)"))?;
        if tag & 0x1f == 0x1f {
            return Err(err("multi-byte tags are not used by Authenticode"));
        }
        let (&first, after_len) = after_tag
            .split_first()
            .ok_or_else(|| err("truncated length"))?;
        let (len, body) = if first < 0x80 {
            (usize::from(first), after_len)
        } else if first == 0x80 {
            return Err(err(
                "indefinite length (BER) is not DER and is not supported",
            ));
        } else {
            let count = usize::from(first & 0x7f);
            if count > 4 {
                return Err(err("length does not fit in 4 bytes"));
            }
            let (len_bytes, body) = after_len
                .split_at_checked(count)
                .ok_or_else(|| err("truncated length"))?;
            let len = len_bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, body)
        };
        let (value, rest) = body.split_at_checked(len).ok_or_else(|| {
            err(&format!(
                "claims {len} bytes but only {} remain",
                body.len()
            ))
        })?;
        let header = bytes.len() - body.len();
        let raw = bytes.get(..header + len).ok_or_else(|| err("truncated"))?;
        self.rest = rest;
        Ok(Tlv { tag, value, raw })
    }

    /// The next element, which must have tag `tag`.
    pub fn expect(&mut self, tag: u8, what: &str) -> Result<Tlv<'a>, DerError> {
        let tlv = self.read(what)?;
        if tlv.tag != tag {
            return Err(DerError(format!(
                "{what}: expected {}, found {}",
                tag_name(tag),
                tag_name(tlv.tag)
            )));
        }
        Ok(tlv)
    }

    /// The next element when it has tag `tag`; nothing otherwise.
    pub fn optional(&mut self, tag: u8, what: &str) -> Result<Option<Tlv<'a>>, DerError> {
        if self.peek_tag() == Some(tag) {
            self.read(what).map(Some)
        } else {
            Ok(None)
        }
    }

    /// A SEQUENCE's contents, as a reader.
    pub fn sequence(&mut self, what: &str) -> Result<Reader<'a>, DerError> {
        self.expect(tag::SEQUENCE, what)
            .map(|t| Reader::new(t.value))
    }
}

/// Reads `bytes` as exactly one element with tag `tag`.
pub(crate) fn single<'a>(bytes: &'a [u8], tag: u8, what: &str) -> Result<Tlv<'a>, DerError> {
    let mut reader = Reader::new(bytes);
    let tlv = reader.expect(tag, what)?;
    if !reader.is_empty() {
        return Err(DerError(format!("{what}: unexpected bytes after it")));
    }
    Ok(tlv)
}

/// An AlgorithmIdentifier: the OID's contents and the parameters, if any.
pub(crate) fn algorithm<'a>(
    reader: &mut Reader<'a>,
    what: &str,
) -> Result<(&'a [u8], Option<Tlv<'a>>), DerError> {
    let mut seq = reader.sequence(what)?;
    let oid = seq.expect(tag::OID, what)?.value;
    let params = if seq.is_empty() {
        None
    } else {
        Some(seq.read(what)?)
    };
    Ok((oid, params))
}

/// Dotted form of an OID's contents, for messages (`1.2.840.113549.1.7.2`).
pub(crate) fn oid_to_string(oid: &[u8]) -> String {
    let mut arcs: Vec<u128> = Vec::new();
    let mut value: u128 = 0;
    for &b in oid {
        value = (value << 7) | u128::from(b & 0x7f);
        if value > u128::from(u64::MAX) {
            return "an overlong OID".into();
        }
        if b & 0x80 == 0 {
            if arcs.is_empty() {
                let (first, second) = match value {
                    0..=39 => (0, value),
                    40..=79 => (1, value - 40),
                    _ => (2, value - 80),
                };
                arcs.push(first);
                arcs.push(second);
            } else {
                arcs.push(value);
            }
            value = 0;
        }
    }
    if arcs.is_empty() {
        return "an empty OID".into();
    }
    arcs.iter()
        .map(u128::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The OIDs this module compares, as DER contents.
pub(crate) mod oid {
    /// 1.2.840.113549.1.7.2 signedData
    pub const SIGNED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    /// 1.3.6.1.4.1.311.2.1.4 SPC_INDIRECT_DATA_OBJID
    pub const SPC_INDIRECT_DATA: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x04];
    /// 1.3.6.1.4.1.311.2.1.15 SPC_PE_IMAGE_DATAOBJ
    pub const SPC_PE_IMAGE_DATA: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f];
    /// 1.3.6.1.4.1.311.2.4.1 SPC_NESTED_SIGNATURE_OBJID
    pub const SPC_NESTED_SIGNATURE: &[u8] =
        &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x04, 0x01];
    /// 1.2.840.113549.1.9.3 contentType
    pub const CONTENT_TYPE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x03];
    /// 1.2.840.113549.1.9.4 messageDigest
    pub const MESSAGE_DIGEST: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04];

    /// 1.3.14.3.2.26 sha1
    pub const SHA1: &[u8] = &[0x2b, 0x0e, 0x03, 0x02, 0x1a];
    /// 2.16.840.1.101.3.4.2.1 sha256
    pub const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    /// 2.16.840.1.101.3.4.2.2 sha384
    pub const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    /// 2.16.840.1.101.3.4.2.3 sha512
    pub const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];

    /// 1.2.840.113549.1.1.1 rsaEncryption
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    /// 1.2.840.113549.1.1.5 sha1WithRSAEncryption
    pub const RSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05];
    /// 1.2.840.113549.1.1.11 sha256WithRSAEncryption
    pub const RSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b];
    /// 1.2.840.113549.1.1.12 sha384WithRSAEncryption
    pub const RSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c];
    /// 1.2.840.113549.1.1.13 sha512WithRSAEncryption
    pub const RSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d];
    /// 1.2.840.10045.2.1 id-ecPublicKey
    pub const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    /// 1.2.840.10045.4.3.2 ecdsa-with-SHA256
    pub const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    /// 1.2.840.10045.4.3.3 ecdsa-with-SHA384
    pub const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    /// 1.2.840.10045.3.1.7 prime256v1
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    /// 1.3.132.0.34 secp384r1
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    /// 1.3.101.112 Ed25519
    pub const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_constants_spell_their_names() {
        let cases: [(&[u8], &str); 21] = [
            (oid::SIGNED_DATA, "1.2.840.113549.1.7.2"),
            (oid::SPC_INDIRECT_DATA, "1.3.6.1.4.1.311.2.1.4"),
            (oid::SPC_PE_IMAGE_DATA, "1.3.6.1.4.1.311.2.1.15"),
            (oid::SPC_NESTED_SIGNATURE, "1.3.6.1.4.1.311.2.4.1"),
            (oid::CONTENT_TYPE, "1.2.840.113549.1.9.3"),
            (oid::MESSAGE_DIGEST, "1.2.840.113549.1.9.4"),
            (oid::SHA1, "1.3.14.3.2.26"),
            (oid::SHA256, "2.16.840.1.101.3.4.2.1"),
            (oid::SHA384, "2.16.840.1.101.3.4.2.2"),
            (oid::SHA512, "2.16.840.1.101.3.4.2.3"),
            (oid::RSA, "1.2.840.113549.1.1.1"),
            (oid::RSA_SHA1, "1.2.840.113549.1.1.5"),
            (oid::RSA_SHA256, "1.2.840.113549.1.1.11"),
            (oid::RSA_SHA384, "1.2.840.113549.1.1.12"),
            (oid::RSA_SHA512, "1.2.840.113549.1.1.13"),
            (oid::EC_PUBLIC_KEY, "1.2.840.10045.2.1"),
            (oid::ECDSA_SHA256, "1.2.840.10045.4.3.2"),
            (oid::ECDSA_SHA384, "1.2.840.10045.4.3.3"),
            (oid::P256, "1.2.840.10045.3.1.7"),
            (oid::P384, "1.3.132.0.34"),
            (oid::ED25519, "1.3.101.112"),
        ];
        for (bytes, name) in cases {
            assert_eq!(oid_to_string(bytes), name);
        }
    }

    #[test]
    fn reads_definite_lengths_and_rejects_the_rest() {
        let mut r = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05, 0x04, 0x81, 0x01, 0xff]);
        let seq = r.expect(tag::SEQUENCE, "outer").unwrap();
        assert_eq!(seq.raw.len(), 5);
        assert_eq!(single(seq.value, tag::INTEGER, "n").unwrap().value, &[5]);
        assert_eq!(r.expect(tag::OCTET_STRING, "o").unwrap().value, &[0xff]);
        assert!(r.is_empty());
        assert!(Reader::new(&[0x30, 0x80, 0, 0])
            .read("x")
            .unwrap_err()
            .0
            .contains("indefinite"));
        assert!(Reader::new(&[0x30, 0x05, 0])
            .read("x")
            .unwrap_err()
            .0
            .contains("claims 5 bytes"));
        assert!(Reader::new(&[0x30, 0x85, 1, 1, 1, 1, 1]).read("x").is_err());
        assert!(Reader::new(&[0x30]).read("x").is_err());
        assert!(Reader::new(&[]).read("x").is_err());
        assert!(Reader::new(&[0x1f, 0x01, 0x00]).read("x").is_err());
        assert!(Reader::new(&[0x04, 0x00])
            .expect(tag::SEQUENCE, "x")
            .unwrap_err()
            .0
            .contains("expected a SEQUENCE"));
    }
}

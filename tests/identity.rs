//! File identity on real signatures: small PE images written byte by byte, signed by
//! `osslsigncode` with a CA and code-signing certificates made by `openssl` here, then
//! checked against what `openssl` says and tampered with.
//!
//! Needs the `openssl` and `osslsigncode` programs; `scripts/test` installs them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use portcullis_engine::identity::{
    inspect_file, parse_certificates, FileIdentity, IdentityError, InvalidReason, TrustRoots,
};
use portcullis_engine::model::{DistinguishedName, SignatureStatus};
use portcullis_testkit::pe::{self, Kind};

fn require(tool: &str) {
    let found = Command::new(tool)
        .arg(if tool == "openssl" {
            "version"
        } else {
            "--version"
        })
        .output()
        .is_ok();
    assert!(
        found,
        "the identity tests need `{tool}`: run `scripts/test`, which installs it, or \
         `apt-get install osslsigncode openssl`"
    );
}

fn run(program: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{program}`: {e}"));
    assert!(
        out.status.success(),
        "`{program} {}` failed:\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

struct Fixtures {
    dir: PathBuf,
}

impl Fixtures {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }
    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
}

const LEAF_EXT: &str = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\n";

/// A CA, an RSA and an EC code-signing leaf, and the signed images:
/// `{pe32,pe32plus,efi}.exe` unsigned, `*.signed.exe` (RSA, SHA-256),
/// `pe32.nested.exe` (plus a nested RSA SHA-1 signature), `pe32.ec.exe` (EC P-256,
/// SHA-384).
fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        require("openssl");
        require("osslsigncode");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("identity");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let f = Fixtures { dir };
        let d = &f.dir;
        std::fs::write(d.join("leaf.ext"), LEAF_EXT).unwrap();
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "3650",
                "-subj",
                "/C=US/O=Portcullis Test/CN=Portcullis Test Root CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/C=US/ST=Washington/O=Contoso, Ltd./CN=Contoso Code Signing",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "0x01A2B3C4D5",
                "-days",
                "365",
                "-out",
                "leaf.pem",
                "-extfile",
                "leaf.ext",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ec.key",
                "-out",
                "ec.csr",
                "-subj",
                "/O=Fabrikam/CN=Fabrikam EC Signing",
            ],
            d,
        );
        run(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                "ec.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-set_serial",
                "77",
                "-days",
                "365",
                "-out",
                "ec.pem",
                "-extfile",
                "leaf.ext",
            ],
            d,
        );
        let chain = |leaf: &str| [f.read(leaf), f.read("ca.pem")].concat();
        f.write("chain.pem", &chain("leaf.pem"));
        f.write("ec-chain.pem", &chain("ec.pem"));
        for (name, kind) in [
            ("pe32", Kind::Pe32),
            ("pe32plus", Kind::Pe32Plus),
            ("efi", Kind::Efi),
        ] {
            // 5 bytes of overlay: the size is not a multiple of 8, so signing pads.
            f.write(&format!("{name}.exe"), &pe::build(kind, 5).0);
            sign(
                &f,
                &format!("{name}.exe"),
                &format!("{name}.signed.exe"),
                "chain.pem",
                "leaf.key",
                "sha256",
                false,
            );
        }
        sign(
            &f,
            "pe32.signed.exe",
            "pe32.nested.exe",
            "chain.pem",
            "leaf.key",
            "sha1",
            true,
        );
        sign(
            &f,
            "pe32.exe",
            "pe32.ec.exe",
            "ec-chain.pem",
            "ec.key",
            "sha384",
            false,
        );
        f
    })
}

fn sign(f: &Fixtures, input: &str, output: &str, certs: &str, key: &str, hash: &str, nest: bool) {
    let mut args = vec!["sign"];
    if nest {
        args.push("-nest");
    }
    args.extend([
        "-certs",
        certs,
        "-key",
        key,
        "-h",
        hash,
        "-n",
        "Portcullis test",
        "-in",
        input,
        "-out",
        output,
    ]);
    run("osslsigncode", &args, &f.dir);
}

fn inspect(path: &Path) -> FileIdentity {
    inspect_file(path, &TrustRoots::none()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn inspect_bytes(f: &Fixtures, name: &str, bytes: &[u8]) -> Result<FileIdentity, IdentityError> {
    inspect_file(&f.write(name, bytes), &TrustRoots::none())
}

/// What openssl says about a certificate: SHA-256 and SHA-1 fingerprints (lowercase
/// hex), the subject and issuer (RFC 2253) and the serial (lowercase hex).
struct OpensslView {
    sha256: String,
    sha1: String,
    subject: String,
    issuer: String,
    serial: String,
}

fn openssl_view(pem: &Path) -> OpensslView {
    let p = pem.to_str().unwrap();
    let field = |text: &str, key: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no `{key}` in {text}"))
            .to_owned()
    };
    let fingerprint = |digest: &str| {
        let out = run(
            "openssl",
            &["x509", "-in", p, "-noout", "-fingerprint", digest],
            Path::new("."),
        );
        out.trim()
            .split_once('=')
            .unwrap()
            .1
            .replace(':', "")
            .to_lowercase()
    };
    let names = run(
        "openssl",
        &[
            "x509",
            "-in",
            p,
            "-noout",
            "-subject",
            "-issuer",
            "-serial",
            "-nameopt",
            "RFC2253,oid",
        ],
        Path::new("."),
    );
    OpensslView {
        sha256: fingerprint("-sha256"),
        sha1: fingerprint("-sha1"),
        subject: field(&names, "subject="),
        issuer: field(&names, "issuer="),
        serial: field(&names, "serial=").to_lowercase(),
    }
}

#[test]
fn signer_chain_and_thumbprints_match_openssl() {
    let f = fixtures();
    for name in ["pe32.signed.exe", "pe32plus.signed.exe", "efi.signed.exe"] {
        let id = inspect(&f.path(name));
        let sig = &id.signature;
        assert_eq!(sig.status, SignatureStatus::Valid, "{name}: {sig:#?}");
        assert_eq!(sig.reason, None);
        assert_eq!(sig.signatures.len(), 1);
        assert_eq!(sig.signers.len(), 2, "leaf then CA");
        for (cert, pem) in sig.signers.iter().zip(["leaf.pem", "ca.pem"]) {
            let o = openssl_view(&f.path(pem));
            assert_eq!(cert.thumbprint.to_string(), o.sha256, "{pem}");
            assert_eq!(cert.sha1, o.sha1, "{pem}");
            assert_eq!(
                cert.serial.trim_start_matches('0'),
                o.serial.trim_start_matches('0'),
                "{pem}"
            );
            assert_eq!(
                cert.subject.as_ref().unwrap(),
                &DistinguishedName::parse(&o.subject).unwrap(),
                "{pem}"
            );
            assert_eq!(
                cert.issuer.as_ref().unwrap(),
                &DistinguishedName::parse(&o.issuer).unwrap(),
                "{pem}"
            );
        }
        let leaf = &sig.signers[0];
        assert_eq!(
            leaf.subject.as_ref().unwrap().to_string(),
            r"CN=Contoso Code Signing, O=Contoso\, Ltd., ST=Washington, C=US"
        );
        assert_eq!(leaf.serial, "01a2b3c4d5");
        assert!(leaf.code_signing && !leaf.is_ca);
        assert!(sig.signers[1].is_ca);
        // The digest the signature carries is the file's, and the one the unsigned
        // image had before signing (padding included).
        let detail = &sig.signatures[0];
        let digest = id.authenticode_digest.unwrap().to_string();
        assert_eq!(detail.signed_digest.as_deref(), Some(digest.as_str()));
        let unsigned = inspect(&f.path(&name.replace(".signed", "")));
        assert_eq!(
            unsigned.authenticode_digest, id.authenticode_digest,
            "{name}"
        );
    }
    // DER input reads the same as PEM.
    run(
        "openssl",
        &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"],
        &f.dir,
    );
    assert_eq!(
        parse_certificates(&f.read("ca.der")).unwrap(),
        parse_certificates(&f.read("ca.pem")).unwrap()
    );
    assert_eq!(
        inspect(&f.path("efi.signed.exe")).format.map(|_| ()),
        Some(()),
        "an EFI image is a PE"
    );
}

#[test]
fn trust_is_judged_against_the_roots_given() {
    let f = fixtures();
    let signed = f.path("pe32.signed.exe");
    assert_eq!(inspect(&signed).signature.trusted, None);
    let ours = TrustRoots::from_pem(&f.read("ca.pem")).unwrap();
    assert_eq!(
        inspect_file(&signed, &ours).unwrap().signature.trusted,
        Some(true)
    );
    // A root that issued the top certificate without being included also anchors.
    f.write("leaf-only.pem", &f.read("leaf.pem"));
    sign(
        f,
        "pe32.exe",
        "pe32.leafonly.exe",
        "leaf-only.pem",
        "leaf.key",
        "sha256",
        false,
    );
    let id = inspect_file(&f.path("pe32.leafonly.exe"), &ours).unwrap();
    assert_eq!(id.signature.status, SignatureStatus::Valid);
    assert_eq!(id.signature.signers.len(), 1);
    assert_eq!(id.signature.trusted, Some(true));
    let system = std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap();
    let system = TrustRoots::from_pem(&system).unwrap();
    assert_eq!(
        inspect_file(&signed, &system).unwrap().signature.trusted,
        Some(false)
    );
}

#[test]
fn a_flipped_image_byte_is_a_digest_mismatch() {
    let f = fixtures();
    let (_, layout) = pe::build(Kind::Pe32, 5);
    for name in ["pe32.signed.exe", "pe32.nested.exe", "pe32.ec.exe"] {
        let mut bytes = f.read(name);
        bytes[layout.section_data + 10] ^= 0x01;
        let id = inspect_bytes(f, "flipped.exe", &bytes).unwrap();
        assert_eq!(id.signature.status, SignatureStatus::Invalid, "{name}");
        assert_eq!(
            id.signature.reason,
            Some(InvalidReason::DigestMismatch),
            "{name}"
        );
        assert!(id
            .signature
            .signatures
            .iter()
            .all(|s| s.reason == Some(InvalidReason::DigestMismatch)));
        // A header byte outside the skipped fields counts too.
        let mut bytes = f.read(name);
        bytes[layout.optional_header + 56] ^= 0x10; // SizeOfImage
        let id = inspect_bytes(f, "flipped.exe", &bytes).unwrap();
        assert_eq!(
            id.signature.reason,
            Some(InvalidReason::DigestMismatch),
            "{name}"
        );
    }
    // The checksum is not covered: changing it keeps the signature valid.
    let mut bytes = f.read("pe32.signed.exe");
    bytes[layout.optional_header + 64] ^= 0xff;
    let id = inspect_bytes(f, "checksum.exe", &bytes).unwrap();
    assert_eq!(id.signature.status, SignatureStatus::Valid);
    // Bytes appended after the certificate table are not covered by any signature.
    let mut bytes = f.read("pe32.signed.exe");
    bytes.extend_from_slice(b"appended payload");
    let id = inspect_bytes(f, "appended.exe", &bytes).unwrap();
    assert_eq!(id.signature.reason, Some(InvalidReason::Malformed));
}

/// The offset of the last bytes of the signer's signature: the PKCS#7 ends with it
/// when there are no unsigned attributes.
fn signature_bytes(bytes: &[u8], kind: Kind) -> usize {
    let (table, _) = pe::cert_table(bytes, kind);
    let pkcs7 = table + 8;
    assert_eq!(bytes[pkcs7], 0x30);
    assert_eq!(bytes[pkcs7 + 1], 0x82);
    let len = usize::from(u16::from_be_bytes([bytes[pkcs7 + 2], bytes[pkcs7 + 3]]));
    pkcs7 + 4 + len - 16
}

#[test]
fn a_corrupted_signature_is_invalid() {
    let f = fixtures();
    let mut bytes = f.read("pe32.signed.exe");
    let at = signature_bytes(&bytes, Kind::Pe32);
    bytes[at] ^= 0x01;
    let id = inspect_bytes(f, "badsig.exe", &bytes).unwrap();
    assert_eq!(id.signature.status, SignatureStatus::Invalid);
    assert_eq!(
        id.signature.reason,
        Some(InvalidReason::BadSignature),
        "{:#?}",
        id.signature
    );

    // Any single flipped bit in the signature: never a panic, never trusted blindly.
    let original = f.read("pe32.signed.exe");
    let (table, size) = pe::cert_table(&original, Kind::Pe32);
    let mut outcomes = std::collections::BTreeMap::new();
    for at in (table..table + size).step_by(3) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x80;
        let outcome = match inspect_bytes(f, "flip.exe", &bytes) {
            Ok(id) => format!("{:?} {:?}", id.signature.status, id.signature.reason),
            Err(e) => format!("error {}", e.to_string().split(':').next().unwrap()),
        };
        *outcomes.entry(outcome).or_insert(0) += 1;
    }
    assert!(
        outcomes.keys().any(|k| k.contains("Malformed")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.keys().any(|k| k.contains("BadSignature")),
        "{outcomes:?}"
    );
}

#[test]
fn an_unsigned_pe_is_unsigned_and_other_files_too() {
    let f = fixtures();
    for name in ["pe32.exe", "pe32plus.exe", "efi.exe"] {
        let id = inspect(&f.path(name));
        assert_eq!(id.signature.status, SignatureStatus::Unsigned);
        assert!(id.signature.signatures.is_empty());
        assert!(id.authenticode_digest.is_some());
    }
    let id = inspect(&f.path("ca.pem"));
    assert_eq!(id.signature.status, SignatureStatus::Unsigned);
    assert_eq!(id.authenticode_digest, None);
    let sha = run("sha256sum", &[f.path("ca.pem").to_str().unwrap()], &f.dir);
    assert_eq!(
        id.sha256.to_string(),
        sha.split_whitespace().next().unwrap()
    );
    // An `MZ` program without a PE header (DOS) is not a PE, nor is one whose DOS
    // header points past its end, nor text that starts with `MZ`.
    let mut dos = pe::build(Kind::Pe32, 0).0;
    dos[0x40..0x44].copy_from_slice(b"NE\0\0");
    let mut far = pe::build(Kind::Pe32, 0).0;
    far[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut near = pe::build(Kind::Pe32, 0).0;
    let end = near.len() as u32 - 2;
    near[0x3c..0x40].copy_from_slice(&end.to_le_bytes());
    let text = b"MZ is how this text begins\n".to_vec();
    let mut long_text = b"MZ".to_vec();
    long_text.extend_from_slice(&[b'z'; 100]);
    for (what, bytes) in [
        ("dos", dos),
        ("far", far),
        ("near", near),
        ("text", text),
        ("long_text", long_text),
    ] {
        let id = inspect_bytes(f, &format!("{what}.exe"), &bytes)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(id.signature.status, SignatureStatus::Unsigned, "{what}");
        assert_eq!(id.authenticode_digest, None, "{what}");
        assert_eq!(
            id.sha256.to_string(),
            portcullis_engine::identity::sha256_bytes(&bytes).to_string(),
            "{what}"
        );
    }
}

#[test]
fn nested_and_multiple_signatures_are_all_reported() {
    let f = fixtures();
    let id = inspect(&f.path("pe32.nested.exe"));
    let sigs = &id.signature.signatures;
    assert_eq!(sigs.len(), 2, "{:#?}", id.signature);
    assert_eq!(sigs[0].nested_in, None);
    assert_eq!(sigs[1].nested_in, Some(0));
    assert!(
        sigs.iter().all(|s| s.status == SignatureStatus::Valid),
        "{sigs:#?}"
    );
    let algorithms: Vec<String> = sigs
        .iter()
        .map(|s| {
            serde_json::to_value(s.digest_algorithm)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(algorithms, ["sha256", "sha1"]);

    let ec = inspect(&f.path("pe32.ec.exe"));
    assert_eq!(
        ec.signature.status,
        SignatureStatus::Valid,
        "{:#?}",
        ec.signature
    );
    assert_eq!(
        ec.signature.signers[0]
            .subject
            .as_ref()
            .unwrap()
            .to_string(),
        "CN=Fabrikam EC Signing, O=Fabrikam"
    );

    // Two certificate-table entries: the RSA signature, then the EC one.
    let rsa = f.read("pe32.signed.exe");
    let ecb = f.read("pe32.ec.exe");
    let (rsa_at, rsa_size) = pe::cert_table(&rsa, Kind::Pe32);
    let (ec_at, ec_size) = pe::cert_table(&ecb, Kind::Pe32);
    assert_eq!(rsa_at, ec_at, "both sign the same image");
    let mut two = rsa.clone();
    two.extend_from_slice(&ecb[ec_at..ec_at + ec_size]);
    pe::set_cert_table(&mut two, Kind::Pe32, rsa_at, rsa_size + ec_size);
    let id = inspect_bytes(f, "two.exe", &two).unwrap();
    let sigs = &id.signature.signatures;
    assert_eq!(sigs.len(), 2, "{:#?}", id.signature);
    assert_eq!((sigs[0].entry, sigs[1].entry), (0, 1));
    assert!(
        sigs.iter().all(|s| s.status == SignatureStatus::Valid),
        "{sigs:#?}"
    );

    // Valid when at least one is: spoil the first signer's signature.
    let at = signature_bytes(&two, Kind::Pe32);
    two[at] ^= 0x01;
    let id = inspect_bytes(f, "two-spoiled.exe", &two).unwrap();
    let sigs = &id.signature.signatures;
    assert_eq!(sigs[0].reason, Some(InvalidReason::BadSignature));
    assert_eq!(sigs[1].status, SignatureStatus::Valid);
    assert_eq!(id.signature.status, SignatureStatus::Valid);
    assert_eq!(
        id.signature.signers[0]
            .subject
            .as_ref()
            .unwrap()
            .to_string(),
        "CN=Fabrikam EC Signing, O=Fabrikam",
        "the signers reported are those of the valid signature"
    );
}

#[test]
fn truncation_at_every_byte_is_a_clean_error() {
    let f = fixtures();
    for (name, kind) in [
        ("pe32.signed.exe", Kind::Pe32),
        ("efi.signed.exe", Kind::Efi),
    ] {
        let bytes = f.read(name);
        let (_, layout) = pe::build(kind, 5);
        let (table, _) = pe::cert_table(&bytes, kind);
        // Until its `PE\0\0` signature, a file is not a PE: cut before it, it is an
        // unsigned file.
        for len in [2usize, 3, 63, 64, 0x42, 0x43] {
            let id = inspect_bytes(f, "cut.exe", &bytes[..len]).unwrap();
            assert_eq!(
                id.signature.status,
                SignatureStatus::Unsigned,
                "{name} at {len}"
            );
            assert_eq!(id.authenticode_digest, None);
        }
        // The structural boundaries after it, named for the failure message…
        let boundaries = [
            ("COFF header", 0x44 + 10),
            ("optional header", layout.optional_header + 10),
            (
                "data directories",
                layout.optional_header + layout.optional_header_size - 1,
            ),
            ("section table", layout.section_table + 20),
            ("section data", layout.section_data),
            (
                "section data end",
                layout.section_data + layout.section_size - 1,
            ),
            ("certificate table", table),
            ("WIN_CERTIFICATE header", table + 4),
            ("PKCS#7", table + 8 + 100),
            ("last byte", bytes.len() - 1),
        ];
        for (what, len) in boundaries {
            let err = inspect_bytes(f, "cut.exe", &bytes[..len]).err();
            assert!(
                err.is_some(),
                "{name} cut in the {what} (at {len}) was accepted"
            );
        }
        // …and every other length too.
        let path = f.path("cut.exe");
        for len in 0x44..bytes.len() {
            std::fs::write(&path, &bytes[..len]).unwrap();
            match inspect_file(&path, &TrustRoots::none()) {
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.starts_with("truncated PE file"),
                        "{name} at {len}: {text}"
                    );
                }
                Ok(id) => panic!("{name} cut at {len} gave {:?}", id.signature),
            }
        }
    }
}

#[test]
fn hostile_headers_are_errors_not_panics() {
    let f = fixtures();
    let (base, layout) = pe::build(Kind::Pe32Plus, 0);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut b = base.clone();
    b[layout.optional_header..layout.optional_header + 2].copy_from_slice(&0x999u16.to_le_bytes());
    cases.push(("bad magic", b));
    let mut b = base.clone();
    pe::set_cert_table(&mut b, Kind::Pe32Plus, 0x300, u32::MAX as usize);
    cases.push(("huge certificate table", b));
    let mut b = base.clone();
    pe::set_cert_table(&mut b, Kind::Pe32Plus, 0x10, 0x20);
    cases.push(("certificate table in the headers", b));
    let mut b = base.clone();
    b[0x44 + 2..0x44 + 4].copy_from_slice(&u16::MAX.to_le_bytes());
    cases.push(("65535 sections", b));
    let mut b = base.clone();
    b[layout.section_table + 16..layout.section_table + 20]
        .copy_from_slice(&u32::MAX.to_le_bytes());
    cases.push(("section past the end", b));
    for (what, bytes) in cases {
        let e = inspect_bytes(f, "hostile.exe", &bytes).expect_err(what);
        let text = e.to_string();
        assert!(
            !text.is_empty() && !text.contains("panick"),
            "{what}: {text}"
        );
    }
    // A certificate table of garbage is an invalid signature, not an error.
    let mut b = base.clone();
    let at = b.len();
    b.extend_from_slice(&24u32.to_le_bytes());
    b.extend_from_slice(&0x0200u16.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&[
        0x30, 0x82, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
    ]);
    pe::set_cert_table(&mut b, Kind::Pe32Plus, at, 24);
    let id = inspect_bytes(f, "garbage-sig.exe", &b).unwrap();
    assert_eq!(id.signature.status, SignatureStatus::Invalid);
    assert_eq!(id.signature.reason, Some(InvalidReason::Malformed));
}

#[test]
fn every_system_ca_certificate_parses_and_matches_openssl() {
    let f = fixtures();
    let bundle = std::fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").expect(
        "the system CA bundle /etc/ssl/certs/ca-certificates.crt (package ca-certificates)",
    );
    let blocks: Vec<String> = bundle
        .split("-----END CERTIFICATE-----")
        .filter_map(|b| {
            b.find("-----BEGIN CERTIFICATE-----")
                .map(|i| format!("{}-----END CERTIFICATE-----\n", &b[i..]))
        })
        .collect();
    let certs = parse_certificates(bundle.as_bytes()).unwrap();
    assert_eq!(certs.len(), blocks.len());
    assert!(certs.len() > 50, "only {} certificates", certs.len());
    let mut names_differ = Vec::new();
    for (n, (cert, block)) in certs.iter().zip(&blocks).enumerate() {
        let path = f.write("system.pem", block.as_bytes());
        let o = openssl_view(&path);
        assert_eq!(cert.thumbprint.to_string(), o.sha256, "certificate {n}");
        assert_eq!(cert.sha1, o.sha1, "certificate {n}");
        assert_eq!(
            cert.serial.trim_start_matches('0'),
            o.serial.trim_start_matches('0'),
            "certificate {n}"
        );
        let subject = cert.subject.as_ref().unwrap();
        match DistinguishedName::parse(&o.subject) {
            Ok(theirs) if &theirs == subject => {}
            _ => names_differ.push(format!("{subject} / {}", o.subject)),
        }
        // Our rendering reads back as the same name, so it pastes into a bundle.
        assert_eq!(
            &DistinguishedName::parse(&subject.to_string()).unwrap(),
            subject
        );
    }
    assert!(
        names_differ.is_empty(),
        "subjects that differ from openssl's RFC 2253 form: {names_differ:#?}"
    );
}

fn portcullis(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portcullis"))
        .args(args)
        .output()
        .unwrap()
}

/// `inspect` output plus computer, user and time is an event; `inspect --rule` pasted
/// into an application's rules makes that event allowed.
#[test]
fn inspect_output_is_an_event_and_its_rule_allows_it() {
    let f = fixtures();
    let signed = f.path("pe32.signed.exe");
    let unsigned = f.path("pe32plus.exe");
    let mut rules = Vec::new();
    for file in [&signed, &unsigned] {
        let out = portcullis(&["inspect", "--rule", file.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        rules.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap());
    }
    assert!(rules[0]["certificate"]["thumbprint"].is_string() && rules[0]["path"].is_string());
    assert!(rules[1]["sha256"].is_string());
    let bundle = serde_json::json!({
        "format": "portcullis.bundle/v1",
        "organizations": [{"id": "acme", "name": "Acme"}],
        "groups": [{"id": "ws", "organization": "acme", "name": "Workstations"}],
        "computers": [{"id": "pc-1", "group": "ws", "name": "PC-1", "os": "linux"}],
        "applications": [{"id": "inspected", "organization": "acme", "name": "Inspected", "rules": rules}],
        "policies": [{"id": "allow", "scope": {"organization": "acme"}, "position": 10,
                      "applications": ["inspected"], "action": "permit"}]
    });
    let bundle_path = f.write("bundle.json", bundle.to_string().as_bytes());
    let mut tampered = f.read("pe32.signed.exe");
    tampered[0x300] ^= 1;
    let tampered = f.write("tampered.exe", &tampered);
    for (file, expected) in [
        (&signed, "allow"),
        (&unsigned, "allow"),
        (&tampered, "deny"),
    ] {
        let decision = decide(f, &bundle_path, file);
        assert_eq!(decision, expected, "{}", file.display());
    }
    // Several files: one line each; a file that cannot be read is reported and fails.
    let out = portcullis(&["inspect", signed.to_str().unwrap(), "/nonexistent/file.exe"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["signature"]["status"], "valid");
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .starts_with("cannot read the file"));
    // `--roots` adds whether the chain is trusted.
    let out = portcullis(&[
        "inspect",
        "--roots",
        f.path("ca.pem").to_str().unwrap(),
        signed.to_str().unwrap(),
    ]);
    let id: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(id["signature"]["trusted"], true);
}

/// Makes a self-signed CA `{name}.pem` / `{name}.key` with `subject`.
fn make_ca(f: &Fixtures, name: &str, subject: &str) {
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-days",
            "3650",
            "-subj",
            subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &f.dir,
    );
}

/// Makes `{name}.pem` / `{name}.key` with `subject` and the extensions `ext`, issued by
/// `{ca}.pem` / `{ca}.key`.
fn make_cert(f: &Fixtures, name: &str, subject: &str, ext: &str, ca: &str) {
    f.write(&format!("{name}.ext"), ext.as_bytes());
    run(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ],
        &f.dir,
    );
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-set_serial",
            "0x01A2B3C4D5",
            "-days",
            "365",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            &format!("{name}.ext"),
        ],
        &f.dir,
    );
}

const ROOT_SUBJECT: &str = "/C=US/O=Portcullis Test/CN=Portcullis Test Root CA";
const LEAF_SUBJECT: &str = "/C=US/ST=Washington/O=Contoso, Ltd./CN=Contoso Code Signing";

/// Inspects `file`, makes its output an event for `pc-1`, and returns what `eval`
/// decides for it under `bundle`.
fn decide(f: &Fixtures, bundle: &Path, file: &Path) -> String {
    let out = portcullis(&["inspect", file.to_str().unwrap()]);
    assert!(out.status.success());
    let mut event: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in ["path", "size", "sha256", "signature"] {
        assert!(event.get(key).is_some(), "inspect prints `{key}`");
    }
    event["computer"] = "pc-1".into();
    event["user"] = "ann".into();
    event["time"] = "2026-11-22T10:00:00Z".into();
    let name = format!("event-{}.json", file.file_name().unwrap().to_str().unwrap());
    let event_path = f.write(&name, event.to_string().as_bytes());
    let out = portcullis(&[
        "eval",
        "--bundle",
        bundle.to_str().unwrap(),
        event_path.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    decision["decision"].as_str().unwrap().to_owned()
}

fn bundle_with(f: &Fixtures, name: &str, rules: &[serde_json::Value]) -> PathBuf {
    let bundle = serde_json::json!({
        "format": "portcullis.bundle/v1",
        "organizations": [{"id": "acme", "name": "Acme"}],
        "groups": [{"id": "ws", "organization": "acme", "name": "Workstations"}],
        "computers": [{"id": "pc-1", "group": "ws", "name": "PC-1", "os": "linux"}],
        "applications": [{"id": "inspected", "organization": "acme", "name": "Inspected", "rules": rules}],
        "policies": [{"id": "allow", "scope": {"organization": "acme"}, "position": 10,
                      "applications": ["inspected"], "action": "permit"}]
    });
    f.write(name, bundle.to_string().as_bytes())
}

/// Makes a CA `{name}-ca` and a leaf `{name}-leaf` carrying the genuine test names,
/// and signs `pe32.exe` with the leaf, carrying the CA certificate `bag_ca` beside it.
/// Returns the signed file, `pe32.{name}.exe`.
fn sign_as_namesake(f: &Fixtures, name: &str, bag_ca: &str) -> PathBuf {
    let (ca, leaf) = (format!("{name}-ca"), format!("{name}-leaf"));
    make_ca(f, &ca, ROOT_SUBJECT);
    make_cert(f, &leaf, LEAF_SUBJECT, LEAF_EXT, &ca);
    let chain = format!("{name}-chain.pem");
    f.write(
        &chain,
        &[f.read(&format!("{leaf}.pem")), f.read(bag_ca)].concat(),
    );
    let output = format!("pe32.{name}.exe");
    sign(
        f,
        "pe32.exe",
        &output,
        &chain,
        &format!("{leaf}.key"),
        "sha256",
        false,
    );
    f.path(&output)
}

/// A CA and leaf anyone can make with the genuine names sign a file `valid`; the rule
/// `inspect --rule` prints for the genuine file must not allow it.
#[test]
fn a_forged_publisher_does_not_match_the_printed_rule() {
    let f = fixtures();
    let forged = sign_as_namesake(f, "forged", "forged-ca.pem");
    let genuine = f.path("pe32.signed.exe");
    let (g, x) = (inspect(&genuine), inspect(&forged));
    assert_eq!(x.signature.status, SignatureStatus::Valid);
    assert_eq!(
        g.signature.signers[0].subject,
        x.signature.signers[0].subject
    );
    assert_eq!(g.signature.signers[0].issuer, x.signature.signers[0].issuer);

    // Without roots: the leaf's thumbprint, which the forger cannot reproduce.
    let out = portcullis(&["inspect", "--rule=certificate", genuine.to_str().unwrap()]);
    assert!(out.status.success());
    let rule: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rule["certificate"]["thumbprint"],
        g.signature.signers[0].thumbprint.to_string()
    );
    assert!(rule["certificate"].get("subject").is_none(), "{rule}");
    let bundle = bundle_with(f, "forged-bundle.json", &[rule]);
    assert_eq!(decide(f, &bundle, &genuine), "allow");
    assert_eq!(decide(f, &bundle, &forged), "deny");

    // With roots the chain reaches: subject and issuer, which only that root's
    // certificates can carry with a trusted chain.
    let roots = f.path("ca.pem");
    let out = portcullis(&[
        "inspect",
        "--rule",
        "--roots",
        roots.to_str().unwrap(),
        genuine.to_str().unwrap(),
    ]);
    let rule: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(rule["certificate"]["subject"].is_string(), "{rule}");
    assert!(rule["certificate"].get("thumbprint").is_none(), "{rule}");
    // The forged file's chain does not reach those roots: its rule is by thumbprint.
    let out = portcullis(&[
        "inspect",
        "--rule",
        "--roots",
        roots.to_str().unwrap(),
        forged.to_str().unwrap(),
    ]);
    let rule: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        rule["certificate"]["thumbprint"],
        x.signature.signers[0].thumbprint.to_string()
    );
}

/// A certificate that is not a CA (a TLS server's, a code-signing leaf) cannot issue
/// certificates, and a leaf whose extended key usage leaves out code signing cannot
/// sign code: such chains are not trusted, even though they reach the root.
#[test]
fn trust_needs_ca_issuers_and_a_code_signing_leaf() {
    let f = fixtures();
    let server_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
    make_cert(
        f,
        "nonca",
        "/O=Portcullis Test/CN=www.example.test",
        server_ext,
        "ca",
    );
    make_cert(
        f,
        "nonca-leaf",
        "/O=Mallory/CN=Mallory Code Signing",
        LEAF_EXT,
        "nonca",
    );
    f.write(
        "nonca-chain.pem",
        &[
            f.read("nonca-leaf.pem"),
            f.read("nonca.pem"),
            f.read("ca.pem"),
        ]
        .concat(),
    );
    sign(
        f,
        "pe32.exe",
        "pe32.nonca.exe",
        "nonca-chain.pem",
        "nonca-leaf.key",
        "sha256",
        false,
    );
    // A code-signing leaf made by the code-signing leaf.
    make_cert(
        f,
        "leaf-leaf",
        "/O=Mallory/CN=Mallory Code Signing 2",
        LEAF_EXT,
        "leaf",
    );
    f.write(
        "leaf-leaf-chain.pem",
        &[
            f.read("leaf-leaf.pem"),
            f.read("leaf.pem"),
            f.read("ca.pem"),
        ]
        .concat(),
    );
    sign(
        f,
        "pe32.exe",
        "pe32.leafleaf.exe",
        "leaf-leaf-chain.pem",
        "leaf-leaf.key",
        "sha256",
        false,
    );
    // A server certificate straight from the root, used to sign code.
    f.write(
        "server-chain.pem",
        &[f.read("nonca.pem"), f.read("ca.pem")].concat(),
    );
    sign(
        f,
        "pe32.exe",
        "pe32.server.exe",
        "server-chain.pem",
        "nonca.key",
        "sha256",
        false,
    );
    let roots = TrustRoots::from_pem(&f.read("ca.pem")).unwrap();
    for name in ["pe32.nonca.exe", "pe32.leafleaf.exe", "pe32.server.exe"] {
        let id = inspect_file(&f.path(name), &roots).unwrap();
        assert_eq!(
            id.signature.status,
            SignatureStatus::Valid,
            "{name}: {:#?}",
            id.signature
        );
        assert_eq!(
            id.signature.trusted,
            Some(false),
            "{name}: {:#?}",
            id.signature
        );
    }
    // The genuine chain stays trusted.
    let id = inspect_file(&f.path("pe32.signed.exe"), &roots).unwrap();
    assert_eq!(id.signature.trusted, Some(true));
}

/// The certificate table is not covered by the image digest, so bytes hidden in it
/// (the directory entry enlarged over an appended payload, a second entry that is no
/// signature, extra padding) make every signature `invalid`.
#[test]
fn bytes_smuggled_into_the_certificate_table_are_malformed() {
    let f = fixtures();
    let signed = f.read("pe32.signed.exe");
    let (at, size) = pe::cert_table(&signed, Kind::Pe32);
    assert_eq!(at + size, signed.len());
    let grown = |extra: &[u8]| {
        let mut b = signed.clone();
        b.extend_from_slice(extra);
        pe::set_cert_table(&mut b, Kind::Pe32, at, size + extra.len());
        b
    };
    let mut second = Vec::new();
    second.extend_from_slice(&40u32.to_le_bytes());
    second.extend_from_slice(&0x0200u16.to_le_bytes());
    second.extend_from_slice(&2u16.to_le_bytes());
    second.extend_from_slice(&[b'X'; 32]);
    let mut sequence = Vec::new();
    sequence.extend_from_slice(&24u32.to_le_bytes());
    sequence.extend_from_slice(&0x0200u16.to_le_bytes());
    sequence.extend_from_slice(&2u16.to_le_bytes());
    sequence.extend_from_slice(&[
        0x30, 0x02, 0x05, 0x00, b'p', b'a', b'y', b'l', b'o', b'a', b'd', b'!', 0, 0, 0, 0,
    ]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "payload after the entry",
            grown(b"MZ smuggled payload, 32 bytes.."),
        ),
        ("a second entry that is no DER", grown(&second)),
        ("a second entry with bytes after its DER", grown(&sequence)),
        ("8 bytes of zeros after the entry", grown(&[0; 8])),
        ("a second entry of another type", {
            let mut e = second.clone();
            e[6] = 1;
            grown(&e)
        }),
    ];
    for (what, bytes) in cases {
        let id = inspect_bytes(f, "smuggled.exe", &bytes).unwrap();
        assert_eq!(
            id.signature.status,
            SignatureStatus::Invalid,
            "{what}: {:#?}",
            id.signature
        );
        assert_eq!(
            id.signature.reason,
            Some(InvalidReason::Malformed),
            "{what}"
        );
        assert!(
            id.signature
                .signatures
                .iter()
                .all(|s| s.status == SignatureStatus::Invalid),
            "{what}"
        );
    }
    // Up to 7 bytes of zero padding are what signing tools add: still valid.
    let mut b = signed.clone();
    b.extend_from_slice(&[0; 5]);
    pe::set_cert_table(&mut b, Kind::Pe32, at, size + 5);
    let id = inspect_bytes(f, "padded.exe", &b).unwrap();
    assert_eq!(
        id.signature.status,
        SignatureStatus::Valid,
        "{:#?}",
        id.signature
    );
}

/// The certificates of a signature are not signed: a certificate added with the
/// signer's issuer and serial and the leaf's key (self-issued, made with another key)
/// must not become the reported leaf.
#[test]
fn an_added_certificate_with_the_signers_issuer_and_serial_is_not_the_leaf() {
    let f = fixtures();
    let leaf = f.path("leaf.pem");
    let public = run(
        "openssl",
        &["x509", "-in", leaf.to_str().unwrap(), "-pubkey", "-noout"],
        &f.dir,
    );
    f.write("leaf-public.pem", public.as_bytes());
    run(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "impostor.key",
            "-out",
            "impostor.csr",
            "-subj",
            ROOT_SUBJECT,
        ],
        &f.dir,
    );
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            "impostor.csr",
            "-signkey",
            "impostor.key",
            "-force_pubkey",
            "leaf-public.pem",
            "-set_serial",
            "0x01A2B3C4D5",
            "-days",
            "365",
            "-out",
            "impostor.pem",
        ],
        &f.dir,
    );
    f.write(
        "impostor-chain.pem",
        &[f.read("impostor.pem"), f.read("leaf.pem"), f.read("ca.pem")].concat(),
    );
    sign(
        f,
        "pe32.exe",
        "pe32.impostor.exe",
        "impostor-chain.pem",
        "leaf.key",
        "sha256",
        false,
    );
    let impostor = parse_certificates(&f.read("impostor.pem"))
        .unwrap()
        .remove(0);
    let genuine = parse_certificates(&f.read("leaf.pem")).unwrap().remove(0);
    let id = inspect(&f.path("pe32.impostor.exe"));
    let sig = &id.signature;
    assert_eq!(
        sig.signers[0].thumbprint, genuine.thumbprint,
        "the leaf reported is the one whose signature verifies: {sig:#?}"
    );
    assert_ne!(sig.signers[0].thumbprint, impostor.thumbprint);
    // The impostor's self-signature does not verify: the signature is invalid.
    assert_eq!(sig.status, SignatureStatus::Invalid, "{sig:#?}");
    assert_eq!(sig.reason, Some(InvalidReason::BadSignature));
}

/// A leaf re-signed by another CA with the genuine CA's name does not verify against
/// the genuine CA included beside it.
#[test]
fn a_leaf_signed_by_a_namesake_ca_is_a_bad_signature() {
    let f = fixtures();
    let id = inspect(&sign_as_namesake(f, "namesake", "ca.pem"));
    assert_eq!(
        id.signature.status,
        SignatureStatus::Invalid,
        "{:#?}",
        id.signature
    );
    assert_eq!(id.signature.reason, Some(InvalidReason::BadSignature));
}

/// Putting a tampered image's digest into the signed content makes the image digest
/// match, but the signed messageDigest no longer does.
#[test]
fn a_replaced_signed_digest_is_a_bad_signature() {
    let f = fixtures();
    let (_, layout) = pe::build(Kind::Pe32, 5);
    let original = f.read("pe32.signed.exe");
    let old = inspect(&f.path("pe32.signed.exe"))
        .authenticode_digest
        .unwrap();
    let mut bytes = original.clone();
    bytes[layout.section_data + 10] ^= 0x01;
    let new = inspect_bytes(f, "digest-tampered.exe", &bytes)
        .unwrap()
        .authenticode_digest
        .unwrap();
    let (table, size) = pe::cert_table(&bytes, Kind::Pe32);
    let found: Vec<usize> = (table..table + size - 32)
        .filter(|&i| bytes[i..i + 32] == old.0)
        .collect();
    assert_eq!(found.len(), 1, "the signed digest appears once");
    bytes[found[0]..found[0] + 32].copy_from_slice(&new.0);
    let id = inspect_bytes(f, "digest-replaced.exe", &bytes).unwrap();
    let detail = &id.signature.signatures[0];
    assert_eq!(
        detail.signed_digest, detail.image_digest,
        "the digests now agree"
    );
    assert_eq!(id.signature.status, SignatureStatus::Invalid);
    assert_eq!(id.signature.reason, Some(InvalidReason::BadSignature));
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = value.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(value);
    out
}

/// A PKCS#7 Authenticode signature (no certificates, dummy signature) with
/// `unsigned` as its unsigned attributes' contents.
fn skeleton_signature(unsigned: &[u8]) -> Vec<u8> {
    let oid = |o: &[u8]| tlv(0x06, o);
    let spc_oid = [0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 1, 4];
    let pe_oid = [0x2b, 6, 1, 4, 1, 0x82, 0x37, 2, 1, 15];
    let sha256 = [0x60, 0x86, 0x48, 1, 0x65, 3, 4, 2, 1];
    let rsa = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
    let spc = tlv(
        0x30,
        &[
            tlv(0x30, &oid(&pe_oid)),
            tlv(
                0x30,
                &[tlv(0x30, &oid(&sha256)), tlv(0x04, &[0; 32])].concat(),
            ),
        ]
        .concat(),
    );
    let encap = tlv(0x30, &[oid(&spc_oid), tlv(0xa0, &spc)].concat());
    let signer = tlv(
        0x30,
        &[
            tlv(0x02, &[1]),
            tlv(0x30, &[tlv(0x30, &[]), tlv(0x02, &[1])].concat()),
            tlv(0x30, &oid(&sha256)),
            tlv(0x30, &oid(&rsa)),
            tlv(0x04, b"x"),
            tlv(0xa1, unsigned),
        ]
        .concat(),
    );
    let sd = tlv(
        0x30,
        &[tlv(0x02, &[1]), tlv(0x31, &[]), encap, tlv(0x31, &signer)].concat(),
    );
    tlv(
        0x30,
        &[
            oid(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 7, 2]),
            tlv(0xa0, &sd),
        ]
        .concat(),
    )
}

/// An unsigned PE with `table` as its certificate table.
fn with_table(table: &[u8]) -> Vec<u8> {
    let mut b = pe::build(Kind::Pe32, 0).0;
    let at = b.len();
    b.extend_from_slice(table);
    pe::set_cert_table(&mut b, Kind::Pe32, at, table.len());
    b
}

fn entry(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&(data.len() as u32 + 8).to_le_bytes());
    e.extend_from_slice(&0x0200u16.to_le_bytes());
    e.extend_from_slice(&kind.to_le_bytes());
    e.extend_from_slice(data);
    e.resize(e.len().div_ceil(8) * 8, 0);
    e
}

/// Many tiny entries, nested signatures or attributes: read up to the limits, then
/// the signature is malformed, and nothing is collected beyond them.
#[test]
fn many_tiny_signatures_are_bounded() {
    let f = fixtures();
    let nested_oid = [0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x04, 0x01];
    let many = 200_000;
    let entries = entry(1, &[]).repeat(many);
    let nested = tlv(
        0x30,
        &[
            tlv(0x06, &nested_oid),
            tlv(0x31, &[0x30, 0x00].repeat(many)),
        ]
        .concat(),
    );
    let attributes = [0x30, 0x04, 0x06, 0x00, 0x31, 0x00].repeat(many);
    for (what, table, expected) in [
        ("entries", entries, "more than 32 certificate table entries"),
        (
            "nested",
            entry(2, &skeleton_signature(&nested)),
            "more than 32 nested signatures",
        ),
        (
            "attributes",
            entry(2, &skeleton_signature(&attributes)),
            "more than 64 attributes",
        ),
    ] {
        let start = std::time::Instant::now();
        let id = inspect_bytes(f, "many.exe", &with_table(&table)).unwrap();
        let sig = &id.signature;
        assert_eq!(sig.status, SignatureStatus::Invalid, "{what}");
        assert_eq!(sig.reason, Some(InvalidReason::Malformed), "{what}");
        assert!(
            sig.signatures.len() <= 33,
            "{what}: {}",
            sig.signatures.len()
        );
        assert!(
            sig.signatures
                .iter()
                .any(|s| s.detail.as_deref().is_some_and(|d| d.contains(expected))),
            "{what}: {:#?}",
            sig.signatures.first()
        );
        assert!(start.elapsed().as_secs() < 10, "{what}");
    }
}

/// Signatures that ask for many verifications (here 32 entries, each with 60 copies of
/// the CA to check) get at most MAX_VERIFICATIONS per file; the first ones are still
/// checked, the rest are malformed.
#[test]
fn signature_verifications_per_file_are_bounded() {
    let f = fixtures();
    let mut pem = f.read("leaf.pem");
    for _ in 0..60 {
        pem.extend_from_slice(&f.read("ca.pem"));
    }
    f.write("many-cas.pem", &pem);
    sign(
        f,
        "pe32.exe",
        "pe32.many-cas.exe",
        "many-cas.pem",
        "leaf.key",
        "sha256",
        false,
    );
    let one = f.read("pe32.many-cas.exe");
    let (at, size) = pe::cert_table(&one, Kind::Pe32);
    let mut many = one[..at + size].to_vec();
    for _ in 1..32 {
        many.extend_from_slice(&one[at..at + size]);
    }
    pe::set_cert_table(&mut many, Kind::Pe32, at, size * 32);
    let id = inspect_bytes(f, "many-verifications.exe", &many).unwrap();
    let sigs = &id.signature.signatures;
    assert_eq!(sigs.len(), 32);
    assert_eq!(sigs[0].status, SignatureStatus::Valid, "{:#?}", sigs[0]);
    assert_eq!(id.signature.status, SignatureStatus::Valid);
    let last = &sigs[31];
    assert_eq!(last.reason, Some(InvalidReason::Malformed), "{last:#?}");
    assert!(
        last.detail.as_deref().unwrap().contains("verifications"),
        "{last:#?}"
    );
}

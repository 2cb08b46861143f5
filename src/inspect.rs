//! `inspect`: who a file is, or a ready-to-paste rule for it.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;
use portcullis_engine::identity::{self, FileIdentity, TrustRoots};
use portcullis_engine::model::{CertificateCondition, FileRule, SignatureStatus};
use serde::Serialize;

use crate::common::to_json;
use crate::error::CliError;

/// How `inspect --rule` identifies the file.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RuleKind {
    /// Certificate and path when validly signed, else hash.
    Auto,
    /// The SHA-256.
    Hash,
    /// The leaf certificate: its subject and issuer when the chain is trusted
    /// (`--roots`), else its thumbprint.
    Certificate,
    /// The leaf certificate (as for `certificate`) and the file's path.
    CertificatePath,
}

#[derive(Serialize)]
struct Inspected<'a> {
    path: String,
    #[serde(flatten)]
    identity: &'a FileIdentity,
}

pub fn inspect(
    files: &[PathBuf],
    rule: Option<RuleKind>,
    roots: Option<&Path>,
) -> Result<ExitCode, CliError> {
    let roots = match roots {
        Some(path) => {
            let pem = std::fs::read(path).map_err(CliError::read(path))?;
            TrustRoots::from_pem(&pem).map_err(|e| format!("`{}`: {e}", path.display()))?
        }
        None => TrustRoots::none(),
    };
    let pretty = files.len() == 1;
    let mut failed = 0usize;
    for file in files {
        let path = std::path::absolute(file)
            .unwrap_or_else(|_| file.clone())
            .display()
            .to_string();
        let result = identity::inspect_file(file, &roots)
            .map_err(|e| CliError::Message(e.to_string()))
            .and_then(|id| match rule {
                None => to_json(
                    &Inspected {
                        path: path.clone(),
                        identity: &id,
                    },
                    pretty,
                ),
                Some(kind) => to_json(&make_rule(&id, &path, kind)?, pretty),
            });
        match result {
            Ok(text) => println!("{text}"),
            Err(error) => {
                failed += 1;
                println!(
                    "{}",
                    serde_json::json!({"path": path, "error": error.to_string()})
                );
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "portcullis: {failed} of {} files could not be inspected",
            files.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A file rule for an application: built from the bundle's own types, so that it reads
/// back as it is printed.
///
/// A certificate rule names the leaf certificate by its `thumbprint` unless the chain
/// was judged `trusted` against `--roots`: `valid` only says the signature is intact,
/// not who made the certificates, and anyone can make a CA and a leaf with the same
/// names. Only a chain that reaches a root you trust makes the subject and issuer mean
/// the publisher.
fn make_rule(id: &FileIdentity, path: &str, kind: RuleKind) -> Result<FileRule, String> {
    let leaf = match id.signature.status {
        SignatureStatus::Valid => id.signature.signers.first().filter(|c| c.subject.is_some()),
        SignatureStatus::Invalid | SignatureStatus::Unsigned => None,
    };
    let trusted = id.signature.trusted == Some(true);
    let by_certificate = |with_path: bool| {
        match leaf {
        Some(leaf) => {
            let rule = FileRule::default().with_certificate(if trusted {
                CertificateCondition {
                    thumbprint: None,
                    subject: leaf.subject.clone(),
                    issuer: leaf.issuer.clone(),
                }
            } else {
                CertificateCondition {
                    thumbprint: Some(leaf.thumbprint),
                    subject: None,
                    issuer: None,
                }
            });
            Ok(if with_path { rule.with_path(path) } else { rule })
        }
        None => Err(format!(
            "no valid signature (status `{}`): a certificate rule would never match; use `--rule=hash`",
            serde_json::to_value(id.signature.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        )),
    }
    };
    match kind {
        RuleKind::Hash => Ok(FileRule::hash(id.sha256)),
        RuleKind::Certificate => by_certificate(false),
        RuleKind::CertificatePath => by_certificate(true),
        RuleKind::Auto if leaf.is_some() => by_certificate(true),
        RuleKind::Auto => Ok(FileRule::hash(id.sha256)),
    }
}

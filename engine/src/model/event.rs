//! Execution events: what an agent reports about a program start.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::dn::DistinguishedName;
use super::sha256::Sha256;
use super::time::Timestamp;

/// One program execution on one computer, as the agent saw it.
///
/// Hashes and names are parsed when the event is built (deserialized), so a malformed
/// event is rejected once, with a message, before it reaches a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The computer's id, as in the bundle.
    pub computer: String,
    /// The user running the program (e.g. `CONTOSO\alice`).
    pub user: String,
    /// Full path of the executed file.
    pub path: String,
    /// SHA-256 of the file.
    pub sha256: Sha256,
    /// The file's signature; absent means unsigned.
    #[serde(default)]
    pub signature: Signature,
    /// Size of the file in bytes, as `portcullis inspect` reports it. Informational:
    /// decisions do not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Authenticode digest (SHA-256) of a PE file, as `portcullis inspect` reports it.
    /// Informational: decisions do not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authenticode_digest: Option<Sha256>,
    /// Path of the parent (calling) process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Path of the process that wrote the file, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Whether the user asked to run it with administrator rights.
    #[serde(default)]
    pub elevation: bool,
    /// When it happened (RFC 3339); validity windows and maintenance modes use it.
    pub time: Timestamp,
}

/// A file's signature as the agent verified it.
///
/// Fields other than `status` and `signers` are ignored, so the `signature` object that
/// `portcullis inspect` prints (with `reason`, `trusted`, `signatures`) is read as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Signature {
    /// `valid`, `invalid` or `unsigned`.
    pub status: SignatureStatus,
    /// The signing certificate first, then the rest of its chain.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signers: Vec<Signer>,
}

impl Signature {
    /// The leaf signer, when the signature is valid: the only case certificate
    /// conditions may match.
    pub fn valid_leaf(&self) -> Option<&Signer> {
        match self.status {
            SignatureStatus::Valid => self.signers.first(),
            SignatureStatus::Invalid | SignatureStatus::Unsigned => None,
        }
    }
}

/// Whether a file's signature checked out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SignatureStatus {
    /// The signature verifies.
    Valid,
    /// A signature is present but does not verify.
    Invalid,
    /// No signature.
    #[default]
    Unsigned,
}

/// One certificate of a signature's chain.
///
/// Fields other than `subject`, `issuer` and `thumbprint` (such as the `serial`,
/// `sha1`, `not_before` and `not_after` that `portcullis inspect` prints) are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Signer {
    /// The certificate's subject.
    pub subject: DistinguishedName,
    /// The certificate's issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<DistinguishedName>,
    /// SHA-256 thumbprint of the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbprint: Option<Sha256>,
}

/// Why an event could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", location_suffix(*.line, *.column))]
#[non_exhaustive]
pub struct EventError {
    /// What is wrong, naming the field.
    pub message: String,
    /// 1-based line in the text, when known.
    pub line: Option<usize>,
    /// 1-based column in the text, when known.
    pub column: Option<usize>,
}

impl EventError {
    /// An error about the event as a whole, with no position in its text.
    pub fn new(message: String) -> EventError {
        EventError {
            message,
            line: None,
            column: None,
        }
    }
}

fn location_suffix(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line} column {column}"),
        _ => String::new(),
    }
}

impl Event {
    /// Read an event from JSON text; the error names the field and position.
    pub fn from_json(text: &str) -> Result<Event, EventError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let (path, error) = match serde_path_to_error::deserialize::<_, Event>(&mut de) {
            Ok(event) => match de.end() {
                Ok(()) => return Ok(event),
                Err(error) => (String::new(), error),
            },
            Err(error) => (error.path().to_string(), error.into_inner()),
        };
        let message = if path == "." || path.is_empty() {
            format!("invalid event: {}", strip_position(&error))
        } else {
            format!("invalid event: `{path}`: {}", strip_position(&error))
        };
        Err(EventError {
            message,
            line: Some(error.line()).filter(|&l| l > 0),
            column: Some(error.column()).filter(|_| error.line() > 0),
        })
    }
}

/// Words a reader can act on, for a serde_json error: without the position (the error
/// types here carry it as fields) and without the names of Rust types.
pub(crate) fn strip_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => text.get(..cut).unwrap_or(&text).to_owned(),
        None => text,
    };
    humanize(&text)
}

fn humanize(message: &str) -> String {
    const PLAIN: [(&str, &str); 6] = [
        ("expected i64", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        (
            "expected enum Scope",
            "expected a scope such as `{\"group\": \"id\"}`",
        ),
        ("expected struct Bundle", "expected a bundle: a JSON object"),
        ("expected struct Event", "expected an event: a JSON object"),
        ("expected struct ", "expected a JSON object "),
    ];
    let mut out = message.to_owned();
    for (from, to) in PLAIN {
        if let Some(at) = out.find(from) {
            let rest = out.get(at + from.len()..).unwrap_or_default();
            // Drop the type name and element count that follow `struct`.
            let rest = if from.ends_with(' ') {
                rest.split_once(' ').map_or("", |(_, tail)| tail)
            } else {
                rest
            };
            let rest = rest.trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == ' ');
            out = format!(
                "{}{}{}",
                out.get(..at).unwrap_or_default(),
                to.trim_end(),
                rest
            );
            break;
        }
    }
    out
}

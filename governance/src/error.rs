//! Why a governed action did not happen: one variant per kind of refusal, each with the
//! facts a caller needs (who, what, where), so that a server maps them to a status with
//! [`Error::kind`] and never parses a message. The messages name what and where.

use std::path::PathBuf;

use portcullis_engine::{CompileErrors, LOCATED_ERRORS};
use serde::{Deserialize, Serialize};

use crate::access::Refused;

/// Why a governed action did not happen. In every case nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The actor lacks a permission for the action on the organization.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// An id names nothing.
    #[error("{kind} `{id}` does not exist")]
    NotFound {
        /// `request`, `administrator`, `computer`, …
        kind: &'static str,
        /// The id given.
        id: String,
    },
    /// A request has no stored copy of its file.
    #[error("request {request} carries no file")]
    NoFile {
        /// The request.
        request: i64,
    },
    /// A value given is wrong: which one, and what is wrong with it.
    #[error("{reason}")]
    InvalidInput {
        /// The field or argument (`message`, `expires`, `email.from`, …).
        field: &'static str,
        /// What is wrong, and what to do instead.
        reason: String,
    },
    /// The request was already decided.
    #[error("request {id} is already {state}; only a pending request can be {action}")]
    AlreadyClosed {
        /// The request.
        id: i64,
        /// Its state.
        state: &'static str,
        /// What was attempted (`approved`, `rejected`).
        action: &'static str,
    },
    /// The same request (kind, computer, file) is already waiting.
    #[error("request {id} for this file on `{computer}` is already pending")]
    AlreadyPending {
        /// The pending request.
        id: i64,
        /// The computer.
        computer: String,
    },
    /// The action would change nothing: what it sets is already so, or what it ends is
    /// not there.
    #[error("{reason}")]
    Unchanged {
        /// What is already so.
        reason: String,
    },
    /// No state is initialized where one was looked for.
    #[error("{}", not_initialized(.dir.as_ref()))]
    NotInitialized {
        /// The state directory, when the state was looked for in one.
        dir: Option<PathBuf>,
    },
    /// The state is initialized already.
    #[error("the state is already initialized")]
    AlreadyInitialized,
    /// Something the action needs is not set up yet (notification delivery, the
    /// audit's first head).
    #[error("{reason}")]
    NotReady {
        /// What is missing, and how to set it up.
        reason: String,
    },
    /// A guardrail of the organization stops this approval.
    #[error("guardrail of `{organization}`: {message}")]
    Guardrail {
        /// The organization whose settings apply.
        organization: String,
        /// What to do instead.
        message: String,
    },
    /// The approval would not allow the request's execution: an earlier policy still
    /// decides it. Nothing was deployed or recorded.
    #[error("the approval would not take effect: {blocker} still decides request {id}'s execution ({outcome}); nothing was changed")]
    Shadowed {
        /// The request.
        id: i64,
        /// The policy that still decides (`policy `deny-tools``, or `the default deny`).
        blocker: String,
        /// What it decides (`deny`, `allow without elevation`).
        outcome: String,
    },
    /// The bundle does not compile; the message shows the first errors with their
    /// places.
    #[error("the bundle does not compile:\n{}", located(.0))]
    Compile(CompileErrors),
    /// Another writer changed the state since it was read; nothing was changed.
    #[error("the state changed while this action ran (another administrator?); nothing was changed, try again")]
    Conflict,
    /// The plugin host failed (it could not start, or could not load what is
    /// attached).
    #[error(transparent)]
    Plugin(Box<dyn std::error::Error + Send + Sync>),
    /// The database, or a file of the state beside it, failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The audit's head does not match the audit: entries were removed, rewritten or
    /// written around the state. Nothing more is written until a Super Admin looks
    /// into it and re-anchors the audit.
    #[error("the audit cannot be extended: {0}; nothing was changed. A Super Admin must look into it and run `portcullis audit reanchor --reason …`")]
    AuditBlocked(AuditBreak),
}

/// The classes of [`Error`] a caller answers differently, such as a server choosing
/// the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The actor may not do this ([`Error::Refused`]).
    Forbidden,
    /// Something named does not exist.
    NotFound,
    /// A value given is wrong.
    Invalid,
    /// The input is well formed, but the state's rules refuse it: a guardrail, an
    /// approval an earlier policy would shadow, a bundle that does not compile.
    Rejected,
    /// The action does not fit the state as it is now: already decided, already
    /// pending, nothing to change, or another writer went first.
    Conflict,
    /// The state cannot serve the action until someone sets it up or repairs it: not
    /// initialized, notifications not configured, a blocked audit.
    Unavailable,
    /// The database, a file of the state or the plugin host failed.
    Internal,
}

impl ErrorKind {
    /// The HTTP status that answers this kind: 403, 404, 400, 422, 409, 503 or 500.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Invalid => 400,
            ErrorKind::Rejected => 422,
            ErrorKind::Conflict => 409,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Refused(_) => ErrorKind::Forbidden,
            Error::NotFound { .. } | Error::NoFile { .. } => ErrorKind::NotFound,
            Error::InvalidInput { .. } => ErrorKind::Invalid,
            Error::Guardrail { .. } | Error::Shadowed { .. } | Error::Compile(_) => {
                ErrorKind::Rejected
            }
            Error::AlreadyClosed { .. }
            | Error::AlreadyPending { .. }
            | Error::Unchanged { .. }
            | Error::AlreadyInitialized
            | Error::Conflict => ErrorKind::Conflict,
            Error::NotInitialized { .. } | Error::NotReady { .. } | Error::AuditBlocked(_) => {
                ErrorKind::Unavailable
            }
            Error::Plugin(_) | Error::Storage(_) => ErrorKind::Internal,
        }
    }

    /// A wrong value of `field`.
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    /// An action that would change nothing.
    pub(crate) fn unchanged(reason: impl Into<String>) -> Error {
        Error::Unchanged {
            reason: reason.into(),
        }
    }

    /// `kind` `id` does not exist.
    pub(crate) fn not_found(kind: &'static str, id: impl std::fmt::Display) -> Error {
        Error::NotFound {
            kind,
            id: id.to_string(),
        }
    }
}

/// Why the database or a file of the state failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The database failed.
    #[error("{0}")]
    Database(Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot be opened.
    #[error("cannot open `{}`: {source}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file or directory of the state cannot be read, written or created.
    #[error("cannot {action} `{}`: {source}", path.display())]
    File {
        /// `read`, `write` or `create`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database has a schema version this build does not read.
    #[error("`{}` has schema version {found}; this build reads version {supported}", path.display())]
    SchemaVersion {
        /// The database file.
        path: PathBuf,
        /// The version it records.
        found: String,
        /// The version this build reads.
        supported: i64,
    },
    /// The database has an older schema version that no migration takes further.
    #[error("`{}` has schema version {version}, which this build cannot migrate", path.display())]
    Unmigratable {
        /// The database file.
        path: PathBuf,
        /// The version the migrations reached.
        version: i64,
    },
    /// A stored value does not read back: which one, and what is wrong with it.
    #[error("stored {what} {problem}")]
    Unreadable {
        /// The value (`bundle`, ``hash `…` ``, ``request state `…` ``).
        what: String,
        /// What is wrong with it (`is unreadable: …`, `is unknown`).
        problem: String,
    },
    /// A value cannot be encoded to be stored.
    #[error("cannot encode: {0}")]
    Encode(#[from] serde_json::Error),
    /// The current stored bundle no longer compiles.
    #[error("the stored bundle (version {version}) does not compile: the bundle does not compile:\n{}", located(.errors))]
    Bundle {
        /// The bundle's version.
        version: i64,
        /// Its errors.
        errors: CompileErrors,
    },
    /// The audit key cannot be made, read or parsed.
    #[error("{0}")]
    AuditKey(String),
}

impl StorageError {
    /// A stored value that does not parse.
    pub(crate) fn unreadable(what: impl Into<String>, error: impl std::fmt::Display) -> Self {
        StorageError::Unreadable {
            what: what.into(),
            problem: format!("is unreadable: {error}"),
        }
    }

    /// A file operation that failed.
    pub(crate) fn file<'p>(
        action: &'static str,
        path: &'p std::path::Path,
    ) -> impl Fn(std::io::Error) -> Error + Copy + 'p {
        move |source| {
            Error::Storage(StorageError::File {
                action,
                path: path.to_owned(),
                source,
            })
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(error: rusqlite::Error) -> Self {
        Error::Storage(StorageError::Database(Box::new(error)))
    }
}

/// The first errors of a bundle, one a line, each with its place.
fn located(errors: &CompileErrors) -> String {
    errors
        .errors()
        .iter()
        .take(LOCATED_ERRORS)
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn not_initialized(dir: Option<&PathBuf>) -> String {
    match dir {
        Some(dir) => format!(
            "`{}` holds no state; run `portcullis init --state {}` first",
            dir.display(),
            dir.display()
        ),
        None => "the state is not initialized; run `portcullis init`".to_owned(),
    }
}

/// Where and how the audit chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum AuditBreak {
    /// The entry's hash does not match its content and the previous hash: it, or an
    /// entry before it, was edited or reordered.
    #[error("entry {seq} does not match its hash: it or its place in the chain was edited")]
    Edited {
        /// The first entry that does not verify.
        seq: i64,
    },
    /// A sequence number is missing: entries were removed (or reordered).
    #[error("entry {expected} is missing (the next one stored is {found}): entries were removed or reordered")]
    Missing {
        /// The number expected.
        expected: i64,
        /// The number found instead.
        found: i64,
    },
    /// The chain ends before the recorded head: entries were cut off the end.
    #[error("the audit ends at entry {last}, but entry {head} was recorded: entries after {last} were removed")]
    Truncated {
        /// The last stored entry (0 when none is left).
        last: i64,
        /// The recorded head.
        head: i64,
    },
    /// The entry at the recorded head has another hash: the chain was rewritten.
    #[error("entry {seq} has another hash than the one recorded for it: the chain was rewritten")]
    Rewritten {
        /// The head's sequence number.
        seq: i64,
    },
    /// The head file is gone: the newest entries may have been removed with it.
    #[error("the audit head is missing (the audit ends at entry {last}): entries after it may have been removed")]
    HeadMissing {
        /// The last stored entry (0 when none is left).
        last: i64,
    },
    /// The head file does not parse, or its signature is not the state's key's.
    #[error("the audit head is corrupt: {reason}")]
    HeadCorrupt {
        /// What is wrong with it.
        reason: String,
    },
    /// The audit goes on past the signed head: entries after it were not written
    /// through the state.
    #[error("the audit goes on to entry {last}, but its signed head is entry {head}: entries after {head} were not written through the state")]
    HeadBehind {
        /// The signed head's entry.
        head: i64,
        /// The last stored entry.
        last: i64,
    },
}

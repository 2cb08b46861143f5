//! The command line's one error type. `main` prints it as `portcullis: {error}` and
//! exits 1.

use std::io;
use std::path::{Path, PathBuf};

use portcullis_engine::{CompileErrors, LOCATED_ERRORS};

/// Why a command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A governance operation failed: refused, not found, a store or audit problem.
    #[error(transparent)]
    Governance(#[from] portcullis_governance::Error),
    /// A call through a server failed; the server's words.
    #[error("{0}")]
    Client(#[from] portcullis_server::ClientError),
    /// The server could not start or serve; why.
    #[error("{0}")]
    Server(#[from] portcullis_server::ServerError),
    /// A plugin host or plugin does not load.
    #[error(transparent)]
    Plugin(#[from] portcullis_plugins::LoadError),
    /// Test vectors do not load or do not run.
    #[error(transparent)]
    Vector(#[from] portcullis_plugins::VectorError),
    /// A value could not be written as JSON.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file could not be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A file could not be written.
    #[error("cannot write `{}`: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A bundle with errors, each with its place.
    #[error("{0}")]
    Compile(String),
    /// Anything else, in words.
    #[error("{0}")]
    Message(String),
}

impl CliError {
    /// Reading `path` failed.
    pub fn read(path: &Path) -> impl FnOnce(io::Error) -> CliError + '_ {
        move |source| CliError::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// Writing `path` failed.
    pub fn write(path: &Path) -> impl FnOnce(io::Error) -> CliError + '_ {
        move |source| CliError::Write {
            path: path.to_owned(),
            source,
        }
    }

    /// The bundle at `path` (or named so) does not compile.
    pub fn compile(path: &Path) -> impl FnOnce(CompileErrors) -> CliError + '_ {
        move |errors| CliError::Compile(render_errors(path, &errors))
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::Message(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> CliError {
        CliError::Message(message.to_owned())
    }
}

/// A bundle's errors: how many, then the first ones, each with its place.
fn render_errors(path: &Path, errors: &CompileErrors) -> String {
    let count = errors.errors().len();
    let mut out = format!(
        "`{}` has {count} error{}:",
        path.display(),
        if count == 1 { "" } else { "s" }
    );
    for error in errors.errors().iter().take(LOCATED_ERRORS) {
        out.push_str(&format!("\n  {}:{error}", path.display()));
    }
    if count > LOCATED_ERRORS {
        out.push_str(&format!("\n  … and {} more", count - LOCATED_ERRORS));
    }
    out
}

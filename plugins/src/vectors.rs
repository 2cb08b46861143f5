//! Test vectors: an input, the tenant's settings, and the verdict a plugin must give.
//!
//! One JSON file per vector:
//!
//! ```json
//! {"name": "listed hash is rejected",
//!  "config": {"hashes": "…"},
//!  "input": { …an approval input, or an execution for a rule plugin… },
//!  "expected": {"verdict": "reject", "reason": "…"}}
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use portcullis_engine::plugin::{ApprovalInput, Execution, Failure, Hook, RuleVerdict, Verdict};
use serde::{Deserialize, Serialize};

use crate::Plugin;

/// One test vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vector {
    /// What it checks.
    pub name: String,
    /// The tenant's settings for the call.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// The hook's input.
    pub input: serde_json::Value,
    /// The verdict the plugin must give.
    pub expected: serde_json::Value,
    /// The file it came from.
    #[serde(skip)]
    pub file: PathBuf,
}

/// Why vectors cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}`: {message}", file.display())]
pub struct VectorError {
    /// The file or directory.
    pub file: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// The result of running one vector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VectorResult {
    /// The vector's name.
    pub name: String,
    /// The verdict matched.
    pub pass: bool,
    /// What the plugin answered (a verdict as JSON).
    pub actual: serde_json::Value,
    /// The call failed (and so abstained).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// How long the call took.
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl Vector {
    /// Read every `*.json` file of `dir`, sorted by name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Vector>, VectorError> {
        let error = |file: &Path, message: String| VectorError {
            file: file.to_path_buf(),
            message,
        };
        let entries = std::fs::read_dir(dir).map_err(|e| error(dir, e.to_string()))?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(error(dir, "holds no `*.json` vector".to_owned()));
        }
        files
            .iter()
            .map(|file| {
                let text = std::fs::read_to_string(file).map_err(|e| error(file, e.to_string()))?;
                let mut vector: Vector =
                    serde_json::from_str(&text).map_err(|e| error(file, e.to_string()))?;
                vector.file.clone_from(file);
                Ok(vector)
            })
            .collect()
    }

    /// Run the vector on `plugin`.
    pub fn run(&self, plugin: &Plugin) -> Result<VectorResult, VectorError> {
        let error = |message: String| VectorError {
            file: self.file.clone(),
            message,
        };
        let config = Arc::new(self.config.clone());
        let (actual, expected, failure, elapsed) = match plugin.hook() {
            Hook::ApprovalReview => {
                let input: ApprovalInput = serde_json::from_value(self.input.clone())
                    .map_err(|e| error(format!("`input` is not an approval input: {e}")))?;
                let expected: Verdict = serde_json::from_value(self.expected.clone())
                    .map_err(|e| error(format!("`expected` is not an approval verdict: {e}")))?;
                let start = Instant::now();
                let outcome = plugin.review(&input, &config);
                let elapsed = start.elapsed();
                let actual = outcome.verdict();
                (
                    serde_json::to_value(&actual),
                    serde_json::to_value(&expected),
                    outcome.failure().cloned(),
                    elapsed,
                )
            }
            Hook::Rule => {
                let input: Execution = serde_json::from_value(self.input.clone())
                    .map_err(|e| error(format!("`input` is not an execution: {e}")))?;
                let expected: RuleVerdict = serde_json::from_value(self.expected.clone())
                    .map_err(|e| error(format!("`expected` is not a rule verdict: {e}")))?;
                let start = Instant::now();
                let outcome = plugin.check(&input, &config);
                let elapsed = start.elapsed();
                let actual = outcome.verdict();
                (
                    serde_json::to_value(&actual),
                    serde_json::to_value(&expected),
                    outcome.failure().cloned(),
                    elapsed,
                )
            }
        };
        let actual = actual.map_err(|e| error(e.to_string()))?;
        let expected = expected.map_err(|e| error(e.to_string()))?;
        Ok(VectorResult {
            name: self.name.clone(),
            pass: failure.is_none() && actual == expected,
            actual,
            failure,
            elapsed,
        })
    }
}

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

use portcullis_engine::plugin::{
    Abstain, ApprovalInput, Execution, Failure, Hook, PluginOutcome, RuleVerdict, Verdict,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::plugin::Plugin;

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
                Vector::parse(file, &text)
            })
            .collect()
    }

    /// One vector from its text; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Vector, VectorError> {
        let mut vector: Vector = serde_json::from_str(text).map_err(|e| VectorError {
            file: file.to_path_buf(),
            message: e.to_string(),
        })?;
        vector.file = file.to_path_buf();
        Ok(vector)
    }

    /// Run the vector on `plugin`.
    pub fn run(&self, plugin: &Plugin) -> Result<VectorResult, VectorError> {
        let config = Arc::new(self.config.clone());
        let called = match plugin.hook() {
            Hook::ApprovalReview => self.call::<ApprovalInput, Verdict>(
                ("an approval input", "an approval verdict"),
                |input| plugin.review(input, &config),
            ),
            Hook::Rule => self
                .call::<Execution, RuleVerdict>(("an execution", "a rule verdict"), |input| {
                    plugin.check(input, &config)
                }),
        };
        let Called {
            actual,
            expected,
            failure,
            elapsed,
        } = called?;
        Ok(VectorResult {
            name: self.name.clone(),
            pass: failure.is_none() && actual == expected,
            actual,
            failure,
            elapsed,
        })
    }

    /// Reads the input as `I` and the expected verdict as `V` (`what` they must be, in
    /// words), makes the call and times it, and gives both verdicts as JSON.
    fn call<I: DeserializeOwned, V: Abstain + Serialize + DeserializeOwned>(
        &self,
        what: (&str, &str),
        call: impl FnOnce(&I) -> PluginOutcome<V>,
    ) -> Result<Called, VectorError> {
        let error = |message: String| VectorError {
            file: self.file.clone(),
            message,
        };
        let input: I = serde_json::from_value(self.input.clone())
            .map_err(|e| error(format!("`input` is not {}: {e}", what.0)))?;
        let expected: V = serde_json::from_value(self.expected.clone())
            .map_err(|e| error(format!("`expected` is not {}: {e}", what.1)))?;
        let start = Instant::now();
        let outcome = call(&input);
        let elapsed = start.elapsed();
        let json = |verdict: &V| serde_json::to_value(verdict).map_err(|e| error(e.to_string()));
        Ok(Called {
            actual: json(&outcome.verdict())?,
            expected: json(&expected)?,
            failure: outcome.failure().cloned(),
            elapsed,
        })
    }
}

/// One call of a vector: both verdicts as JSON, the failure, the time.
struct Called {
    actual: serde_json::Value,
    expected: serde_json::Value,
    failure: Option<Failure>,
    elapsed: Duration,
}

//! Runs every SPEC case file in `engine/tests/cases/` against every evaluator: the indexed
//! snapshot, the reference evaluator, and the explanation path.
//!
//! A case file is JSON:
//! ```json
//! {
//!   "about": "what the file covers (SPEC section)",
//!   "bundle": { ...a bundle... },
//!   "cases": [
//!     {"name": "…", "event": { ...an event... }, "expect": { ...decision fields... }}
//!   ],
//!   "invalid": [
//!     {"name": "…", "bundle": { ... }, "errors": [{"path": "policies[0].scope.group", "message": "unknown group"}]}
//!   ]
//! }
//! ```
//! `expect` lists only the fields a case is about; every field listed must be equal in
//! the decision. `invalid` bundles must fail to compile with at least the listed errors
//! (`message` is a substring; `path` is exact).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use portcullis_engine::{reference, Bundle, Event, Snapshot};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    about: String,
    #[serde(default)]
    bundle: Option<Value>,
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    invalid: Vec<InvalidCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    event: Value,
    expect: serde_json::Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvalidCase {
    name: String,
    bundle: Value,
    errors: Vec<ExpectedError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    path: String,
    message: String,
}

/// Every field a decision has, so that a misspelt expectation fails instead of passing.
const DECISION_FIELDS: [&str; 14] = [
    "decision",
    "elevated",
    "policy",
    "application",
    "default_deny",
    "would_deny",
    "mode",
    "notify_user",
    "can_request",
    "request_kind",
    "notify",
    "learn",
    "generation",
    "problems",
];

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

/// Runs one file; returns the number of checks made, or the failures.
fn run_file(path: &Path) -> Result<usize, Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let file: CaseFile =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        !file.about.is_empty(),
        "{}: `about` is empty",
        path.display()
    );
    let mut failures = Vec::new();
    let mut checks = 0;
    if !file.cases.is_empty() {
        let bundle_value = file
            .bundle
            .clone()
            .unwrap_or_else(|| panic!("{}: cases need a bundle", path.display()));
        let bundle: Bundle = serde_json::from_value(bundle_value)
            .unwrap_or_else(|e| panic!("{}: bundle: {e}", path.display()));
        let snapshot = Snapshot::compile(&bundle).unwrap_or_else(|errors| {
            panic!("{}: bundle does not compile:\n{errors}", path.display())
        });
        for case in &file.cases {
            let event: Event = serde_json::from_value(case.event.clone())
                .unwrap_or_else(|e| panic!("{}: case `{}`: event: {e}", path.display(), case.name));
            let indexed = serde_json::to_value(snapshot.decide(&event)).unwrap();
            let explained = snapshot.explain(&event);
            let reference = reference::decide(&bundle, &event);
            let mut indexed_record = snapshot.decide(&event).to_record();
            indexed_record.generation = 0;
            if indexed_record != reference {
                failures.push(format!(
                    "{} / {}: indexed and reference evaluators disagree\n  indexed:   {indexed_record:?}\n  reference: {reference:?}",
                    path.display(),
                    case.name
                ));
            }
            if explained.decision != snapshot.decide(&event).to_record() {
                failures.push(format!(
                    "{} / {}: explain gives another decision",
                    path.display(),
                    case.name
                ));
            }
            for (field, want) in &case.expect {
                checks += 1;
                if !DECISION_FIELDS.contains(&field.as_str()) {
                    failures.push(format!(
                        "{} / {}: `{field}` is not a decision field",
                        path.display(),
                        case.name
                    ));
                    continue;
                }
                let got = indexed.get(field).cloned().unwrap_or(Value::Null);
                let got = if field == "problems" && got.is_null() {
                    Value::Array(Vec::new())
                } else {
                    got
                };
                if &got != want {
                    failures.push(format!(
                        "{} / {}: `{field}` is {got}, expected {want}\n  decision: {indexed}",
                        path.display(),
                        case.name
                    ));
                }
            }
        }
    }
    for case in &file.invalid {
        let text = serde_json::to_string_pretty(&case.bundle).unwrap();
        match Snapshot::compile_json(&text) {
            Ok(_) => failures.push(format!(
                "{} / {}: the bundle compiled",
                path.display(),
                case.name
            )),
            Err(errors) => {
                for want in &case.errors {
                    checks += 1;
                    let found = errors.errors().iter().any(|e| {
                        e.path == want.path
                            && e.message.contains(&want.message)
                            && e.location.is_some()
                    });
                    if !found {
                        failures.push(format!(
                            "{} / {}: no error at `{}` containing `{}` (with a line and column); got:\n{errors}",
                            path.display(),
                            case.name,
                            want.path,
                            want.message
                        ));
                    }
                }
            }
        }
    }
    if failures.is_empty() {
        Ok(checks)
    } else {
        Err(failures)
    }
}

#[test]
fn spec_cases() {
    let files = case_files();
    assert!(!files.is_empty(), "no case files in engine/tests/cases");
    let mut failures = Vec::new();
    let mut checks = 0;
    for file in &files {
        match run_file(file) {
            Ok(n) => checks += n,
            Err(mut more) => failures.append(&mut more),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(checks > 0, "the case files checked nothing");
    eprintln!("{} case files, {checks} checks", files.len());
}

//! Every SPEC case of `engine/tests/cases/*.json` through the C ABI: each event goes through
//! `portcullis_snapshot_decide` (the C struct), `portcullis_snapshot_decide_json` and
//! `portcullis_snapshot_explain_json`, and each must give the engine's Rust decision
//! and the case's expectations. Invalid bundles must fail to create an engine with the
//! case's errors. (The case format is described in `engine/tests/spec_cases.rs`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![expect(unsafe_code, reason = "the test calls the C functions, as C does")]

mod support;

use std::ffi::{c_char, CStr};
use std::path::{Path, PathBuf};
use std::ptr;

use portcullis_engine::{Engine, Event};
use portcullis_ffi::*;
use serde_json::Value;
use support::CEvent;

fn case_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no case files in {}", dir.display());
    files
}

fn engine_error(engine: *const PortcullisEngine) -> String {
    let mut buffer = vec![0 as c_char; 8192];
    // SAFETY: a live handle (or null) and a writable buffer.
    unsafe { portcullis_engine_error(engine, buffer.as_mut_ptr(), buffer.len()) };
    // SAFETY: the library wrote a NUL-terminated string.
    unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

fn text(s: PortcullisStr) -> Option<String> {
    if s.ptr.is_null() {
        return None;
    }
    // SAFETY: the decision's ids point into the live snapshot.
    let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
    Some(std::str::from_utf8(bytes).unwrap().to_owned())
}

/// The fields of a C decision, comparable.
fn fields(
    d: &PortcullisDecision,
) -> (
    bool,
    u32,
    u32,
    u32,
    Option<String>,
    Option<String>,
    usize,
    u64,
) {
    (
        d.outcome == PortcullisOutcome::Allow,
        d.flags,
        d.mode as u32,
        d.request_kind as u32,
        text(d.policy),
        text(d.application),
        d.notify_count,
        d.generation,
    )
}

fn empty_decision() -> PortcullisDecision {
    PortcullisDecision {
        outcome: PortcullisOutcome::Deny,
        flags: u32::MAX,
        mode: PortcullisMode::None,
        request_kind: PortcullisRequestKind::None,
        policy: PortcullisStr {
            ptr: ptr::null(),
            len: 0,
        },
        application: PortcullisStr {
            ptr: ptr::null(),
            len: 0,
        },
        notify_count: usize::MAX,
        generation: u64::MAX,
    }
}

/// What the C decision says of one expected field, as JSON.
fn c_field(d: &PortcullisDecision, field: &str) -> Option<Value> {
    let flag = |bit: u32| Value::Bool(d.flags & bit != 0);
    Some(match field {
        "decision" => Value::from(match d.outcome {
            PortcullisOutcome::Allow => "allow",
            PortcullisOutcome::Deny => "deny",
        }),
        "elevated" => flag(PORTCULLIS_FLAG_ELEVATED),
        "policy" => text(d.policy).map_or(Value::Null, Value::from),
        "application" => text(d.application).map_or(Value::Null, Value::from),
        "default_deny" => flag(PORTCULLIS_FLAG_DEFAULT_DENY),
        "would_deny" => flag(PORTCULLIS_FLAG_WOULD_DENY),
        "notify_user" => flag(PORTCULLIS_FLAG_NOTIFY_USER),
        "can_request" => flag(PORTCULLIS_FLAG_CAN_REQUEST),
        "learn" => flag(PORTCULLIS_FLAG_LEARN),
        "generation" => Value::from(d.generation),
        "mode" => match d.mode {
            PortcullisMode::None => Value::Null,
            PortcullisMode::Monitor => Value::from("monitor"),
            PortcullisMode::Learning => Value::from("learning"),
            PortcullisMode::Installation => Value::from("installation"),
        },
        "request_kind" => match d.request_kind {
            PortcullisRequestKind::None => Value::Null,
            PortcullisRequestKind::Application => Value::from("application"),
            PortcullisRequestKind::Elevation => Value::from("elevation"),
        },
        // Recipients and problem messages are in the JSON, checked below.
        _ => return None,
    })
}

#[test]
fn every_spec_case_decides_through_the_c_abi_as_in_rust() {
    let mut failures = Vec::new();
    let mut decided = 0;
    let mut invalid = 0;
    for path in case_files() {
        let file: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(bundle) = file.get("bundle") {
            let bundle_text = serde_json::to_string_pretty(bundle).unwrap();
            let rust = Engine::from_json(&bundle_text).unwrap();
            let rust = rust.snapshot();
            let mut engine = ptr::null_mut();
            // SAFETY: a readable text and a writable out pointer.
            let status = unsafe {
                portcullis_engine_from_json(
                    bundle_text.as_ptr().cast(),
                    bundle_text.len(),
                    &mut engine,
                )
            };
            assert_eq!(
                status,
                PortcullisStatus::Ok,
                "{name}: {}",
                engine_error(engine)
            );
            let mut snapshot = ptr::null_mut();
            // SAFETY: a live engine and a writable out pointer.
            assert_eq!(
                unsafe { portcullis_engine_snapshot(engine, &mut snapshot) },
                PortcullisStatus::Ok
            );
            for case in file["cases"].as_array().into_iter().flatten() {
                let label = format!("{name} / {}", case["name"].as_str().unwrap());
                let event_text = serde_json::to_string(&case["event"]).unwrap();
                let event = CEvent::new(Event::from_json(&event_text).unwrap());
                let want = PortcullisDecision::of(&rust.decide(&event.event));

                let mut by_struct = empty_decision();
                let c_event = event.c();
                // SAFETY: a live snapshot, an event borrowing `event`, a writable out.
                let status =
                    unsafe { portcullis_snapshot_decide(snapshot, &c_event, &mut by_struct) };
                assert_eq!(status, PortcullisStatus::Ok, "{label}");
                let mut by_json = empty_decision();
                // SAFETY: as above, with a readable JSON text.
                let status = unsafe {
                    portcullis_snapshot_decide_json(
                        snapshot,
                        event_text.as_ptr().cast(),
                        event_text.len(),
                        &mut by_json,
                    )
                };
                assert_eq!(status, PortcullisStatus::Ok, "{label}");
                let mut raw: *mut c_char = ptr::null_mut();
                let mut len = 0;
                // SAFETY: as above, with writable out pointers.
                let status = unsafe {
                    portcullis_snapshot_explain_json(
                        snapshot,
                        event_text.as_ptr().cast(),
                        event_text.len(),
                        &mut raw,
                        &mut len,
                    )
                };
                assert_eq!(status, PortcullisStatus::Ok, "{label}");
                // SAFETY: the library returned `len` bytes and a NUL at `raw`.
                let explained: Value = serde_json::from_slice(unsafe {
                    std::slice::from_raw_parts(raw.cast::<u8>(), len)
                })
                .unwrap();
                // SAFETY: returned by the library, freed once.
                unsafe { portcullis_string_free(raw) };

                if fields(&by_struct) != fields(&want) {
                    failures.push(format!(
                        "{label}: C struct decision {:?}, Rust {:?}",
                        fields(&by_struct),
                        fields(&want)
                    ));
                }
                if fields(&by_json) != fields(&want) {
                    failures.push(format!(
                        "{label}: JSON decision {:?}, Rust {:?}",
                        fields(&by_json),
                        fields(&want)
                    ));
                }
                let record = serde_json::to_value(rust.explain(&event.event)).unwrap();
                if explained != record {
                    failures.push(format!("{label}: explanations differ"));
                }
                for (field, expected) in case["expect"].as_object().unwrap() {
                    let got = c_field(&by_struct, field).unwrap_or_else(|| {
                        explained
                            .get(field)
                            .cloned()
                            .unwrap_or(Value::Array(vec![]))
                    });
                    if &got != expected {
                        failures.push(format!("{label}: `{field}` is {got}, expected {expected}"));
                    }
                }
                decided += 1;
            }
            // SAFETY: live handles, freed once.
            unsafe {
                portcullis_snapshot_free(snapshot);
                portcullis_engine_free(engine);
            }
        }
        for case in file
            .get("invalid")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let label = format!("{name} / {}", case["name"].as_str().unwrap());
            let bundle_text = serde_json::to_string_pretty(&case["bundle"]).unwrap();
            let mut engine = ptr::null_mut();
            // SAFETY: a readable text and a writable out pointer.
            let status = unsafe {
                portcullis_engine_from_json(
                    bundle_text.as_ptr().cast(),
                    bundle_text.len(),
                    &mut engine,
                )
            };
            let message = engine_error(engine);
            // SAFETY: the handle the create wrote, freed once.
            unsafe { portcullis_engine_free(engine) };
            let rust = Engine::from_json(&bundle_text).err().map(|e| e.to_string());
            if status != PortcullisStatus::InvalidBundle {
                failures.push(format!(
                    "{label}: status {status:?}, expected an invalid bundle"
                ));
            }
            if rust.as_deref() != Some(message.as_str()) {
                failures.push(format!("{label}: message {message:?}, Rust says {rust:?}"));
            }
            for error in case["errors"].as_array().unwrap() {
                let (path, text) = (
                    error["path"].as_str().unwrap(),
                    error["message"].as_str().unwrap(),
                );
                if !message
                    .lines()
                    .any(|l| l.contains(&format!(" {path}")) && l.contains(text))
                {
                    failures.push(format!(
                        "{label}: no error at `{path}` saying `{text}` in:\n{message}"
                    ));
                }
            }
            invalid += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(decided > 50, "only {decided} cases decided");
    assert!(invalid > 0, "no invalid bundle checked");
    eprintln!("{decided} cases decided and {invalid} invalid bundles rejected through the C ABI");
}

//! The contract of the C ABI, called as C calls it: no allocation on the decision path,
//! status codes for null pointers, invalid UTF-8 and bad events, errors with line and
//! column, deploys of whole bundles and of changes, rollback, and many threads on one
//! snapshot.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![expect(unsafe_code, reason = "the test calls the C functions, as C does")]

mod support;

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use portcullis_engine::Event;
use portcullis_ffi::*;
use portcullis_testkit::alloc::{allocations_during, Counting};
use support::CEvent;

#[global_allocator]
static GLOBAL: Counting = Counting;

const BUNDLE: &str = include_str!("../../examples/bundle.json");
const EVENTS: &str = include_str!("../../examples/events.jsonl");

fn events() -> Vec<CEvent> {
    EVENTS
        .lines()
        .map(|line| CEvent::new(Event::from_json(line).unwrap()))
        .collect()
}

struct Handles {
    engine: *mut PortcullisEngine,
    snapshot: *mut PortcullisSnapshot,
}

impl Handles {
    fn new(bundle: &str) -> Handles {
        let mut engine = ptr::null_mut();
        // SAFETY: a readable text and a writable out pointer.
        let status = unsafe {
            portcullis_engine_from_json(bundle.as_ptr().cast(), bundle.len(), &mut engine)
        };
        assert_eq!(status, PortcullisStatus::Ok, "{}", engine_error(engine));
        let mut snapshot = ptr::null_mut();
        // SAFETY: a live engine and a writable out pointer.
        assert_eq!(
            unsafe { portcullis_engine_snapshot(engine, &mut snapshot) },
            PortcullisStatus::Ok
        );
        Handles { engine, snapshot }
    }

    fn decide(&self, event: &PortcullisEvent) -> (PortcullisStatus, PortcullisDecision) {
        let mut out = blank();
        // SAFETY: a live snapshot, a readable event, a writable out.
        let status = unsafe { portcullis_snapshot_decide(self.snapshot, event, &mut out) };
        (status, out)
    }

    fn refresh(&mut self) {
        // SAFETY: live handles; the old snapshot is freed once.
        unsafe {
            portcullis_snapshot_free(self.snapshot);
            assert_eq!(
                portcullis_engine_snapshot(self.engine, &mut self.snapshot),
                PortcullisStatus::Ok
            );
        }
    }
}

impl Drop for Handles {
    fn drop(&mut self) {
        // SAFETY: live handles, freed once.
        unsafe {
            portcullis_snapshot_free(self.snapshot);
            portcullis_engine_free(self.engine);
        }
    }
}

fn blank() -> PortcullisDecision {
    let none = PortcullisStr {
        ptr: ptr::null(),
        len: 0,
    };
    PortcullisDecision {
        outcome: PortcullisOutcome::Deny,
        flags: 0,
        mode: PortcullisMode::None,
        request_kind: PortcullisRequestKind::None,
        policy: none,
        application: none,
        notify_count: 0,
        generation: 0,
    }
}

fn read(f: impl Fn(*mut c_char, usize) -> usize) -> String {
    let n = f(ptr::null_mut(), 0);
    let mut buffer = vec![0 as c_char; n + 1];
    assert_eq!(f(buffer.as_mut_ptr(), buffer.len()), n);
    // SAFETY: the library wrote a NUL-terminated string.
    unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_str()
        .unwrap()
        .to_owned()
}

fn engine_error(engine: *const PortcullisEngine) -> String {
    // SAFETY: a live handle or null, and a buffer as `read` gives it.
    read(|b, n| unsafe { portcullis_engine_error(engine, b, n) })
}

fn snapshot_error(snapshot: *const PortcullisSnapshot) -> String {
    // SAFETY: a live handle or null, and a buffer as `read` gives it.
    read(|b, n| unsafe { portcullis_snapshot_error(snapshot, b, n) })
}

fn policy(d: &PortcullisDecision) -> Option<&str> {
    if d.policy.ptr.is_null() {
        return None;
    }
    // SAFETY: the id points into the live snapshot.
    Some(
        std::str::from_utf8(unsafe {
            std::slice::from_raw_parts(d.policy.ptr.cast(), d.policy.len)
        })
        .unwrap(),
    )
}

#[test]
fn deciding_through_the_c_abi_allocates_nothing_once_warm() {
    let handles = Handles::new(BUNDLE);
    let events = events();
    let c_events: Vec<PortcullisEvent> = events.iter().map(CEvent::c).collect();
    // Warm up: buffers grow to the longest strings and the signers are parsed.
    for event in &c_events {
        assert_eq!(handles.decide(event).0, PortcullisStatus::Ok);
    }
    // The same event again and again (the same signer): nothing at all.
    for event in &c_events {
        handles.decide(event);
        let n = allocations_during(|| {
            for _ in 0..100 {
                assert_eq!(handles.decide(event).0, PortcullisStatus::Ok);
            }
        });
        assert_eq!(n, 0, "{:?}", event.path);
    }
    // Every event in turn, each signer after another: the signers stay parsed.
    let n = allocations_during(|| {
        for _ in 0..10 {
            for event in &c_events {
                assert_eq!(handles.decide(event).0, PortcullisStatus::Ok);
            }
        }
    });
    assert_eq!(n, 0);
    // Unsigned events in any order: nothing either.
    let unsigned: Vec<&PortcullisEvent> = c_events
        .iter()
        .filter(|e| e.signer_subject.ptr.is_null())
        .collect();
    assert!(unsigned.len() >= 2);
    let n = allocations_during(|| {
        for event in &unsigned {
            handles.decide(event);
        }
    });
    assert_eq!(n, 0);
    // A batch of the unsigned events in one call.
    let batch: Vec<PortcullisEvent> = unsigned.iter().map(|e| **e).collect();
    let mut out = vec![blank(); batch.len()];
    let mut decided = 0;
    let n = allocations_during(|| {
        // SAFETY: a live snapshot, readable events, as many writable outs.
        let status = unsafe {
            portcullis_snapshot_decide_batch(
                handles.snapshot,
                batch.as_ptr(),
                batch.len(),
                out.as_mut_ptr(),
                &mut decided,
            )
        };
        assert_eq!(status, PortcullisStatus::Ok);
    });
    assert_eq!((n, decided), (0, batch.len()));
}

#[test]
fn the_c_decision_is_the_rust_one() {
    let handles = Handles::new(BUNDLE);
    let snapshot = portcullis_engine::Snapshot::compile_json(BUNDLE).unwrap();
    for event in events() {
        let (status, out) = handles.decide(&event.c());
        assert_eq!(status, PortcullisStatus::Ok);
        let rust = snapshot.decide(&event.event);
        assert_eq!(policy(&out), rust.policy);
        assert_eq!(out.outcome == PortcullisOutcome::Allow, rust.is_allowed());
        assert_eq!(out.flags, PortcullisDecision::of(&rust).flags);
        assert_eq!(out.notify_count, rust.notify.len());
    }
}

#[test]
fn bad_arguments_get_a_status_and_a_message() {
    let handles = Handles::new(BUNDLE);
    let events = events();
    let good = events[0].c();

    let mut bad = good;
    bad.computer.ptr = ptr::null();
    assert_eq!(handles.decide(&bad).0, PortcullisStatus::NullArgument);
    assert_eq!(
        snapshot_error(handles.snapshot),
        "`computer` is a null pointer"
    );

    let invalid = [b'p', 0xff, b'c'];
    let mut bad = good;
    bad.path = PortcullisStr {
        ptr: invalid.as_ptr().cast(),
        len: invalid.len(),
    };
    assert_eq!(handles.decide(&bad).0, PortcullisStatus::InvalidUtf8);
    assert_eq!(
        snapshot_error(handles.snapshot),
        "`path` is not valid UTF-8 (at byte 1)"
    );

    let mut bad = good;
    bad.signature_status = 9;
    assert_eq!(handles.decide(&bad).0, PortcullisStatus::InvalidEvent);
    let mut bad = good;
    let subject = "not a name";
    bad.signer_subject = PortcullisStr {
        ptr: subject.as_ptr().cast(),
        len: subject.len(),
    };
    assert_eq!(handles.decide(&bad).0, PortcullisStatus::InvalidEvent);
    assert!(snapshot_error(handles.snapshot).starts_with("invalid event: `signer_subject`: "));
    // After errors, the same buffers decide correctly.
    assert_eq!(handles.decide(&good).0, PortcullisStatus::Ok);
    assert_eq!(policy(&handles.decide(&good).1), Some("permit-chrome"));

    // Null handles and out pointers.
    let mut out = blank();
    // SAFETY: null handles are allowed and reported.
    unsafe {
        assert_eq!(
            portcullis_snapshot_decide(ptr::null(), &good, &mut out),
            PortcullisStatus::NullArgument
        );
        assert_eq!(
            portcullis_snapshot_decide(handles.snapshot, ptr::null(), &mut out),
            PortcullisStatus::NullArgument
        );
        assert_eq!(
            portcullis_snapshot_decide(handles.snapshot, &good, ptr::null_mut()),
            PortcullisStatus::NullArgument
        );
        assert_eq!(
            portcullis_engine_rollback(ptr::null(), ptr::null_mut()),
            PortcullisStatus::NullArgument
        );
        assert_eq!(
            portcullis_engine_from_json(ptr::null(), 0, ptr::null_mut()),
            PortcullisStatus::NullArgument
        );
    }
    // SAFETY: a buffer as `read` gives it.
    assert_eq!(
        read(|b, n| unsafe { portcullis_last_error(b, n) }),
        "`out` is a null pointer"
    );

    // A bad event from JSON: the field, line and column.
    let json = "{\"computer\": \"x\",\n  \"time\": \"yesterday\"}";
    // SAFETY: a live snapshot, a readable text, a writable out.
    let status = unsafe {
        portcullis_snapshot_decide_json(
            handles.snapshot,
            json.as_ptr().cast(),
            json.len(),
            &mut out,
        )
    };
    assert_eq!(status, PortcullisStatus::InvalidEvent);
    assert!(
        snapshot_error(handles.snapshot).starts_with("invalid event: `time`: "),
        "{}",
        snapshot_error(handles.snapshot)
    );
    let (mut line, mut column) = (0, 0);
    // SAFETY: a live snapshot and writable outs.
    assert!(unsafe {
        portcullis_snapshot_error_location(handles.snapshot, &mut line, &mut column)
    });
    assert_eq!(line, 2);
    assert!(column > 0);

    // A batch stops at the first bad event and says which.
    let batch = [good, good, bad];
    let mut outs = [out; 3];
    let mut decided = 0;
    // SAFETY: a live snapshot, readable events, as many writable outs.
    let status = unsafe {
        portcullis_snapshot_decide_batch(
            handles.snapshot,
            batch.as_ptr(),
            3,
            outs.as_mut_ptr(),
            &mut decided,
        )
    };
    assert_eq!((status, decided), (PortcullisStatus::InvalidEvent, 2));
    assert!(snapshot_error(handles.snapshot).starts_with("events[2]: invalid event"));
}

#[test]
fn bundles_deploy_roll_back_and_report_where_they_are_wrong() {
    let mut handles = Handles::new(BUNDLE);
    let mut generation = 0;
    // SAFETY: (every block below) live handles, readable texts, writable outs.
    unsafe {
        assert_eq!(
            portcullis_engine_rollback(handles.engine, &mut generation),
            PortcullisStatus::NoHistory
        );
        assert_eq!(
            engine_error(handles.engine),
            "there is no earlier snapshot to roll back to"
        );

        let broken = BUNDLE.replacen("\"permit\"", "\"perhaps\"", 1);
        let status = portcullis_engine_deploy_json(
            handles.engine,
            broken.as_ptr().cast(),
            broken.len(),
            &mut generation,
        );
        assert_eq!(status, PortcullisStatus::InvalidBundle);
        let rust = portcullis_engine::Engine::from_json(BUNDLE)
            .unwrap()
            .deploy_json(&broken)
            .unwrap_err();
        assert_eq!(engine_error(handles.engine), rust.to_string());
        let (mut line, mut column) = (0, 0);
        assert!(portcullis_engine_error_location(
            handles.engine,
            &mut line,
            &mut column
        ));
        assert_eq!(Some((line, column)), rust.errors()[0].location);
        portcullis_engine_generation(handles.engine, &mut generation);
        assert_eq!(generation, 1);

        assert_eq!(
            portcullis_engine_deploy_json(
                handles.engine,
                BUNDLE.as_ptr().cast(),
                BUNDLE.len(),
                &mut generation
            ),
            PortcullisStatus::Ok
        );
        assert_eq!(generation, 2);
    }
    // A change to one organization that drops its own policies: PowerShell is no
    // longer denied there, as the same change deployed in Rust says.
    let bundle: serde_json::Value = serde_json::from_str(BUNDLE).unwrap();
    let event = &events()[2];
    let org = "lakeside";
    let mut change = bundle.clone();
    for list in [
        "organizations",
        "groups",
        "computers",
        "applications",
        "policies",
    ] {
        change[list].as_array_mut().unwrap().retain(|entry| {
            entry["id"] == org
                || entry["organization"] == org
                || entry["scope"]["organization"] == org
                || entry["group"]
                    .as_str()
                    .is_some_and(|g| g.starts_with("lakeside"))
                || entry["scope"]["group"]
                    .as_str()
                    .is_some_and(|g| g.starts_with("lakeside"))
                || entry["scope"]["computer"]
                    .as_str()
                    .is_some_and(|g| g.starts_with("lakeside"))
        });
    }
    change["policies"].as_array_mut().unwrap().retain(|p| {
        p["scope"]["organization"] != org
            && p["scope"]["group"].is_null()
            && p["scope"]["computer"].is_null()
    });
    let text = serde_json::to_string(&change).unwrap();
    handles.refresh();
    assert_eq!(
        policy(&handles.decide(&event.c()).1),
        Some("deny-powershell")
    );
    let rust = portcullis_engine::Engine::from_json(BUNDLE).unwrap();
    rust.deploy_change(&portcullis_engine::BundleChange::new(
        portcullis_engine::parse(&text).unwrap(),
    ))
    .unwrap();
    let want = rust.snapshot().decide(&event.event).to_record();
    assert_ne!(want.policy.as_deref(), Some("deny-powershell"));
    // SAFETY: a live engine, a readable text, no removed ids, a writable out.
    let status = unsafe {
        portcullis_engine_deploy_change_json(
            handles.engine,
            text.as_ptr().cast(),
            text.len(),
            ptr::null(),
            0,
            &mut generation,
        )
    };
    assert_eq!(
        status,
        PortcullisStatus::Ok,
        "{}",
        engine_error(handles.engine)
    );
    assert_eq!(generation, 3);
    handles.refresh();
    let (_, after) = handles.decide(&event.c());
    assert_eq!(policy(&after), want.policy.as_deref());
    assert_eq!(
        after.outcome == PortcullisOutcome::Allow,
        want.decision == portcullis_engine::Outcome::Allow
    );
    // Removing the organization: its computer is no longer known.
    let removed = [PortcullisStr {
        ptr: org.as_ptr().cast(),
        len: org.len(),
    }];
    let empty = r#"{"format": "portcullis.bundle/v1"}"#;
    // SAFETY: a live engine, readable texts, a writable out.
    let status = unsafe {
        portcullis_engine_deploy_change_json(
            handles.engine,
            empty.as_ptr().cast(),
            empty.len(),
            removed.as_ptr(),
            1,
            &mut generation,
        )
    };
    assert_eq!(
        status,
        PortcullisStatus::Ok,
        "{}",
        engine_error(handles.engine)
    );
    handles.refresh();
    assert_ne!(
        handles.decide(&event.c()).1.flags & PORTCULLIS_FLAG_UNKNOWN_COMPUTER,
        0
    );
    // Rolling back twice restores the organization's policies.
    // SAFETY: a live engine and a writable out.
    unsafe {
        assert_eq!(
            portcullis_engine_rollback(handles.engine, &mut generation),
            PortcullisStatus::Ok
        );
        assert_eq!(
            portcullis_engine_rollback(handles.engine, &mut generation),
            PortcullisStatus::Ok
        );
    }
    assert_eq!(generation, 6);
    handles.refresh();
    assert_eq!(
        policy(&handles.decide(&event.c()).1),
        Some("deny-powershell")
    );
}

#[test]
fn a_failed_create_hands_out_a_handle_holding_the_error() {
    let path = CString::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/bundle.json"
    ))
    .unwrap();
    let mut engine = ptr::null_mut();
    // SAFETY: (every block below) readable strings, writable outs, handles freed once.
    unsafe {
        assert_eq!(
            portcullis_engine_from_file(path.as_ptr(), &mut engine),
            PortcullisStatus::Ok
        );
        portcullis_engine_free(engine);

        let missing = c"/nonexistent/bundle.json";
        assert_eq!(
            portcullis_engine_from_file(missing.as_ptr(), &mut engine),
            PortcullisStatus::Io
        );
        assert!(engine_error(engine).starts_with("cannot read `/nonexistent/bundle.json`: "));
        let mut generation = 0;
        assert_eq!(
            portcullis_engine_generation(engine, &mut generation),
            PortcullisStatus::InvalidBundle
        );
        portcullis_engine_free(engine);

        let text = "{\n  \"format\": \"portcullis.bundle/v9\"\n}";
        assert_eq!(
            portcullis_engine_from_json(text.as_ptr().cast(), text.len(), &mut engine),
            PortcullisStatus::InvalidBundle
        );
        let rust = portcullis_engine::Engine::from_json(text).unwrap_err();
        assert_eq!(engine_error(engine), rust.to_string());
        assert!(
            engine_error(engine).starts_with("2:"),
            "{}",
            engine_error(engine)
        );
        portcullis_engine_free(engine);
        assert_eq!(
            CStr::from_ptr(portcullis_status_name(
                PortcullisStatus::InvalidBundle as i32
            )),
            c"invalid bundle"
        );
        assert_eq!(
            CStr::from_ptr(portcullis_status_name(42)),
            c"unknown status"
        );
    }
}

#[test]
fn many_threads_decide_on_one_snapshot() {
    let handles = Handles::new(BUNDLE);
    let events = events();
    let rust = portcullis_engine::Snapshot::compile_json(BUNDLE).unwrap();
    let want: Vec<Option<&str>> = events
        .iter()
        .map(|e| rust.decide(&e.event).policy)
        .collect();
    let snapshot = handles.snapshot as usize;
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (events, want) = (&events, &want);
            scope.spawn(move || {
                for round in 0..200 {
                    let n = (round + t) % events.len();
                    let mut out = blank();
                    // SAFETY: the snapshot outlives the scope; a readable event, a writable out.
                    let status = unsafe {
                        portcullis_snapshot_decide(
                            snapshot as *const PortcullisSnapshot,
                            &events[n].c(),
                            &mut out,
                        )
                    };
                    assert_eq!(status, PortcullisStatus::Ok);
                    assert_eq!(policy(&out), want[n]);
                }
            });
        }
    });
}

#[test]
fn inspect_prints_what_the_command_line_prints() {
    let path = CString::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/bundle.json"
    ))
    .unwrap();
    let mut json = ptr::null_mut();
    let mut len = 0;
    // SAFETY: readable strings, writable outs; the string is freed once.
    let text = unsafe {
        assert_eq!(
            portcullis_inspect(path.as_ptr(), ptr::null(), &mut json, &mut len),
            PortcullisStatus::Ok
        );
        let text = CStr::from_ptr(json).to_str().unwrap().to_owned();
        portcullis_string_free(json);
        text
    };
    assert_eq!(text.len(), len);
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let bytes = std::fs::read(path.to_str().unwrap()).unwrap();
    assert_eq!(
        value["sha256"],
        portcullis_engine::identity::sha256_bytes(&bytes).to_string()
    );
    assert_eq!(value["size"], bytes.len());
    assert_eq!(value["signature"]["status"], "unsigned");
    assert!(text.starts_with("{\"path\":\"/"), "{text}");
    // SAFETY: readable strings, writable outs.
    let status =
        unsafe { portcullis_inspect(c"/nonexistent".as_ptr(), ptr::null(), &mut json, &mut len) };
    assert_eq!(status, PortcullisStatus::Io);
    // SAFETY: a buffer as `read` gives it.
    assert!(read(|b, n| unsafe { portcullis_last_error(b, n) })
        .starts_with("`/nonexistent`: cannot read the file"));
}

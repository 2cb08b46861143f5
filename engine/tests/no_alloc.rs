//! The decision path allocates nothing once a thread's scratch space has grown: a
//! counting global allocator watches every decision of the example events, and of a
//! bundle of `regex:` rules decided from several threads at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Barrier;

use portcullis_engine::{Engine, Event, Scratch};
use portcullis_testkit::alloc::{allocations_during, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn events(jsonl: &str) -> Vec<Event> {
    jsonl
        .lines()
        .map(|line| Event::from_json(line).unwrap())
        .collect()
}

/// Decides every event with a scratch of its own, with the thread's scratch, and through
/// a fresh snapshot; returns how many were allowed.
fn decide_all(engine: &Engine, events: &[Event], scratch: &mut Scratch) -> usize {
    let snapshot = engine.snapshot();
    let mut allowed = 0;
    for event in events {
        allowed += usize::from(snapshot.decide_with(event, scratch).is_allowed());
        allowed += usize::from(snapshot.decide(event).is_allowed());
        allowed += usize::from(engine.snapshot().decide(event).is_allowed());
    }
    allowed
}

#[test]
fn deciding_does_not_allocate() {
    let engine = Engine::from_json(include_str!("../../examples/bundle.json")).unwrap();
    let events = events(include_str!("../../examples/events.jsonl"));
    let mut scratch = Scratch::default();
    // Warm up: the scratch buffers grow to their working size.
    decide_all(&engine, &events, &mut scratch);
    let mut allowed = 0;
    let allocations = allocations_during(|| {
        for _ in 0..100 {
            allowed += decide_all(&engine, &events, &mut scratch);
        }
    });
    assert!(allowed > 0);
    assert_eq!(allocations, 0, "decisions allocated");
}

/// Several `regex:` rules on every path field, in two organizations, both families.
const REGEX_BUNDLE: &str = r#"{
  "format": "portcullis.bundle/v1",
  "organizations": [
    {"id": "root", "name": "Root"},
    {"id": "child", "name": "Child", "parent": "root"}
  ],
  "groups": [
    {"id": "linux", "organization": "child", "name": "Linux"},
    {"id": "windows", "organization": "child", "name": "Windows"}
  ],
  "computers": [
    {"id": "build-01", "group": "linux", "name": "build-01", "os": "linux"},
    {"id": "pc-01", "group": "windows", "name": "PC-01", "os": "windows"}
  ],
  "applications": [
    {"id": "python", "organization": "root", "name": "Python",
     "rules": [{"path": "regex:^/usr/(local/)?bin/python3(\\.[0-9]+)?$"},
               {"path": "regex:^/opt/python[0-9]+/bin/"},
               {"path": "regex:/venv/bin/python$", "process": "regex:^/usr/bin/(ba|z)?sh$"}]},
    {"id": "scripts", "organization": "child", "name": "Scripts",
     "rules": [{"path": "regex:^/home/[^/]+/bin/[a-z]+\\.sh$", "process": "regex:^/usr/bin/bash$"},
               {"path": "regex:^/srv/jobs/", "created_by": "regex:^/usr/bin/(cp|install)$"},
               {"path": "regex:\\.(sh|py)$", "process": "regex:/cron$"}]},
    {"id": "tools", "organization": "child", "name": "Windows tools",
     "rules": [{"path": "regex:^c:\\\\tools\\\\[a-z]+\\.exe$"},
               {"path": "regex:\\\\temp\\\\", "process": "regex:\\\\explorer\\.exe$"},
               {"path": "regex:^c:\\\\users\\\\[^\\\\]+\\\\apps\\\\"}]},
    {"id": "bad", "organization": "root", "name": "Bad",
     "rules": [{"path": "regex:(?i)mimikatz"}, {"path": "regex:/tmp/.*\\.elf$"},
               {"process": "regex:\\\\winword\\.exe$", "path": "regex:\\.(exe|dll)$"}]}
  ],
  "policies": [
    {"id": "deny-bad", "scope": {"global": "root"}, "position": 10,
     "applications": ["bad"], "action": "deny"},
    {"id": "permit-python", "scope": {"global": "root"}, "position": 100,
     "applications": ["python"], "action": "permit"},
    {"id": "permit-scripts", "scope": {"organization": "child"}, "position": 200,
     "applications": ["scripts"], "action": "permit"},
    {"id": "permit-tools", "scope": {"group": "windows"}, "position": 300,
     "applications": ["tools"], "action": "permit"}
  ]
}"#;

const REGEX_EVENTS: &str = r#"{"computer": "build-01", "user": "ci", "path": "/usr/bin/python3.12", "sha256": "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865", "parent": "/usr/bin/bash", "time": "2026-11-22T09:10:00Z"}
{"computer": "build-01", "user": "ci", "path": "/home/ci/venv/bin/python", "sha256": "4355a46b19d348dc2f57c046f8ef63d4538ebb936000f3c9ee954a27460dd865", "parent": "/usr/bin/zsh", "time": "2026-11-22T09:10:00Z"}
{"computer": "build-01", "user": "ci", "path": "/home/ci/bin/deploy.sh", "sha256": "53c234e5e8472b6ac51c1ae1cab3fe06fad053beb8ebfd8977b010655bfdd3c3", "parent": "/usr/bin/bash", "time": "2026-11-22T09:11:00Z"}
{"computer": "build-01", "user": "ci", "path": "/srv/jobs/nightly", "sha256": "53c234e5e8472b6ac51c1ae1cab3fe06fad053beb8ebfd8977b010655bfdd3c3", "created_by": "/usr/bin/install", "time": "2026-11-22T09:11:00Z"}
{"computer": "build-01", "user": "ci", "path": "/tmp/x/payload.elf", "sha256": "53c234e5e8472b6ac51c1ae1cab3fe06fad053beb8ebfd8977b010655bfdd3c3", "parent": "/usr/bin/bash", "time": "2026-11-22T09:11:00Z"}
{"computer": "build-01", "user": "ci", "path": "/home/ci/.cache/tool/run", "sha256": "53c234e5e8472b6ac51c1ae1cab3fe06fad053beb8ebfd8977b010655bfdd3c3", "parent": "/usr/sbin/cron", "time": "2026-11-22T09:11:00Z"}
{"computer": "pc-01", "user": "PC\\amy", "path": "C:\\Tools\\grep.exe", "sha256": "60b9a2ce4d1eb0e13e1bd1c0bd0b2a1c9e5a01b7a1c7f3a1c9e4b4b0c2d8e1f3", "time": "2026-11-22T09:01:00Z"}
{"computer": "pc-01", "user": "PC\\amy", "path": "C:\\Users\\amy\\AppData\\Local\\Temp\\setup.exe", "sha256": "60b9a2ce4d1eb0e13e1bd1c0bd0b2a1c9e5a01b7a1c7f3a1c9e4b4b0c2d8e1f3", "parent": "C:\\Windows\\explorer.exe", "time": "2026-11-22T09:01:00Z"}
{"computer": "pc-01", "user": "PC\\amy", "path": "C:\\Users\\amy\\Downloads\\MimiKatz.exe", "sha256": "60b9a2ce4d1eb0e13e1bd1c0bd0b2a1c9e5a01b7a1c7f3a1c9e4b4b0c2d8e1f3", "parent": "C:\\Windows\\explorer.exe", "time": "2026-11-22T09:01:00Z"}
{"computer": "pc-01", "user": "PC\\amy", "path": "C:\\Users\\amy\\Apps\\notes\\notes.exe", "sha256": "60b9a2ce4d1eb0e13e1bd1c0bd0b2a1c9e5a01b7a1c7f3a1c9e4b4b0c2d8e1f3", "parent": "C:\\Program Files\\Microsoft Office\\WINWORD.EXE", "time": "2026-11-22T09:01:00Z"}
{"computer": "pc-01", "user": "PC\\amy", "path": "C:\\Program Files\\App\\app.exe", "sha256": "60b9a2ce4d1eb0e13e1bd1c0bd0b2a1c9e5a01b7a1c7f3a1c9e4b4b0c2d8e1f3", "time": "2026-11-22T09:01:00Z"}"#;

#[test]
fn deciding_with_regex_rules_from_many_threads_does_not_allocate() {
    // More threads than the `regex` crate's cache pool has stacks (8), so that with a
    // pool, threads share a stack and contention makes it allocate throwaway caches:
    // with 4 threads each thread usually has a stack to itself and nothing shows.
    const THREADS: usize = 16;
    let engine = Engine::from_json(REGEX_BUNDLE).unwrap();
    let events = events(REGEX_EVENTS);
    // The rules decide as written: permits, denies by rule and the default deny.
    let outcomes: Vec<bool> = {
        let snapshot = engine.snapshot();
        events
            .iter()
            .map(|e| snapshot.decide(e).is_allowed())
            .collect()
    };
    assert_eq!(
        outcomes,
        [true, true, true, true, false, false, true, true, false, false, false]
    );
    let start = Barrier::new(THREADS);
    let results: Vec<(usize, usize)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    let mut scratch = Scratch::default();
                    decide_all(&engine, &events, &mut scratch);
                    // All threads search the same regular expressions at the same time.
                    start.wait();
                    let mut allowed = 0;
                    let allocations = allocations_during(|| {
                        for _ in 0..200 {
                            allowed += decide_all(&engine, &events, &mut scratch);
                        }
                    });
                    (allowed, allocations)
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    for (allowed, allocations) in results {
        assert_eq!(allowed, 200 * 3 * 6);
        assert_eq!(allocations, 0, "decisions allocated");
    }
}

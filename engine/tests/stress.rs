//! Concurrency stress test of the engine's hot swap (SPEC §5): readers decide in a loop
//! while a writer deploys bundle variants (whole, or as changes), rolls back, and tries
//! invalid bundles.
//!
//! Every variant decides the test events through its own policy (`v3-deny`,
//! `v4-permit` …), so each decision shows which variant made it. After the run, every
//! decision a reader saw must be exactly the one its generation's variant gives (no torn
//! decision), each reader's generations must never go down, and a failed deploy must
//! leave the generation and the decisions as they were.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use portcullis_engine::{
    reference, Bundle, BundleChange, DecisionRecord, Engine, Event, RollbackError, Snapshot,
    DEFAULT_HISTORY,
};
use serde_json::json;

/// Bundle variants the writer swaps between.
const VARIANTS: usize = 8;
/// Reader threads.
const READERS: usize = 4;
/// Successful deploys and rollbacks; `STRESS_SWAPS` overrides it.
const SWAPS: usize = 2_000;

fn swap_target() -> usize {
    std::env::var("STRESS_SWAPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SWAPS)
}
/// Readers stop by themselves after this long, whatever the writer does.
const DEADLINE: Duration = Duration::from_secs(120);

/// Variant `v`: the same tenancy (an MSP with two customers), and one policy named after
/// the variant that decides every test event — permit, elevating permit or deny, at
/// organization or MSP-global scope — among policies that decide nothing.
fn variant_json(v: usize) -> serde_json::Value {
    let action = if v % 4 == 3 { "deny" } else { "permit" };
    let scope = if v.is_multiple_of(2) {
        json!({"organization": "acme"})
    } else {
        json!({"global": "msp"})
    };
    let mut decider = json!({
        "id": format!("v{v}-{action}"), "scope": scope, "position": 100 + v,
        "applications": ["tools", "signed"], "action": action,
    });
    if v % 4 == 1 {
        decider["elevate"] = json!(true);
    }
    if action == "deny" {
        decider["on_deny"] =
            json!({"allow_request": true, "notify": [format!("v{v}@example.com")]});
    }
    let mut policies = vec![decider];
    // Filler that changes with the variant but never decides a test event: another
    // computer, a disabled policy, an expired one.
    policies.push(json!({
        "id": format!("v{v}-other-pc"), "scope": {"computer": "pc-2"}, "position": 10 + v,
        "applications": ["tools"], "action": "deny",
    }));
    policies.push(json!({
        "id": format!("v{v}-disabled"), "scope": {"organization": "acme"}, "position": 20,
        "applications": ["tools"], "action": "deny", "enabled": false,
    }));
    policies.push(json!({
        "id": format!("v{v}-expired"), "scope": {"global": "msp"}, "position": 30 + v,
        "applications": ["signed"], "action": "deny", "expires": "2020-01-01T00:00:00Z",
    }));
    json!({
        "format": "portcullis.bundle/v1",
        "organizations": [
            {"id": "msp", "name": "MSP"},
            {"id": "acme", "name": "Acme", "parent": "msp"},
            {"id": "globex", "name": "Globex", "parent": "msp"},
        ],
        "groups": [
            {"id": "ws", "organization": "acme", "name": "Workstations"},
            {"id": "gx", "organization": "globex", "name": "Globex"},
        ],
        "computers": [
            {"id": "pc-1", "group": "ws", "name": "PC-1", "os": "windows"},
            {"id": "pc-2", "group": "ws", "name": "PC-2", "os": "windows"},
            {"id": "lx-1", "group": "ws", "name": "LX-1", "os": "linux"},
            {"id": "gx-1", "group": "gx", "name": "GX-1", "os": "windows"},
        ],
        "applications": [
            {"id": "tools", "organization": "msp", "name": "Tools",
             "rules": [{"path": "C:\\Tools\\*"}, {"path": "/opt/tools/*"}]},
            {"id": "signed", "organization": "msp", "name": "Contoso",
             "rules": [{"certificate": {"subject": "CN=Contoso Ltd"}}]},
        ],
        "policies": policies,
    })
}

fn bundle(value: serde_json::Value) -> Bundle {
    serde_json::from_value(value).unwrap()
}

/// Bundles that must fail to compile, each in its own way.
fn invalid_bundles() -> Vec<Bundle> {
    let mut out = Vec::new();
    let mut unknown_app = variant_json(0);
    unknown_app["policies"][0]["applications"] = json!(["tools", "no-such-app"]);
    out.push(unknown_app);
    let mut same_position = variant_json(2);
    same_position["policies"][1]["scope"] = json!({"organization": "acme"});
    same_position["policies"][1]["position"] = json!(20);
    out.push(same_position);
    let mut bad_pattern = variant_json(5);
    bad_pattern["applications"][0]["rules"][0]["path"] = json!("C:\\Tools\\*.");
    out.push(bad_pattern);
    let mut bad_regex = variant_json(6);
    bad_regex["applications"][0]["rules"][1]["path"] = json!("regex:(");
    out.push(bad_regex);
    let mut elevating_deny = variant_json(3);
    elevating_deny["policies"][0]["elevate"] = json!(true);
    out.push(elevating_deny);
    let mut cycle = variant_json(7);
    cycle["organizations"][0]["parent"] = json!("acme");
    out.push(cycle);
    // Hostile ones, rejected by the default limits before anything is compiled.
    let mut huge_regex = variant_json(1);
    huge_regex["applications"][0]["rules"][0]["path"] = json!("regex:a{10000}{10000}");
    out.push(huge_regex);
    let mut long_glob = variant_json(4);
    long_glob["applications"][0]["rules"][0]["path"] = json!(format!("C:\\{}", "a*".repeat(2_000)));
    out.push(long_glob);
    out.into_iter().map(bundle).collect()
}

fn events() -> Vec<Event> {
    let event = |value: serde_json::Value| -> Event { serde_json::from_value(value).unwrap() };
    let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    vec![
        event(
            json!({"computer": "pc-1", "user": "ACME\\ann", "path": "c:/tools/a.exe",
                     "sha256": sha, "time": "2026-11-22T10:00:00Z"}),
        ),
        event(
            json!({"computer": "pc-1", "user": "ACME\\bob", "path": "C:\\TOOLS\\setup.exe",
                     "sha256": sha, "time": "2026-11-22T10:00:00Z", "elevation": true}),
        ),
        event(
            json!({"computer": "lx-1", "user": "root", "path": "/opt/tools/run",
                     "sha256": sha, "time": "2026-11-22T10:00:00Z"}),
        ),
        event(
            json!({"computer": "pc-1", "user": "ACME\\ann", "path": "C:\\Apps\\contoso.exe",
                     "sha256": sha, "time": "2026-11-22T10:00:00Z",
                     "signature": {"status": "valid", "signers": [
                         {"subject": "CN=Contoso Ltd, O=Contoso Ltd", "issuer": "CN=Contoso CA"}]}}),
        ),
    ]
}

/// SplitMix64, seeded: the writer's choices are the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n as u64) as usize
    }
}

/// What the writer did.
#[derive(Default)]
struct WriterLog {
    /// Generation → the variant it serves.
    generations: Vec<(u64, usize)>,
    deploys: usize,
    rollbacks: usize,
    empty_rollbacks: usize,
    failed_deploys: usize,
    problems: Vec<String>,
}

/// What one reader saw: (generation, event, decision), consecutive repeats counted once.
#[derive(Default)]
struct ReaderLog {
    seen: Vec<(u64, usize, DecisionRecord)>,
    decisions: u64,
    snapshots: u64,
    problems: Vec<String>,
}

/// Sets the flag when dropped, so readers stop even if the writer panics.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

fn decisions_of(engine: &Engine, events: &[Event]) -> Vec<DecisionRecord> {
    events
        .iter()
        .map(|event| {
            let mut record = engine.decide(event);
            record.generation = 0;
            record
        })
        .collect()
}

fn writer(
    engine: &Engine,
    variants: &[Bundle],
    invalid: &[Bundle],
    expected: &[Vec<DecisionRecord>],
    events: &[Event],
) -> WriterLog {
    let mut log = WriterLog {
        generations: vec![(engine.generation(), 0)],
        ..WriterLog::default()
    };
    let mut rng = Rng(0x5EED);
    let mut current = 0usize;
    // The engine's history as the writer expects it: the variants rollbacks restore.
    let mut history: VecDeque<usize> = VecDeque::new();
    let mut swaps = 0;
    let target = swap_target();
    for _ in 0..target * 3 {
        if swaps >= target {
            break;
        }
        let before = engine.generation();
        match rng.below(10) {
            0..=5 => {
                let v = rng.below(variants.len());
                // Half the time as a change from the variant being served.
                let deployed = if rng.below(2) == 0 {
                    engine.deploy(&variants[v]).expect("a variant compiles")
                } else {
                    let change = BundleChange::between(&variants[current], &variants[v]);
                    engine
                        .deploy_change(&change)
                        .expect("a variant compiles as a change")
                };
                if deployed.generation <= before {
                    log.problems.push(format!(
                        "deploy gave generation {} after {before}",
                        deployed.generation
                    ));
                }
                if history.len() == DEFAULT_HISTORY {
                    history.pop_front();
                }
                history.push_back(current);
                current = v;
                log.generations.push((deployed.generation, v));
                log.deploys += 1;
                swaps += 1;
            }
            6..=8 => match (engine.rollback(), history.pop_back()) {
                (Ok(generation), Some(previous)) => {
                    if generation <= before {
                        log.problems.push(format!(
                            "rollback gave generation {generation} after {before}"
                        ));
                    }
                    current = previous;
                    log.generations.push((generation, previous));
                    log.rollbacks += 1;
                    swaps += 1;
                }
                (Err(RollbackError::NoHistory), None) => log.empty_rollbacks += 1,
                (result, expected) => log.problems.push(format!(
                    "rollback returned {result:?}, but the history held {expected:?}"
                )),
            },
            _ => {
                let bad = &invalid[rng.below(invalid.len())];
                if engine.deploy(bad).is_ok() {
                    log.problems
                        .push("an invalid bundle was deployed".to_owned());
                    // The model no longer matches the engine; stop here.
                    break;
                }
                log.failed_deploys += 1;
                if engine.generation() != before {
                    log.problems.push(format!(
                        "a failed deploy moved the generation from {before} to {}",
                        engine.generation()
                    ));
                }
                if decisions_of(engine, events) != expected[current] {
                    log.problems.push(format!(
                        "after a failed deploy, decisions are not those of variant {current}"
                    ));
                }
            }
        }
        if swaps % 64 == 0 {
            std::thread::yield_now();
        }
    }
    log
}

fn reader(engine: &Engine, events: &[Event], stop: &AtomicBool) -> ReaderLog {
    let mut log = ReaderLog::default();
    let mut last: Vec<Option<(u64, DecisionRecord)>> = vec![None; events.len()];
    let mut last_generation = 0;
    let started = Instant::now();
    // At least a few rounds, even if the writer is done before this reader starts.
    while log.snapshots < 16 || !stop.load(Ordering::Acquire) {
        if started.elapsed() > DEADLINE {
            log.problems
                .push("the reader gave up waiting for the writer".to_owned());
            break;
        }
        let snapshot = engine.snapshot();
        let generation = snapshot.generation();
        log.snapshots += 1;
        if generation < last_generation {
            log.problems.push(format!(
                "generation went down from {last_generation} to {generation}"
            ));
        }
        last_generation = generation;
        for (e, event) in events.iter().enumerate() {
            let decision = snapshot.decide(event);
            log.decisions += 1;
            if decision.generation != generation {
                log.problems.push(format!(
                    "a decision on snapshot {generation} says generation {}",
                    decision.generation
                ));
            }
            let record = decision.to_record();
            let repeat = last[e]
                .as_ref()
                .is_some_and(|(g, seen)| *g == generation && *seen == record);
            if !repeat {
                log.seen.push((generation, e, record.clone()));
                last[e] = Some((generation, record));
            }
        }
    }
    log
}

#[test]
fn readers_never_see_a_torn_or_stale_decision_while_the_writer_swaps() {
    let started = Instant::now();
    let variants: Vec<Bundle> = (0..VARIANTS).map(|v| bundle(variant_json(v))).collect();
    let invalid = invalid_bundles();
    let events = events();

    // What each variant decides, by the snapshot and by the reference evaluator.
    let expected: Vec<Vec<DecisionRecord>> = variants
        .iter()
        .map(|variant| {
            let snapshot = Snapshot::compile(variant).unwrap_or_else(|e| panic!("{e}"));
            events
                .iter()
                .map(|event| {
                    let mut record = snapshot.decide(event).to_record();
                    record.generation = 0;
                    assert_eq!(record, reference::decide(variant, event));
                    record
                })
                .collect()
        })
        .collect();
    // Each decision must reveal its variant.
    for (e, event) in events.iter().enumerate() {
        let policies: HashSet<&str> = expected
            .iter()
            .map(|decisions| {
                decisions[e]
                    .policy
                    .as_deref()
                    .unwrap_or_else(|| panic!("no policy decides event {e}: {event:?}"))
            })
            .collect();
        assert_eq!(
            policies.len(),
            VARIANTS,
            "event {e} does not tell the variants apart"
        );
    }
    for bad in &invalid {
        assert!(
            Snapshot::compile(bad).is_err(),
            "an invalid bundle compiles"
        );
    }

    let engine = Engine::new(&variants[0]).unwrap();
    let stop = AtomicBool::new(false);
    let (writer_log, reader_logs) = std::thread::scope(|scope| {
        let readers: Vec<_> = (0..READERS)
            .map(|_| scope.spawn(|| reader(&engine, &events, &stop)))
            .collect();
        let writer = scope.spawn(|| {
            let _stop = StopOnDrop(&stop);
            writer(&engine, &variants, &invalid, &expected, &events)
        });
        let writer_log = writer.join().expect("the writer panicked");
        let reader_logs: Vec<ReaderLog> = readers
            .into_iter()
            .map(|r| r.join().expect("a reader panicked"))
            .collect();
        (writer_log, reader_logs)
    });

    let mut problems = writer_log.problems.clone();
    let served: HashMap<u64, usize> = writer_log.generations.iter().copied().collect();
    if served.len() != writer_log.generations.len() {
        problems.push("a generation was given out twice".to_owned());
    }
    let mut decisions = 0;
    let mut distinct = 0;
    let mut generations_seen: HashSet<u64> = HashSet::new();
    for (r, log) in reader_logs.iter().enumerate() {
        problems.extend(log.problems.iter().map(|p| format!("reader {r}: {p}")));
        decisions += log.decisions;
        distinct += log.seen.len();
        for (generation, e, record) in &log.seen {
            generations_seen.insert(*generation);
            let Some(&v) = served.get(generation) else {
                problems.push(format!(
                    "reader {r}: generation {generation} was never deployed nor rolled back to"
                ));
                continue;
            };
            let mut want = expected[v][*e].clone();
            want.generation = *generation;
            if *record != want {
                problems.push(format!(
                    "reader {r}: event {e} on generation {generation} (variant {v}):\n  got:  {}\n  want: {}",
                    serde_json::to_string(record).unwrap(),
                    serde_json::to_string(&want).unwrap()
                ));
            }
        }
    }
    let total = problems.len();
    problems.truncate(20);
    assert!(
        problems.is_empty(),
        "{total} problem(s), first ones:\n{}",
        problems.join("\n")
    );
    assert!(writer_log.failed_deploys > 0 && writer_log.rollbacks > 0);
    eprintln!(
        "{decisions} decisions by {READERS} readers on {} of {} generations ({distinct} distinct \
         (generation, event, decision) checked); {} deploys, {} rollbacks, {} rollbacks with no \
         history, {} failed deploys; {:.1?}",
        generations_seen.len(),
        served.len(),
        writer_log.deploys,
        writer_log.rollbacks,
        writer_log.empty_rollbacks,
        writer_log.failed_deploys,
        started.elapsed()
    );
}

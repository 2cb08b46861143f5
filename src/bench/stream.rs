//! `bench --stream`: the stream fleet (one MSP, its customers' hashes and path
//! prefixes, the MSP's denied hashes and trusted publishers), and events of each kind
//! on random customers' computers, each kind decided as one batch by the engine and by
//! every baseline in the same run: the plain map, Rego (regorus) and Cedar.
//!
//! The engine and the plain map decide each batch `--rounds` times, alternately, and
//! the median round is reported with the fastest and slowest. Rego and Cedar decide
//! each event once, in order, until `--baseline-seconds` are spent on the kind; their
//! input (Rego's) and request (Cedar's) are built before the timer starts. Every
//! baseline's answer is compared with the engine's (the deciding policy and whether
//! the execution runs): `same` counts the events where they agree.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[cfg(feature = "cedar")]
use portcullis_bench_baselines::cedar::CedarBaseline;
use portcullis_bench_baselines::plain::PlainMap;
use portcullis_bench_baselines::Verdict;
use portcullis_engine::fleet::{StreamFleet, StreamKind, StreamSize};
use portcullis_engine::{Engine, Event, Scratch, Snapshot};
use serde_json::{json, Map, Value};

use super::measure::{machine, median, ms, round};
use super::BenchArgs;
use crate::error::CliError;
use crate::rego::RegoBaseline;

/// The engine's answers, to compare the baselines' with.
fn answers(snapshot: &Snapshot, events: &[Event]) -> Vec<(Option<String>, bool)> {
    events
        .iter()
        .map(|e| {
            let d = snapshot.decide(e);
            (d.policy.map(str::to_owned), d.is_allowed())
        })
        .collect()
}

fn same(verdict: Verdict<'_>, expected: &(Option<String>, bool)) -> bool {
    verdict.policy == expected.0.as_deref() && verdict.allow == expected.1
}

/// Nanoseconds per event of one pass over `events`.
fn batch(events: &[Event], decide: &mut dyn FnMut(&Event) -> bool) -> f64 {
    let started = Instant::now();
    for event in events {
        black_box(decide(black_box(event)));
    }
    started.elapsed().as_secs_f64() * 1e9 / events.len().max(1) as f64
}

/// Median, fastest and slowest of rounds.
fn rounds_summary(times: &[f64]) -> Value {
    let lo = times.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = times.iter().copied().fold(0.0, f64::max);
    json!({"ns": round(median(times.to_vec())), "min_ns": round(lo), "max_ns": round(hi), "rounds": times.len()})
}

/// One decision per event, in order, until the budget is spent: the mean, and how
/// many agreed with the engine.
fn once_each<R>(
    events: &[Event],
    expected: &[(Option<String>, bool)],
    budget: Duration,
    prepare: &mut dyn FnMut(&Event) -> Result<R, String>,
    decide: &mut dyn FnMut(&R) -> (Option<String>, bool),
) -> Result<Value, String> {
    let started = Instant::now();
    let (mut total, mut n, mut agree) = (0.0, 0usize, 0usize);
    for (event, expected) in events.iter().zip(expected) {
        let input = prepare(event)?;
        let t = Instant::now();
        let verdict = decide(&input);
        total += t.elapsed().as_secs_f64() * 1e9;
        n += 1;
        agree += usize::from(verdict == *expected);
        if started.elapsed() > budget {
            break;
        }
    }
    Ok(json!({"ns": round(total / n.max(1) as f64), "events": n, "same": agree}))
}

pub fn stream(args: &BenchArgs) -> Result<ExitCode, CliError> {
    let total = Instant::now();
    let size = StreamSize {
        customers: args.stream_customers as usize,
        ..StreamSize::DEFAULT
    };
    eprintln!("generating the stream fleet");
    let fleet = StreamFleet::generate(size, args.fleet.seed);
    let bundle = &fleet.bundle;
    let started = Instant::now();
    let engine =
        Engine::new(bundle).map_err(CliError::compile(std::path::Path::new("the bundle")))?;
    let compile = started.elapsed();
    let snapshot = engine.current();
    let started = Instant::now();
    let plain = PlainMap::new(bundle).map_err(CliError::Message)?;
    let plain_load = started.elapsed();
    let kinds: Vec<(StreamKind, Vec<Event>)> = StreamKind::ALL
        .into_iter()
        .map(|k| {
            (
                k,
                fleet.events(k, args.stream_events as usize, args.fleet.seed),
            )
        })
        .collect();
    let budget = Duration::from_secs_f64(args.baseline_seconds);

    let mut table = Map::new();
    let mut scratch = Scratch::default();
    for (kind, events) in &kinds {
        eprintln!(
            "{}: portcullis and the plain map, {} rounds",
            kind.name(),
            args.rounds
        );
        let expected = answers(&snapshot, events);
        let agree = events
            .iter()
            .zip(&expected)
            .filter(|(e, x)| same(plain.decide(e), x))
            .count();
        let (mut engine_ns, mut plain_ns) = (Vec::new(), Vec::new());
        for round in 0..args.rounds {
            let mut ours = |e: &Event| snapshot.decide_with(e, &mut scratch).is_allowed();
            let mut map = |e: &Event| plain.decide(e).allow;
            // Alternate which goes first, so that neither always finds the other's
            // data in the caches.
            if round % 2 == 0 {
                engine_ns.push(batch(events, &mut ours));
                plain_ns.push(batch(events, &mut map));
            } else {
                plain_ns.push(batch(events, &mut map));
                engine_ns.push(batch(events, &mut ours));
            }
        }
        let allowed = expected.iter().filter(|(_, allow)| *allow).count();
        table.insert(
            kind.name().to_owned(),
            json!({
                "events": events.len(),
                "allowed": allowed,
                "portcullis": rounds_summary(&engine_ns),
                "plain_map": with(rounds_summary(&plain_ns), json!({"same": agree, "events": events.len()})),
                "ratio_to_plain_map": (median(engine_ns.clone()) / median(plain_ns.clone()).max(1e-9) * 1000.0).round() / 1000.0,
            }),
        );
    }

    let mut loads = Map::new();
    loads.insert("compile_ms".into(), json!(ms(compile)));
    loads.insert("plain_map_ms".into(), json!(ms(plain_load)));
    if !args.no_rego {
        eprintln!("Rego (regorus): loading data");
        let started = Instant::now();
        let mut rego =
            RegoBaseline::new(bundle, args.rego_interpreter).map_err(CliError::Message)?;
        loads.insert("rego_ms".into(), json!(ms(started.elapsed())));
        for (kind, events) in &kinds {
            eprintln!("{}: Rego", kind.name());
            let expected = answers(&snapshot, events);
            let inputs: Result<Vec<_>, _> = events.iter().map(|e| rego.input(e)).collect();
            let inputs = inputs?;
            let mut next = inputs.into_iter();
            let result = once_each(
                events,
                &expected,
                budget,
                &mut |_| next.next().ok_or_else(|| "no input".to_owned()),
                &mut |input| match rego.decide(input) {
                    Ok(v) => (v.policy, v.allow),
                    Err(_) => (Some("error".to_owned()), false),
                },
            )
            .map_err(CliError::Message)?;
            add(&mut table, *kind, "regorus", result);
        }
    }
    #[cfg(not(feature = "cedar"))]
    if !args.no_cedar {
        eprintln!("Cedar: not in this build (build with `--features cedar`)");
    }
    #[cfg(feature = "cedar")]
    if !args.no_cedar {
        eprintln!("Cedar: building the entities and policies");
        let started = Instant::now();
        let cedar = CedarBaseline::new(bundle).map_err(CliError::Message)?;
        loads.insert("cedar_ms".into(), json!(ms(started.elapsed())));
        loads.insert("cedar_policies".into(), json!(cedar.policy_count()));
        for (kind, events) in &kinds {
            eprintln!("{}: Cedar", kind.name());
            let expected = answers(&snapshot, events);
            let result = once_each(
                events,
                &expected,
                budget,
                &mut |e| cedar.request(e),
                &mut |request| {
                    let v = cedar.decide(request);
                    (v.policy.map(str::to_owned), v.allow)
                },
            )
            .map_err(CliError::Message)?;
            add(&mut table, *kind, "cedar", result);
        }
    }
    for (_, row) in table.iter_mut() {
        let ours = row
            .pointer("/portcullis/ns")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        for name in ["regorus", "cedar"] {
            let theirs = row.pointer(&format!("/{name}/ns")).and_then(Value::as_f64);
            if let (Some(theirs), Some(map)) = (theirs, row.as_object_mut()) {
                map.insert(
                    format!("speedup_over_{name}"),
                    json!(round(theirs / ours.max(1e-9))),
                );
            }
        }
    }
    let report = json!({
        "machine": machine(),
        "fleet": {
            "customers": size.customers,
            "computers": bundle.computers.len(),
            "policies": bundle.policies.len(),
            "rules": size.rules(),
            "seed": args.fleet.seed,
        },
        "events_per_kind": args.stream_events,
        "load": loads,
        "kinds": table,
        "method": "each kind's events (random customers) decided in one timed pass; portcullis and the plain map: the median of the rounds, alternating; regorus and cedar: each event once, input built before the timer; `same`: events where the baseline chose the engine's policy and outcome",
        "seconds": round(total.elapsed().as_secs_f64()),
    });
    if args.json {
        crate::common::print_json(&report, false)?;
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// `value`'s fields with `more`'s added.
fn with(mut value: Value, more: Value) -> Value {
    if let (Value::Object(map), Value::Object(more)) = (&mut value, more) {
        map.extend(more);
    }
    value
}

fn add(table: &mut Map<String, Value>, kind: StreamKind, name: &str, value: Value) {
    if let Some(Value::Object(row)) = table.get_mut(kind.name()) {
        row.insert(name.to_owned(), value);
    }
}

fn print_human(r: &Value) {
    let at = |p: &str| r.pointer(p).cloned().unwrap_or(Value::Null);
    println!(
        "machine: {} ({} threads)",
        at("/machine/cpu").as_str().unwrap_or("?"),
        at("/machine/cpus")
    );
    println!(
        "stream fleet: {} customers under one MSP, {} computers, {} policies, {} rules; {} events per kind; loads {}",
        at("/fleet/customers"),
        at("/fleet/computers"),
        at("/fleet/policies"),
        at("/fleet/rules"),
        at("/events_per_kind"),
        at("/load")
    );
    println!("per decision      | deny-hash | hash-hit | cert-hit | path-hit | miss");
    let kinds = StreamKind::ALL.map(StreamKind::name);
    for (label, pointer) in [
        ("portcullis", "portcullis/ns"),
        ("plain map", "plain_map/ns"),
        ("regorus", "regorus/ns"),
        ("cedar", "cedar/ns"),
        ("portcullis / map", "ratio_to_plain_map"),
        ("regorus / ours", "speedup_over_regorus"),
        ("cedar / ours", "speedup_over_cedar"),
    ] {
        let cells: Vec<String> = kinds
            .iter()
            .map(|k| match at(&format!("/kinds/{k}/{pointer}")) {
                Value::Null => "-".to_owned(),
                v if pointer.ends_with("/ns") => format!("{v} ns"),
                v => format!("{:.2}x", v.as_f64().unwrap_or(0.0)),
            })
            .collect();
        println!("{label:<17} | {}", cells.join(" | "));
    }
    let same: Vec<String> = kinds
        .iter()
        .map(|k| {
            let of = |name: &str| {
                format!(
                    "{name} {}/{}",
                    at(&format!("/kinds/{k}/{name}/same")),
                    at(&format!("/kinds/{k}/{name}/events"))
                )
            };
            format!(
                "{k}: {}, {}, {}",
                of("plain_map"),
                of("regorus"),
                of("cedar")
            )
        })
        .collect();
    println!("same policy and outcome as the engine: {}", same.join("; "));
}

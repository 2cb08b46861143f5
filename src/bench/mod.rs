//! `gen` and `bench`: generate a fleet, and measure decisions on it beside the
//! baselines (the reference evaluator and the same policies in Rego).

mod args;
mod measure;
mod report;
mod stream;

use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use portcullis_engine::fleet::{edit_organization, Fleet, Preset};
use portcullis_engine::{reference, Bundle, BundleChange, Engine, Event, Scratch, Snapshot};
use serde_json::{json, Value};

use crate::common::{parse_bundle, read};
use crate::error::CliError;
use crate::rego::RegoBaseline;

pub use args::{BenchArgs, GenArgs};
use measure::{
    all_threads, latencies, machine, median, memory, ms, one_computer, one_thread, percentile,
    round, sorted, summary, Latencies,
};
use report::{compare, print_human};

/// Org-local changes deployed for the redeploy figure (the median is reported).
const CHANGE_DEPLOYS: usize = 20;

fn generate(size: Preset, seed: u64) -> Fleet {
    let started = Instant::now();
    let fleet = Fleet::generate_with_progress(size.size(), seed, &mut |done, total| {
        eprint!(
            "\rgenerating {} fleet: {done}/{total} organizations",
            size.name()
        );
    });
    eprintln!(" ({:.1} s)", started.elapsed().as_secs_f64());
    fleet
}

pub fn gen(args: &GenArgs) -> Result<ExitCode, CliError> {
    let size = Preset::from(args.fleet.size);
    let fleet = generate(size, args.fleet.seed);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::Message(format!("cannot create `{}`: {e}", args.out.display())))?;
    let bundle_path = args.out.join("bundle.json");
    let events_path = args.out.join("events.jsonl");
    write_file(&bundle_path, |out| {
        serde_json::to_writer(out, &fleet.bundle)
    })?;
    write_file(&events_path, |out| {
        for event in fleet.events(&args.mix, args.events, args.fleet.seed) {
            serde_json::to_writer(&mut *out, &event)?;
            out.write_all(b"\n").map_err(serde_json::Error::io)?;
        }
        Ok(())
    })?;
    let summary = json!({
        "bundle": bundle_path, "events": events_path, "size": size.name(), "seed": args.fleet.seed,
        "organizations": fleet.bundle.organizations.len(),
        "groups": fleet.bundle.groups.len(),
        "computers": fleet.bundle.computers.len(),
        "policies": fleet.bundle.policies.len(),
        "rules": fleet.size.rules(),
        "event_count": args.events,
    });
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// Writes `path` through a buffer, saying so on standard error first.
fn write_file(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> Result<(), serde_json::Error>,
) -> Result<(), CliError> {
    let fail = |e: &dyn std::fmt::Display| {
        CliError::Message(format!("cannot write `{}`: {e}", path.display()))
    };
    eprintln!("writing {}", path.display());
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let mut out = BufWriter::new(file);
    write(&mut out).map_err(|e| fail(&e))?;
    out.flush().map_err(|e| fail(&e))
}

fn read_events(path: &Path) -> Result<Vec<Event>, CliError> {
    read(path)?
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            Event::from_json(l)
                .map_err(|e| CliError::Message(format!("`{}` line {}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// The bundle and events a bench decides, and the organization its redeploys edit.
struct Input {
    bundle: Bundle,
    events: Vec<Event>,
    label: Value,
    sample_org: String,
}

/// Reads the given bundle and events, or generates a fleet.
fn input(args: &BenchArgs) -> Result<Input, CliError> {
    let input = match (&args.bundle, &args.events) {
        (Some(bundle_path), Some(events_path)) => {
            eprintln!("reading {}", bundle_path.display());
            let bundle = parse_bundle(bundle_path)?;
            let events = read_events(events_path)?;
            let sample_org = bundle
                .organizations
                .get(bundle.organizations.len() / 2)
                .map(|o| o.id.clone())
                .unwrap_or_default();
            Input {
                bundle,
                events,
                label: json!({"bundle": bundle_path, "events": events_path}),
                sample_org,
            }
        }
        (None, None) => {
            let size = Preset::from(args.fleet.size);
            let fleet = generate(size, args.fleet.seed);
            let events = fleet.events(&args.scenario.mix(), args.count, args.fleet.seed);
            let sample_org = fleet.sample_organization().to_owned();
            Input {
                bundle: fleet.bundle,
                events,
                label: json!({"size": size.name(), "seed": args.fleet.seed}),
                sample_org,
            }
        }
        _ => return Err("give both `--bundle` and `--events`, or neither".into()),
    };
    if input.events.is_empty() {
        return Err("there are no events to decide".into());
    }
    Ok(input)
}

/// Compile time and memory.
struct Compiled {
    engine: Engine,
    compile: Duration,
    rss_before: u64,
    rss_after: u64,
    hwm_after: u64,
}

/// Compiles the bundle, with memory before and after.
fn compile(bundle: &Bundle, rules: usize) -> Result<Compiled, CliError> {
    let (rss_before, _) = memory();
    eprintln!("compiling {rules} rules");
    let started = Instant::now();
    let engine = Engine::new(bundle).map_err(CliError::compile(Path::new("the bundle")))?;
    let compile = started.elapsed();
    let (rss_after, hwm_after) = memory();
    eprintln!("compiled in {:.2} s", compile.as_secs_f64());
    Ok(Compiled {
        engine,
        compile,
        rss_before,
        rss_after,
        hwm_after,
    })
}

/// One organization edited, and back: as bundle changes, and the redeploy figures.
struct Redeploys {
    to_edited: BundleChange,
    to_original: BundleChange,
    full_ms: f64,
    change_ms: f64,
    recompiled: usize,
}

/// Org-local redeploys: one organization edited, back and forth; first as whole
/// bundles (`Engine::deploy`), then as changes to that organization
/// (`Engine::deploy_change`), which is how an approval takes effect.
fn redeploys(engine: &Engine, input: &Input, seed: u64) -> Result<Redeploys, CliError> {
    let (bundle, sample_org) = (&input.bundle, input.sample_org.as_str());
    let mut edited = bundle.clone();
    edit_organization(&mut edited, sample_org, seed);
    let mut full = Vec::new();
    for n in 0..6 {
        let next = if n % 2 == 0 { &edited } else { bundle };
        let started = Instant::now();
        engine
            .deploy(next)
            .map_err(CliError::compile(Path::new("the edited bundle")))?;
        full.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let full_ms = round(median(full));
    eprintln!("org-local redeploy of the whole bundle: {full_ms} ms (median of 6)");
    let to_edited = BundleChange::organizations(&edited, &[sample_org]);
    let to_original = BundleChange::organizations(bundle, &[sample_org]);
    let mut times = Vec::new();
    let mut recompiled = 0;
    for n in 0..CHANGE_DEPLOYS {
        let next = if n % 2 == 0 { &to_edited } else { &to_original };
        let started = Instant::now();
        let deployed = engine
            .deploy_change(next)
            .map_err(CliError::compile(Path::new("the change")))?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        recompiled = deployed.stats.recompiled;
    }
    let change_ms = round(median(times));
    eprintln!("org-local redeploy as a change: {change_ms} ms (median of {CHANGE_DEPLOYS})");
    Ok(Redeploys {
        to_edited,
        to_original,
        full_ms,
        change_ms,
        recompiled,
    })
}

/// Reader latency while another thread deploys 100 times a second.
fn under_deploy(
    engine: &Engine,
    events: &[Event],
    redeploys: &Redeploys,
    args: &BenchArgs,
) -> Value {
    eprintln!("reader latency while deploying 100 times a second");
    let sample = events.get(..events.len().min(20_000)).unwrap_or(events);
    let mut scratch = Scratch::default();
    let budget = Duration::from_secs_f64(args.seconds);
    let idle = latencies(sample, args.repeats, budget, &mut |e| {
        engine.snapshot().decide_with(e, &mut scratch).is_allowed()
    });
    let stop = AtomicBool::new(false);
    let deploys = AtomicUsize::new(0);
    let (busy, seconds, deploy_times) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| deploy_steadily(engine, redeploys, &stop, &deploys));
        let started = Instant::now();
        let mut all = Latencies {
            cold: Vec::new(),
            warm: Vec::new(),
        };
        // At least a second of deploys, whatever the sample size.
        while all.warm.is_empty() || started.elapsed() < budget.max(Duration::from_secs(1)) {
            let more = latencies(sample, args.repeats, budget, &mut |e| {
                engine.snapshot().decide_with(e, &mut scratch).is_allowed()
            });
            all.cold.extend(more.cold);
            all.warm.extend(more.warm);
        }
        let seconds = started.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        let times = writer.join().unwrap_or_default();
        (all, seconds, times)
    });
    let deploys = deploys.load(Ordering::Relaxed);
    let ratio = |idle: &[f64], busy: &[f64]| {
        let p99 = |samples: &[f64]| percentile(&sorted(samples), 0.99);
        round(p99(busy) / p99(idle).max(1e-9))
    };
    json!({
        "idle": summary(&idle.warm),
        "deploying": summary(&busy.warm),
        "idle_cold": summary(&idle.cold),
        "deploying_cold": summary(&busy.cold),
        "deploys_per_second": round(deploys as f64 / seconds),
        "deploy": "Engine::deploy_change, one organization",
        "deploy_median_ms": round(median(deploy_times)),
        "p99_ratio": ratio(&idle.warm, &busy.warm),
        "cold_p99_ratio": ratio(&idle.cold, &busy.cold),
    })
}

/// Deploys the edit and its undo every 10 ms until `stop`; the time of each deploy.
fn deploy_steadily(
    engine: &Engine,
    redeploys: &Redeploys,
    stop: &AtomicBool,
    deploys: &AtomicUsize,
) -> Vec<f64> {
    let mut next = Instant::now();
    let mut n = 0usize;
    let mut times = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let target = if n.is_multiple_of(2) {
            &redeploys.to_edited
        } else {
            &redeploys.to_original
        };
        let started = Instant::now();
        if engine.deploy_change(target).is_ok() {
            times.push(started.elapsed().as_secs_f64() * 1e3);
            deploys.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
        next += Duration::from_millis(10);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    times
}

/// Baselines, on a sample of the same events: the reference evaluator and Rego.
fn baselines(
    input: &Input,
    snapshot: &Snapshot,
    measured: &Latencies,
    args: &BenchArgs,
) -> Result<Vec<Value>, CliError> {
    let (bundle, events) = (&input.bundle, &input.events);
    let budget = Duration::from_secs_f64(args.baseline_seconds);
    let mut baselines = Vec::new();
    if !args.no_reference {
        eprintln!("reference evaluator");
        let started = Instant::now();
        let mut times = Vec::new();
        for event in events {
            let t = Instant::now();
            black_box(reference::decide(bundle, event));
            times.push(t.elapsed().as_secs_f64() * 1e9);
            if started.elapsed() > budget {
                break;
            }
        }
        baselines.push(compare("reference", measured, times, Value::Null));
    }
    if !args.no_rego {
        eprintln!("Rego (regorus): loading data");
        let started = Instant::now();
        match RegoBaseline::new(bundle, args.rego_interpreter) {
            Ok(mut rego) => {
                let load = started.elapsed();
                let started = Instant::now();
                let mut times = Vec::new();
                let mut agree = 0;
                for event in events {
                    let input = rego.input(event)?;
                    let t = Instant::now();
                    let verdict = rego.decide(&input)?;
                    times.push(t.elapsed().as_secs_f64() * 1e9);
                    agree +=
                        usize::from(verdict.policy.as_deref() == snapshot.decide(event).policy);
                    if started.elapsed() > budget {
                        break;
                    }
                }
                let extra = json!({
                    "load_ms": ms(load),
                    "same_policy": agree,
                    "evaluator": rego.evaluator(),
                });
                baselines.push(compare("rego", measured, times, extra));
            }
            Err(message) => baselines.push(json!({"name": "rego", "error": message})),
        }
    }
    Ok(baselines)
}

/// Decisions per second on one thread, on every thread, and as one endpoint agent.
fn throughput(snapshot: &Snapshot, input: &Input, seconds: f64) -> Value {
    let events = &input.events;
    let one = one_thread(snapshot, events, seconds);
    let all = all_threads(snapshot, events, seconds);
    let agent = one_computer(&input.bundle, events);
    let agent_rate = one_thread(snapshot, &agent, seconds);
    json!({
        "one_thread_per_s": one.round(),
        "all_threads_per_s": all.round(),
        "one_computer_per_s": agent_rate.round(),
        "one_computer_events": agent.len(),
        "threads": rayon::current_num_threads(),
    })
}

pub fn bench(args: &BenchArgs) -> Result<ExitCode, CliError> {
    if args.stream {
        return stream::stream(args);
    }
    let total = Instant::now();
    let input = input(args)?;
    let bundle = &input.bundle;
    let rules: usize = bundle.applications.iter().map(|a| a.rules.len()).sum();
    let hash_rules: usize = bundle
        .applications
        .iter()
        .flat_map(|a| &a.rules)
        .filter(|r| r.sha256.is_some())
        .count();
    let compiled = compile(bundle, rules)?;
    let engine = &compiled.engine;
    let snapshot = engine.current();
    let redeploys = redeploys(engine, &input, args.fleet.seed)?;

    eprintln!("deciding {} events", input.events.len());
    let throughput = throughput(&snapshot, &input, args.seconds);
    let mut scratch = Scratch::default();
    let measured = latencies(
        &input.events,
        args.repeats,
        Duration::from_secs_f64(args.seconds * 2.0),
        &mut |e| snapshot.decide_with(e, &mut scratch).is_allowed(),
    );
    let under_deploy = if args.no_deploy_load {
        Value::Null
    } else {
        under_deploy(engine, &input.events, &redeploys, args)
    };
    let baselines = baselines(&input, &snapshot, &measured, args)?;

    let report = json!({
        "machine": machine(),
        "input": input.label,
        "scenario": if args.bundle.is_some() { "given".to_owned() } else { args.scenario.name() },
        "organizations": bundle.organizations.len(),
        "computers": bundle.computers.len(),
        "policies": bundle.policies.len(),
        "rules": rules,
        "hash_rules": hash_rules,
        "events": input.events.len(),
        "compile_ms": ms(compiled.compile),
        "redeploy_ms": redeploys.change_ms,
        "redeploy_full_ms": redeploys.full_ms,
        "redeploy_recompiled": redeploys.recompiled,
        "memory": {
            "rss_before_kib": compiled.rss_before,
            "rss_after_kib": compiled.rss_after,
            "peak_kib": compiled.hwm_after,
            "bytes_per_rule": round((compiled.rss_after.saturating_sub(compiled.rss_before) * 1024) as f64 / rules.max(1) as f64),
        },
        "throughput": throughput,
        "latency": summary(&measured.warm),
        "latency_cold": summary(&measured.cold),
        "latency_method": format!("per event, its first decision timed on its own (cold), then {} more decided back to back and timed once (warm); the timer's own cost taken out; one sample of each per event", args.repeats),
        "under_deploy": under_deploy,
        "baselines": baselines,
        "seconds": round(total.elapsed().as_secs_f64()),
    });
    if args.json {
        crate::common::print_json(&report, false)?;
    } else {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_engine::model::Bundle;

    #[test]
    fn generated_bundles_round_trip_through_json() {
        let fleet = Fleet::preset(Preset::Small, 3);
        let text = serde_json::to_string(&fleet.bundle).unwrap();
        let bundle: Bundle = portcullis_engine::parse(&text).unwrap();
        assert_eq!(bundle, fleet.bundle);
    }
}

//! What the bench measures with: latency samples and their summaries, throughput on
//! one and on every thread, the events of one computer, memory and the machine.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use portcullis_engine::model::Os;
use portcullis_engine::{Bundle, Event, Scratch, Snapshot};
use rayon::prelude::*;
use serde_json::{json, Value};

/// Resident and peak resident memory of this process, in KiB (Linux only).
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// The machine: CPU model and logical CPUs.
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown", |(_, m)| m.trim())
        .to_owned();
    json!({"cpu": model, "cpus": rayon::current_num_threads()})
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let at = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(at).copied().unwrap_or(0.0)
}

/// What `Instant::now()` twice costs, to take out of each latency sample.
pub fn timer_overhead() -> f64 {
    let mut best = f64::MAX;
    for _ in 0..1000 {
        let t = Instant::now();
        let e = t.elapsed();
        best = best.min(e.as_nanos() as f64);
    }
    best
}

/// Per-decision latencies, one sample of each kind per event, in the order of the events.
pub struct Latencies {
    /// The event's first decision, timed on its own: what an event costs when nothing
    /// about it is in the caches yet beyond what earlier events left there.
    pub cold: Vec<f64>,
    /// The same event decided `repeats` more times back to back and timed once.
    pub warm: Vec<f64>,
}

/// Times each event's first decision (cold), then the mean of `repeats` more decisions
/// of it (warm), the timer's own cost taken out of both.
pub fn latencies(
    events: &[Event],
    repeats: u32,
    budget: Duration,
    decide: &mut dyn FnMut(&Event) -> bool,
) -> Latencies {
    let overhead = timer_overhead();
    let started = Instant::now();
    let mut cold = Vec::with_capacity(events.len());
    let mut warm = Vec::with_capacity(events.len());
    for event in events {
        let t = Instant::now();
        black_box(decide(black_box(event)));
        cold.push((t.elapsed().as_nanos() as f64 - overhead).max(0.0));
        let t = Instant::now();
        for _ in 0..repeats {
            black_box(decide(black_box(event)));
        }
        let ns = (t.elapsed().as_nanos() as f64 - overhead).max(0.0) / f64::from(repeats);
        warm.push(ns);
        if warm.len() % 1024 == 0 && started.elapsed() > budget {
            break;
        }
    }
    Latencies { cold, warm }
}

pub fn sorted(samples: &[f64]) -> Vec<f64> {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted
}

pub fn summary(samples: &[f64]) -> Value {
    let sorted = &sorted(samples);
    json!({
        "samples": sorted.len(),
        "p50_ns": round(percentile(sorted, 0.5)),
        "p99_ns": round(percentile(sorted, 0.99)),
        "p999_ns": round(percentile(sorted, 0.999)),
        "mean_ns": round(sorted.iter().sum::<f64>() / sorted.len().max(1) as f64),
    })
}

pub fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Decisions per second on one thread, for at least `seconds`.
pub fn one_thread(snapshot: &Snapshot, events: &[Event], seconds: f64) -> f64 {
    let mut scratch = Scratch::default();
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        for event in events {
            black_box(snapshot.decide_with(event, &mut scratch).decision);
        }
        done += events.len() as u64;
        if started.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

/// The events one endpoint agent would decide: those on computers of the first event's
/// computer's organization and operating system, each moved to that computer. Its
/// organization's index and policies stay in the caches while its programs vary.
pub fn one_computer(bundle: &Bundle, events: &[Event]) -> Vec<Event> {
    let Some(first) = events.first() else {
        return Vec::new();
    };
    let orgs: HashMap<&str, &str> = bundle
        .groups
        .iter()
        .map(|g| (g.id.as_str(), g.organization.as_str()))
        .collect();
    let place: HashMap<&str, (Option<&str>, Os)> = bundle
        .computers
        .iter()
        .map(|c| (c.id.as_str(), (orgs.get(c.group.as_str()).copied(), c.os)))
        .collect();
    let home = place.get(first.computer.as_str());
    events
        .iter()
        .filter(|e| match home {
            Some(home) => place.get(e.computer.as_str()) == Some(home),
            None => e.computer == first.computer,
        })
        .map(|e| Event {
            computer: first.computer.clone(),
            ..e.clone()
        })
        .collect()
}

/// Decisions per second on every thread (rayon), for at least `seconds`.
pub fn all_threads(snapshot: &Snapshot, events: &[Event], seconds: f64) -> f64 {
    let started = Instant::now();
    let mut done = 0u64;
    loop {
        let allowed: usize = events
            .par_chunks(1024)
            .map_init(Scratch::default, |scratch, chunk| {
                chunk
                    .iter()
                    .filter(|e| snapshot.decide_with(e, scratch).is_allowed())
                    .count()
            })
            .sum();
        black_box(allowed);
        done += events.len() as u64;
        if started.elapsed().as_secs_f64() >= seconds {
            break;
        }
    }
    done as f64 / started.elapsed().as_secs_f64()
}

pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    percentile(&xs, 0.5)
}

pub fn ms(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_engine::fleet::{EventMix, Fleet, Preset};

    #[test]
    fn percentiles_pick_from_sorted_samples() {
        let xs: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&xs, 0.5), 51.0);
        assert_eq!(percentile(&xs, 0.99), 99.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn one_computer_takes_the_events_of_the_first_computers_organization_and_system() {
        let fleet = Fleet::preset(Preset::Small, 3);
        let events = fleet.events(&EventMix::MIXED, 2_000, 5);
        let org = |computer: &str| {
            let c = fleet.bundle.computers.iter().find(|c| c.id == computer)?;
            let g = fleet.bundle.groups.iter().find(|g| g.id == c.group)?;
            Some((g.organization.clone(), c.os))
        };
        let home = org(&events[0].computer).unwrap();
        let expected: Vec<&Event> = events
            .iter()
            .filter(|e| org(&e.computer).as_ref() == Some(&home))
            .collect();
        let agent = one_computer(&fleet.bundle, &events);
        // Ten organizations and three systems: more than one event, far from all.
        assert!(
            agent.len() > 10 && agent.len() < events.len() / 2,
            "{}",
            agent.len()
        );
        assert_eq!(agent.len(), expected.len());
        for (moved, original) in agent.iter().zip(expected) {
            assert_eq!(moved.computer, events[0].computer);
            assert_eq!(moved.sha256, original.sha256);
            assert_eq!(moved.path, original.path);
        }
        // An unknown first computer keeps its own events only.
        let mut stray = events[..3].to_vec();
        stray[0].computer = "nowhere".to_owned();
        stray[2].computer = "nowhere".to_owned();
        assert_eq!(one_computer(&fleet.bundle, &stray).len(), 2);
        assert!(one_computer(&fleet.bundle, &[]).is_empty());
    }
}

//! What the C ABI adds to a decision: the same events decided by `Snapshot::decide` in
//! Rust and by `portcullis_snapshot_decide` (the C struct in, the decision struct out),
//! one at a time and as a batch of all of them, plus `portcullis_snapshot_decide_json`
//! for the cost of reading the event from JSON.
//!
//! `cargo bench -p portcullis-ffi --bench ffi_decide`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]
#![expect(unsafe_code, reason = "the bench calls the C functions, as C does")]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::ptr;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::{Engine, Event};
use portcullis_ffi::{
    portcullis_engine_from_json, portcullis_engine_snapshot, portcullis_snapshot_decide,
    portcullis_snapshot_decide_batch, portcullis_snapshot_decide_json, PortcullisDecision,
    PortcullisEvent, PortcullisStatus,
};
use support::CEvent;

const BUNDLE: &str = include_str!("../../examples/bundle.json");
const EVENTS: &str = include_str!("../../examples/events.jsonl");

fn decide(c: &mut Criterion) {
    let engine = Engine::from_json(BUNDLE).unwrap();
    let rust = engine.snapshot();
    let mut handle = ptr::null_mut();
    // SAFETY: a readable text and a writable out pointer.
    let status =
        unsafe { portcullis_engine_from_json(BUNDLE.as_ptr().cast(), BUNDLE.len(), &mut handle) };
    assert_eq!(status, PortcullisStatus::Ok);
    let mut snapshot = ptr::null_mut();
    // SAFETY: a live engine and a writable out pointer.
    assert_eq!(
        unsafe { portcullis_engine_snapshot(handle, &mut snapshot) },
        PortcullisStatus::Ok
    );

    let events: Vec<CEvent> = EVENTS
        .lines()
        .map(|line| CEvent::new(Event::from_json(line).unwrap()))
        .collect();
    // The example events, as in `engine/benches/decide.rs`: a certificate + path hit and a
    // hash hit (both signed, so the signer's names are read), and a default-deny miss.
    let cases = [
        ("certificate_path_hit", 0),
        ("hash_hit", 5),
        ("default_deny_miss", 4),
    ];
    let mut out = PortcullisDecision::of(&rust.decide(&events[0].event));
    let mut group = c.benchmark_group("ffi_decide");
    for (name, n) in cases {
        let event = &events[n];
        let c_event = event.c();
        group.bench_function(format!("rust/{name}"), |b| {
            b.iter(|| black_box(rust.decide(black_box(&event.event)).decision))
        });
        group.bench_function(format!("c_abi/{name}"), |b| {
            b.iter(|| {
                // SAFETY: a live snapshot, an event borrowing `event`, a writable out.
                unsafe { portcullis_snapshot_decide(snapshot, black_box(&c_event), &mut out) };
                black_box(out.outcome)
            })
        });
        let json = EVENTS.lines().nth(n).unwrap();
        group.bench_function(format!("c_abi_json/{name}"), |b| {
            b.iter(|| {
                // SAFETY: a live snapshot, a readable text, a writable out.
                unsafe {
                    portcullis_snapshot_decide_json(
                        snapshot,
                        json.as_ptr().cast(),
                        json.len(),
                        &mut out,
                    )
                };
                black_box(out.outcome)
            })
        });
    }
    // Every example event once: a batch in Rust, and one batch call through the ABI.
    let c_events: Vec<PortcullisEvent> = events.iter().map(CEvent::c).collect();
    let mut outs = vec![out; c_events.len()];
    group.bench_function(format!("rust/batch_{}", events.len()), |b| {
        b.iter(|| {
            for event in &events {
                black_box(rust.decide(black_box(&event.event)).decision);
            }
        })
    });
    group.bench_function(format!("c_abi/batch_{}", events.len()), |b| {
        b.iter(|| {
            // SAFETY: a live snapshot, events borrowing `events`, as many writable outs.
            unsafe {
                portcullis_snapshot_decide_batch(
                    snapshot,
                    c_events.as_ptr(),
                    c_events.len(),
                    outs.as_mut_ptr(),
                    ptr::null_mut(),
                )
            };
            black_box(outs[0].outcome)
        })
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);

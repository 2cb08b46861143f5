//! What one decision costs on the example bundle: a hash hit, a certificate + path hit,
//! a path hit, and a default-deny miss — with the reference evaluator beside it as the
//! baseline, so the figures read as ratios.
//!
//! `cargo bench --bench decide`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::{parse, reference, Event, Scratch, Snapshot};

const BUNDLE: &str = include_str!("../../examples/bundle.json");
const EVENTS: &str = include_str!("../../examples/events.jsonl");

fn event(n: usize) -> Event {
    Event::from_json(EVENTS.lines().nth(n).unwrap()).unwrap()
}

fn decide(c: &mut Criterion) {
    let bundle = parse(BUNDLE).unwrap();
    let snapshot = Snapshot::compile(&bundle).unwrap();
    let cases = [
        ("hash_hit", event(5)),
        ("certificate_path_hit", event(0)),
        ("path_hit_linux", event(10)),
        ("default_deny_miss", event(4)),
    ];
    let mut group = c.benchmark_group("decide");
    for (name, event) in &cases {
        let mut scratch = Scratch::default();
        group.bench_function(format!("indexed/{name}"), |b| {
            b.iter(|| {
                black_box(
                    snapshot
                        .decide_with(black_box(event), &mut scratch)
                        .decision,
                )
            })
        });
        group.bench_function(format!("reference/{name}"), |b| {
            b.iter(|| black_box(reference::decide(black_box(&bundle), black_box(event)).decision))
        });
    }
    group.finish();

    c.bench_function("compile/example", |b| {
        b.iter(|| Snapshot::compile(black_box(&bundle)).unwrap())
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);

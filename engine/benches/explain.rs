//! What `--explain` costs over a plain decision: the same mixed events on a medium
//! fleet, decided and explained.
//!
//! `cargo bench --bench explain`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::EventMix;
use portcullis_engine::Scratch;
use portcullis_testkit::fleet as support;

fn bench(c: &mut Criterion) {
    let fleet = support::fleet();
    let snapshot = support::snapshot(&fleet);
    let events = fleet.events(&EventMix::MIXED, support::EVENTS, 1);
    let mut group = c.benchmark_group("explain/medium");
    let mut scratch = Scratch::default();
    let mut i = 0;
    group.bench_function("decide", |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            black_box(
                snapshot
                    .decide_with(black_box(&events[i]), &mut scratch)
                    .decision,
            )
        })
    });
    group.bench_function("explain", |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            black_box(snapshot.explain(black_box(&events[i])))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Reader latency while another thread deploys: hash-hit decisions through
//! `engine.snapshot()` on a medium fleet, idle and while a writer deploys an org-local
//! change (`Engine::deploy_change`) 100 times a second. Compare the two medians; `portcullis bench` reports the
//! p99 of both.
//!
//! `cargo bench --bench swap_under_load`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::{edit_organization, EventKind};
use portcullis_engine::{BundleChange, Engine, Scratch};
use portcullis_testkit::fleet as support;

fn bench(c: &mut Criterion) {
    let fleet = support::fleet();
    let engine = Engine::new(&fleet.bundle).unwrap();
    let events = support::events(&fleet, EventKind::HashHit);
    let mut edited = fleet.bundle.clone();
    assert!(edit_organization(
        &mut edited,
        fleet.sample_organization(),
        1
    ));
    let organization = fleet.sample_organization();
    let to_edited = BundleChange::organizations(&edited, &[organization]);
    let to_original = BundleChange::organizations(&fleet.bundle, &[organization]);
    let mut group = c.benchmark_group("reader/medium");
    let mut scratch = Scratch::default();
    let mut i = 0;
    group.bench_function("idle", |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            black_box(
                engine
                    .snapshot()
                    .decide_with(black_box(&events[i]), &mut scratch)
                    .decision,
            )
        })
    });
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut next = Instant::now();
            let mut flip = false;
            while !stop.load(Ordering::Relaxed) {
                flip = !flip;
                engine
                    .deploy_change(if flip { &to_edited } else { &to_original })
                    .unwrap();
                next += Duration::from_millis(10);
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        group.bench_function("deploying_100_per_second", |b| {
            b.iter(|| {
                i = (i + 1) % events.len();
                black_box(
                    engine
                        .snapshot()
                        .decide_with(black_box(&events[i]), &mut scratch)
                        .decision,
                )
            })
        });
        stop.store(true, Ordering::Relaxed);
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Batch throughput: 16,384 mixed events on a medium fleet, decided on one thread and
//! on every thread with rayon (one `Scratch` per worker). Criterion reports elements
//! per second.
//!
//! `cargo bench --bench batch`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use portcullis_engine::fleet::EventMix;
use portcullis_engine::Scratch;
use portcullis_testkit::fleet as support;
use rayon::prelude::*;

fn bench(c: &mut Criterion) {
    let fleet = support::fleet();
    let snapshot = support::snapshot(&fleet);
    let events = fleet.events(&EventMix::MIXED, 16_384, 1);
    let mut group = c.benchmark_group("batch/medium");
    group.throughput(Throughput::Elements(events.len() as u64));
    let mut scratch = Scratch::default();
    group.bench_function("one_thread", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| snapshot.decide_with(e, &mut scratch).is_allowed())
                .count()
        })
    });
    group.bench_function(
        format!("rayon_{}_threads", rayon::current_num_threads()),
        |b| {
            b.iter(|| {
                black_box(
                    events
                        .par_chunks(512)
                        .map_init(Scratch::default, |scratch, chunk| {
                            chunk
                                .iter()
                                .filter(|e| snapshot.decide_with(e, scratch).is_allowed())
                                .count()
                        })
                        .sum::<usize>(),
                )
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

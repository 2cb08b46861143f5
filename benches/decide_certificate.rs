//! What one decision costs on a medium fleet for a file signed by a publisher a rule names.
//!
//! `cargo bench --bench decide_certificate`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "support/fleet.rs"]
mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::EventKind;
use portcullis_engine::Scratch;

fn bench(c: &mut Criterion) {
    let fleet = support::fleet();
    let snapshot = support::snapshot(&fleet);
    let events = support::events(&fleet, EventKind::CertificateHit);
    let mut scratch = Scratch::default();
    let mut i = 0;
    c.bench_function("decide/certificate/medium", |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            black_box(
                snapshot
                    .decide_with(black_box(&events[i]), &mut scratch)
                    .decision,
            )
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

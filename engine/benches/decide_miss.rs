//! What one decision costs on a medium fleet for an unknown file: nothing matches and the default deny decides.
//!
//! `cargo bench --bench decide_miss`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::EventKind;
use portcullis_testkit::fleet as support;

fn bench(c: &mut Criterion) {
    support::bench_decisions(c, "decide/miss/medium", &support::fleet(), EventKind::Miss);
}

criterion_group!(benches, bench);
criterion_main!(benches);

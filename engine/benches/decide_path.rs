//! What a path hit costs over 10,000 path patterns in one organization (literal,
//! prefix, suffix, `*` in the middle, `%ProgramFiles%`, `regex:`), so every decision
//! searches all of them; and the same on the medium fleet, where a computer sees its own
//! organization's and its MSP's patterns only.
//!
//! `cargo bench --bench decide_path`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::{EventKind, Fleet, FleetSize};
use portcullis_testkit::fleet as support;

fn bench(c: &mut Criterion) {
    let dense = Fleet::generate(FleetSize::patterns_in_one_organization(10_000), 1);
    let fleets = [("10k_patterns", dense), ("medium", support::fleet())];
    for (name, fleet) in &fleets {
        let name = format!("decide/path/{name}");
        support::bench_decisions(c, &name, fleet, EventKind::PathHit);
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! What compiling costs: a full compile of a medium fleet, and an org-local redeploy
//! (one organization edited, every other partition reused), deployed as a change to
//! that organization (`Engine::deploy_change`) and as the whole bundle
//! (`Engine::deploy`).
//!
//! `cargo bench --bench compile`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::fleet::edit_organization;
use portcullis_engine::{BundleChange, Engine, Snapshot};
use portcullis_testkit::fleet as support;

fn bench(c: &mut Criterion) {
    let fleet = support::fleet();
    let mut group = c.benchmark_group("compile/medium");
    group.sample_size(10);
    group.bench_function("full", |b| {
        b.iter(|| Snapshot::compile(black_box(&fleet.bundle)).unwrap())
    });
    let engine = Engine::new(&fleet.bundle).unwrap();
    let mut edited = fleet.bundle.clone();
    assert!(edit_organization(
        &mut edited,
        fleet.sample_organization(),
        1
    ));
    let organization = fleet.sample_organization();
    let to_edited = BundleChange::organizations(&edited, &[organization]);
    let to_original = BundleChange::organizations(&fleet.bundle, &[organization]);
    let mut flip = false;
    group.bench_function("org_local_redeploy", |b| {
        b.iter(|| {
            flip = !flip;
            let deployed = engine
                .deploy_change(if flip { &to_edited } else { &to_original })
                .unwrap();
            assert_eq!(deployed.stats.recompiled, 1);
        })
    });
    group.bench_function("org_local_redeploy_whole_bundle", |b| {
        b.iter(|| {
            flip = !flip;
            let deployed = engine
                .deploy(if flip { &edited } else { &fleet.bundle })
                .unwrap();
            assert_eq!(deployed.stats.recompiled, 1);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

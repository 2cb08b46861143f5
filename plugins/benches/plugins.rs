#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The cost of one plugin call: a Rust component on a fresh instance (what the host
//! does for every call) and on a reused one (the call alone), the C component, and
//! the same approval logic as a Rego policy.
//!
//! `cargo bench -p portcullis-plugins --bench plugins`

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use portcullis_engine::plugin::{ApprovalInput, Verdict};
use portcullis_plugins::{Limits, Plugin, Vector, WasmHost};

fn bench(c: &mut Criterion) {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let vector = &Vector::load_dir(&examples.join("vectors/known-bad")).unwrap()[0];
    let input: ApprovalInput = serde_json::from_value(vector.input.clone()).unwrap();
    let config: Arc<BTreeMap<String, String>> = Arc::new(vector.config.clone());
    let host = WasmHost::new().unwrap();
    let load =
        |file: &str| Plugin::load_file(&host, &examples.join(file), Limits::default()).unwrap();

    let mut group = c.benchmark_group("known-bad review");
    for (label, file) in [
        (
            "rust component, fresh instance",
            "components/known-bad.wasm",
        ),
        ("c component, fresh instance", "components/known-bad-c.wasm"),
        ("rego policy", "rego/known-bad.rego"),
    ] {
        let plugin = load(file);
        assert!(matches!(
            plugin.review(&input, &config).result,
            Ok(Verdict::Reject { .. })
        ));
        group.bench_function(label, |b| b.iter(|| plugin.review(&input, &config)));
    }
    let Plugin::Wasm(rust) = load("components/known-bad.wasm") else {
        unreachable!()
    };
    let mut reused = rust.reusable(&config).unwrap();
    assert!(matches!(
        reused.review(&input),
        Some(Verdict::Reject { .. })
    ));
    group.bench_function("rust component, reused instance", |b| {
        b.iter(|| reused.review(&input))
    });
    group.finish();

    let trusted = load("rego/trusted-publisher.rego");
    let vector = &Vector::load_dir(&examples.join("vectors/trusted-publisher")).unwrap()[0];
    let input: ApprovalInput = serde_json::from_value(vector.input.clone()).unwrap();
    let config = Arc::new(vector.config.clone());
    assert!(matches!(
        trusted.review(&input, &config).result,
        Ok(Verdict::Approve { .. })
    ));
    c.bench_function("trusted-publisher review, rego policy", |b| {
        b.iter(|| trusted.review(&input, &config))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
